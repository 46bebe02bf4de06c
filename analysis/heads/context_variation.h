// Contextual variation of one head: how much its behaviour on a token type changes between the
// type's occurrences in the probe ("the same word gets different weights in different contexts").
// For every query row the head's entropy, max weight and short-range offset profile are grouped by
// the query's token; a type seen at least twice contributes its spread around its own mean. The
// reported numbers are pooled within-type standard deviations,
//   sqrt( sum_types sum_occurrences (x - mean_type)^2 / sum_types (occurrences - 1) ),
// (for the offset profile, x is a vector and (x - mean)^2 its squared l2 distance), next to the
// same spread over every row ignoring tokens: within/overall near 1 means the token does not
// explain the head's behaviour (context does); near 0, the token fixes it.
// Streaming: per type only sums are kept, so memory grows with the vocabulary, not the probe.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

namespace attnlab::heads {

struct ContextVariation {
  double entropy_spread = 0;     // pooled within-type std of H_i (nats); NaN without repeats
  double max_weight_spread = 0;  // pooled within-type std of max_j A_ij
  double offset_spread = 0;      // pooled within-type RMS l2 deviation of P_i(δ), |δ| <= kMaxOffset
  double entropy_overall = 0;    // std of H_i over all rows (the same pooling with one type)
  double max_weight_overall = 0;
  double offset_overall = 0;
  std::int64_t repeated_types = 0;  // token types with at least two occurrences
};

class ContextAccumulator {
 public:
  // offsets: the row's weights at δ = -kMaxOffset..kMaxOffset (0 where the key does not exist).
  void add(std::int64_t token, double entropy, double max_weight, const std::vector<double>& offsets);
  ContextVariation finish() const;

 private:
  // First and second moments of one group of rows: scalars and the offset vector.
  struct Moments {
    std::int64_t count = 0;
    double entropy = 0, entropy_squared = 0;
    double max_weight = 0, max_weight_squared = 0;
    std::vector<double> offsets;  // sum of vectors
    double offsets_squared = 0;   // sum of squared norms
    void add(double entropy, double max_weight, const std::vector<double>& offsets);
  };

  std::map<std::int64_t, Moments> types_;
  Moments all_;
};

}  // namespace attnlab::heads
