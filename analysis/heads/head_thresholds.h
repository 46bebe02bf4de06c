// Every threshold and window of the head classification, defined once with the reason for its
// value. docs/head-metrics.md lists the same numbers for users; the definitions of the
// scores they apply to are in docs/head-metrics.md and analysis/heads/map_metrics.h.
#pragma once

#include <cstdint>

namespace attnlab::heads {

// Offsets δ of the profile P(δ) = mean_i A[i, p_i - δ]: |δ| <= 4 covers previous/next/self and the
// short-range heads; beyond that `distance` says more than single offsets.
inline constexpr std::int64_t kMaxOffset = 4;

// previous / next / self: P(δ) >= 0.5. More than half of the mean query's mass on one offset means
// no other offset can hold as much, so at most one positional label can pass.
inline constexpr double kPositionalThreshold = 0.5;

// induction: prefix-matching score (Olsson et al. 2022; 1 = a perfect induction head) >= 0.4.
// The score is normalised per eligible query, so unlike TransformerLens's "mul" score it is not
// diluted by queries that have no earlier copy of their token; 0.4 sits well above what a
// uniform head reaches (1/(i+1) per earlier copy for query i) and well below a formed induction
// head (> 0.8).
inline constexpr double kInductionThreshold = 0.4;

// duplicate: the same normalisation for attention to earlier copies of the query's own token.
inline constexpr double kDuplicateThreshold = 0.4;

// sink: Gu et al. 2024's α_0 > 0.3 (key 0 is a sink; here >= like every other threshold). Checked
// after `broad`: a causal uniform map has α_0 = H_T/T, which exceeds 0.3 for T <= 8, and is broad
// rather than a sink.
inline constexpr double kSinkThreshold = 0.3;
// α_k of late keys averages over few queries (a previous-token head has α_{T-2} = 1/2), so the
// reported maximum over keys only looks at keys that at least this fraction of queries may see.
inline constexpr double kSinkMinimumQueryFraction = 0.5;

// broad: normalised entropy (H_i / ln n_i, 1 = uniform over the allowed keys) >= 0.9. Preferred to
// docs/head-metrics.md's "max weight <= ~0.1": the max weight of a causal row i is >= 1/(i+1),
// so that cut depends on the sequence length; max_weight is still reported.
inline constexpr double kBroadThreshold = 0.9;

// local: mean mass within |p_i - j| <= 2 of the query >= 0.8: a short window with no single
// dominant offset (those are labelled previous/next/self first).
inline constexpr std::int64_t kLocalWindow = 2;
inline constexpr double kLocalThreshold = 0.8;

// Redundant heads: average-linkage clusters whose mean Jensen-Shannon divergence per query row
// (nats, at most ln 2 = 0.69) is <= 0.1. Two rows putting 0.9 and 0.7 of their mass on the same
// key, the rest on one other key, are 0.03 apart; 0.8/0.2 against 0.2/0.8 are 0.19 apart.
inline constexpr double kRedundantDistance = 0.1;

// JS smoothing (Clark et al. 2019): p' = kJsSmoothing / Tk + (1 - kJsSmoothing) p, so that keys
// one head ignores do not make the divergence infinite-looking in its logs.
inline constexpr double kJsSmoothing = 0.001;

}  // namespace attnlab::heads
