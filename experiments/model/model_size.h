// A model's size worked out from its spec, without building it: parameters (so that a config can
// be checked before gigabytes are allocated) and the FLOPs of a training step.
#pragma once

#include <cstdint>

#include "experiments/model/transformer.h"

namespace attnlab::model {

// Equals Transformer(spec)->parameter_count() (a test holds it to that); `length` and
// `source_length` size the learned position tables.
std::int64_t parameter_count(const ModelSpec& spec);

// Model FLOPs of one training step, as PaLM counts them (Chowdhery et al. 2022, app. B): 6 x the
// matrix-product parameters each token passes through (QKV, output, MLP, cross-attention and the
// head), + 12 x C per attention layer and (query, key) pair: every key counted, even where causal
// masking hides it. Embedding lookups, norms, softmax and the optimiser are not counted.
double training_flops_per_example(const ModelSpec& spec, std::int64_t length,
                                  std::int64_t source_length);
// The same per target token (tokens/s counts the T tokens of each example).
double training_flops_per_token(const ModelSpec& spec, std::int64_t length);

}  // namespace attnlab::model
