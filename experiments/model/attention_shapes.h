// The attention modules a model runs, grouped by kind with their query and key lengths, worked out
// from the spec alone: the config check and the cost estimate need them before any weight exists.
//
// T = target (or only) sequence length, S = source length.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "experiments/model/transformer.h"

namespace attnlab::model {

struct AttentionShape {
  std::string kind;              // "self", "encoder self" or "cross"
  variants::AttentionSite site;  // of the first module of this kind (forward order)
  std::int64_t modules = 0;      // modules of this kind in the model
  std::int64_t query_length = 0;
  std::int64_t key_length = 0;
};

// Decoder or encoder: self-attention over T. Encoder-decoder: encoder self-attention over S, the
// decoder's causal self-attention over T and its cross-attention from T to S.
std::vector<AttentionShape> attention_shapes(const ModelSpec& spec, std::int64_t length,
                                             std::int64_t source_length);

}  // namespace attnlab::model
