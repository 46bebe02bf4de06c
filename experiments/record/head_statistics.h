// Per-head statistics of attention maps, computed while the probabilities are in memory
// (definitions: docs/recording.md; dump_schema.h names each array).
//
// B = probe samples, H = heads, Tq = query length, Tk = key length, D = head dim, C = d_model.
// Query i sits at key position p_i = i + Tk - Tq (the variants' convention; p_i = i for
// self-attention). Statistics are accumulated in float64 and returned as float32 on the CPU.
#pragma once

#include <torch/types.h>

namespace attnlab::record {

// n_i: keys each query may attend to. allowed [1|H,Tq,Tk] bool (undefined: every key) -> [H,Tq]
// int32.
torch::Tensor allowed_key_counts(const torch::Tensor& allowed, std::int64_t heads,
                                 std::int64_t query_length, std::int64_t key_length);

struct MapStatistics {
  // [H]: means over valid queries (n_i >= 1, and for the offset masses: the key exists) and samples
  torch::Tensor entropy;             // mean_i H_i, H_i = -sum_j A_ij ln A_ij (nats)
  torch::Tensor entropy_normalised;  // mean over queries with n_i > 1 of H_i / ln n_i
  torch::Tensor confidence;          // mean_i max_j A_ij
  torch::Tensor distance;            // mean_i sum_j A_ij |p_i - j|
  torch::Tensor sink_mass;           // mean_i A_i0
  torch::Tensor self_mass;           // mean_i A[i, p_i]
  torch::Tensor previous_mass;       // mean_i A[i, p_i - 1]
  torch::Tensor next_mass;           // mean_i A[i, p_i + 1]
  torch::Tensor k90;                 // mean_i of the fewest keys holding 0.9 of row i's mass
  // [H,Tq]: per query, mean over samples
  torch::Tensor entropy_per_query;
  torch::Tensor confidence_per_query;
  torch::Tensor distance_per_query;
  torch::Tensor k90_per_query;
};

// probs [B,H,Tq,Tk]; allowed_keys [H,Tq] from allowed_key_counts.
MapStatistics map_statistics(const torch::Tensor& probs, const torch::Tensor& allowed_keys);

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
