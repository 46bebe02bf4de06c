// The attention modules a model runs, grouped by kind and layer variant with their query and key
// lengths, worked out from the spec alone: the config check and the cost estimate need them
// before any weight exists.
//
// T = target (or only) sequence length, S = source length.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "experiments/model/transformer.h"

namespace attnlab::model {

struct AttentionShape {
  std::string kind;                  // "self", "encoder self" or "cross"
  std::string layer_variant;         // its model.layer_variants preset; empty without the list
  variants::VariantOptions variant;  // the options of these modules
  variants::AttentionSite site;      // of the first of these modules (forward order)
  std::int64_t modules = 0;          // modules of this kind and layer variant in the model
  std::int64_t query_length = 0;
  std::int64_t key_length = 0;
};

// Decoder or encoder: self-attention over T. Encoder-decoder: encoder self-attention over S, the
// decoder's causal self-attention over T and its cross-attention from T to S. One shape per kind,
// or, with model.layer_variants, per kind and preset, in order of first appearance; modules of a
// shape differ only in their seeds and depth, not in their parameter shapes or paths.
std::vector<AttentionShape> attention_shapes(const ModelSpec& spec, std::int64_t length,
                                             std::int64_t source_length);

}  // namespace attnlab::model
