// Per-head statistics of attention maps, computed while the maps are in memory (definitions:
// docs/head-metrics.md; dump_schema.h names each array).
//
// What they describe depends on the map's kind (variants/map_kind.h). A distribution is read as
// it is. Any other map is read row by row as the distribution a_ij = |A_ij| / sum_l |A_il|, so
// that entropy, confidence, k90 and the masses say where a head looks whatever the scale or sign
// of its rows; a row of zero mass says nothing of that and counts as an invalid query. The row
// mass itself is kept apart (row_mass, row_abs_mass), and output norms use A as stored: that is
// what the head adds to the residual stream.
//
// B = probe samples, H = heads, Tq = query length, Tk = key length, D = head dim, C = d_model.
// Query i sits at key position p_i = i + Tk - Tq (the variants' convention; p_i = i for
// self-attention). Statistics are accumulated in float64 and returned as float32 on the CPU.
#pragma once

#include <torch/types.h>

#include "variants/map_kind.h"

namespace attnlab::record {

// n_i: keys each query may attend to. allowed [1|H,Tq,Tk] bool (undefined: every key) -> [H,Tq]
// int32.
torch::Tensor allowed_key_counts(const torch::Tensor& allowed, std::int64_t heads,
                                 std::int64_t query_length, std::int64_t key_length);

struct MapStatistics {
  // [H]: on the analysed map a (A itself for a distribution), means over valid rows (n_i >= 1, a
  // row of non-zero mass, and for the offset masses: the key exists) and samples
  torch::Tensor entropy;             // mean_i H_i, H_i = -sum_j a_ij ln a_ij (nats)
  torch::Tensor entropy_normalised;  // mean over queries with n_i > 1 of H_i / ln n_i
  torch::Tensor confidence;          // mean_i max_j a_ij
  torch::Tensor distance;            // mean_i sum_j a_ij |p_i - j|
  torch::Tensor sink_mass;           // mean_i a_i0
  torch::Tensor self_mass;           // mean_i a[i, p_i]
  torch::Tensor previous_mass;       // mean_i a[i, p_i - 1]
  torch::Tensor next_mass;           // mean_i a[i, p_i + 1]
  torch::Tensor k90;                 // mean_i of the fewest keys holding 0.9 of row i's mass
  // [H]: on A as stored, means over the queries with n_i >= 1 and samples (zero-mass rows too)
  torch::Tensor row_mass;            // mean_i sum_j A_ij
  torch::Tensor row_abs_mass;        // mean_i sum_j |A_ij|
  // [H,Tq]: per query, on the analysed map, mean over the samples whose row is valid
  torch::Tensor entropy_per_query;
  torch::Tensor confidence_per_query;
  torch::Tensor distance_per_query;
  torch::Tensor k90_per_query;
};

// maps [B,H,Tq,Tk] of `kind`; allowed_keys [H,Tq] from allowed_key_counts.
MapStatistics map_statistics(const torch::Tensor& maps, const torch::Tensor& allowed_keys,
                             variants::MapKind kind);

// Kobayashi et al. 2020: f_h(x_j) = (x_j W_V^h + b_V^h) W_O^h, the value of key j as head h adds
// it to the residual stream (the output projection's bias belongs to no head).
struct OutputNorms {
  torch::Tensor value_norms;  // [B,H,Tk] ||f_h(x_j)||
  torch::Tensor per_query;    // [H,Tq] ||sum_j A_ij f_h(x_j)||, mean over samples
  torch::Tensor per_head;     // [H] mean of per_query over valid queries
};

// probs [B,H,Tq,Tk], values [B,H,Tk,D] (x W_V + b_V split into heads), output_weight [C, H*D]
// (the output projection's weight), allowed_keys [H,Tq].
OutputNorms output_norms(const torch::Tensor& probs, const torch::Tensor& values,
                         const torch::Tensor& output_weight, const torch::Tensor& allowed_keys);

}  // namespace attnlab::record
