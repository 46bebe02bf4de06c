// Per-head scores computed from attention maps, one (sample) map at a time, so memory stays one
// map whatever the dump size. Plain floats, no LibTorch. Definitions: docs/head-metrics.md.
//
// Tq = query length, Tk = key length. A[i, j]: map row i (a query), column j (a key). Query i sits
// at key position p_i = i + Tk - Tq (p_i = i for self-attention). A query is valid when it may
// attend to at least one key (n_i >= 1); invalid rows are skipped everywhere.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "analysis/heads/context_variation.h"

namespace attnlab::heads {

// One head's scores, means over the valid queries of every map added (and, for the
// TransformerLens "mul" scores, over samples: TransformerLens averages per-sequence scores).
// NaN when undefined (no query for which it exists, or no tokens for the token scores).
struct MapMetrics {
  double entropy = 0;              // mean_i H_i, H_i = -sum_j A_ij ln A_ij (nats)
  double entropy_normalised = 0;   // mean over n_i > 1 of H_i / ln n_i
  double max_weight = 0;           // mean_i max_j A_ij (Voita's confidence)
  double distance = 0;             // mean_i sum_j A_ij |p_i - j|
  std::vector<double> offsets;     // P(δ) for δ = -kMaxOffset..kMaxOffset: mean_i A[i, p_i - δ]
  double local_mass = 0;           // mean_i sum_{|p_i - j| <= kLocalWindow} A_ij
  double positional_fraction = 0;  // share of queries whose argmax sits at the modal offset
  double positional_offset = 0;    // that offset (p_i - argmax)
  // TransformerLens detect_head "mul": sum(A ∘ D) / sum(A); _excl zeroes column 0 (BOS) and the
  // diagonal (the current token) of A first.
  double previous_score = 0, previous_score_excl = 0;    // D[i, p_i - 1]
  double next_score = 0, next_score_excl = 0;            // D[i, p_i + 1]
  double self_score = 0;                                 // D[i, p_i]
  double duplicate_score = 0, duplicate_score_excl = 0;  // D[i,j]: j < i, t_j = t_i
  double induction_score = 0, induction_score_excl = 0;  // D[i,j]: j <= i, t_{j-1} = t_i
  // Mean over queries having a target of their total attention to the targets (Olsson et al.'s
  // prefix matching for induction; the same for duplicates): 1 = a perfect head.
  double prefix_matching = 0;
  double duplicate_matching = 0;
  double sink_score = 0;      // mean_i A_i0 (Xiao et al. 2023)
  double sink_alpha_0 = 0;    // Gu et al. α_0
  double sink_alpha_max = 0;  // max_k α_k over keys seen by >= kSinkMinimumQueryFraction of queries
  double sink_alpha_key = 0;  // its k
  // Spread of entropy, max weight and offset profile between occurrences of the same token
  // (context_variation.h); NaN without tokens.
  ContextVariation context;

  // (name, value) in the order heads.csv lists them.
  std::vector<std::pair<std::string, double>> named() const;
  static std::vector<std::string> names();
};

// Accumulates the maps of one head (every probe sample), then gives its MapMetrics.
class HeadAccumulator {
 public:
  // causal: key j is visible to query i only if j <= p_i (decides which queries α_k averages).
  HeadAccumulator(std::int64_t query_length, std::int64_t key_length, bool causal);

  // map [Tq*Tk] row-major; allowed_keys [Tq] (n_i); tokens [Tq] of the sample for self-attention
  // (Tq == Tk), or nullptr (cross-attention, or unknown): then the token scores are NaN.
  // Duplicate and induction targets are always earlier positions (j < i, resp. j - 1 < i), also
  // in bidirectional maps, as in TransformerLens.
  void add(const float* map, const std::int32_t* allowed_keys, const std::int64_t* tokens);

  MapMetrics finish() const;

 private:
  struct Mean {
    double sum = 0;
    std::int64_t count = 0;
    void add(double value) { sum += value, ++count; }
    double value() const;  // NaN when empty
  };

  std::int64_t query_length_, key_length_;
  bool causal_;
  Mean entropy_, entropy_normalised_, max_weight_, distance_, local_mass_, sink_;
  std::vector<Mean> offsets_;
  std::vector<Mean> alpha_;  // [Tk]: α_k before the key filter
  std::int64_t valid_queries_ = 0;
  std::map<std::int64_t, std::int64_t> argmax_offsets_;
  Mean previous_, previous_excl_, next_, next_excl_, self_, duplicate_, duplicate_excl_, induction_,
      induction_excl_;                         // per-sample scores
  Mean prefix_matching_, duplicate_matching_;  // per eligible query
  ContextAccumulator context_;
  std::vector<double> row_offsets_;  // scratch: one row's P_i(δ)
};

}  // namespace attnlab::heads
