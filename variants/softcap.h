// Logit soft-capping (Gemma Team 2024, Gemma 2): s -> c·tanh(s / c) on every score before the
// position bias and the mask, so that no logit exceeds ±c; c = inf (the default) leaves scores as
// they are. It composes with any score, position, pattern and normaliser; the fused and chunked
// paths apply it inside their kernels.
#pragma once

#include <cmath>

#include <torch/types.h>

#include "base/option_spec.h"

namespace attnlab::variants {

// variant.softcap: the cap c, > 0; inf: none.
OptionSpec softcap_option();

inline bool caps_scores(double cap) { return std::isfinite(cap); }

// scores of any shape -> c·tanh(scores / c), or scores when c is inf. In double this is also the
// reference the fused and chunked paths' in-kernel capping is checked against.
inline torch::Tensor soft_cap(const torch::Tensor& scores, double cap) {
  return caps_scores(cap) ? torch::tanh(scores / cap) * cap : scores;
}

}  // namespace attnlab::variants
