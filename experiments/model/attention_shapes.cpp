#include "experiments/model/attention_shapes.h"

#include <algorithm>

namespace attnlab::model {
namespace {

// Counts one more module of `kind` in `block`, starting a shape for a new kind and preset.
void add_module(std::vector<AttentionShape>& shapes, const ModelSpec& spec, std::int64_t block,
                const std::string& kind, const variants::AttentionSite& site,
                std::int64_t query_length, std::int64_t key_length) {
  const std::string preset = spec.layer_variant_name(block);
  const auto same = [&](const AttentionShape& shape) {
    return shape.kind == kind && shape.layer_variant == preset;
  };
  const auto found = std::find_if(shapes.begin(), shapes.end(), same);
  if (found != shapes.end()) {
    ++found->modules;
    return;
  }
  shapes.push_back({kind, preset, spec.variant_for(block), site, 1, query_length, key_length});
}

}  // namespace

std::vector<AttentionShape> attention_shapes(const ModelSpec& spec, std::int64_t length,
                                             std::int64_t source_length) {
  // Sites are numbered as the Transformer numbers its modules: encoder layers first, then each
  // decoder block's self- and (encoder-decoder) cross-attention.
  variants::AttentionSite site;
  site.heads = spec.heads;
  site.head_dim = spec.d_model / spec.heads;
  site.d_model = spec.d_model;
  std::vector<AttentionShape> shapes;
  const bool encoder_decoder = spec.has_encoder();
  for (std::int64_t block = 0; encoder_decoder && block < spec.layers; ++block) {
    site.layer = site.depth = block;
    add_module(shapes, spec, block, "encoder self", site, source_length, source_length);
  }
  for (std::int64_t block = 0; block < spec.layers; ++block) {
    site.layer = encoder_decoder ? spec.layers + 2 * block : block;
    site.depth = block;
    site.causal = spec.causal();
    site.cross = false;
    add_module(shapes, spec, block, "self", site, length, length);
    if (!encoder_decoder) continue;
    variants::AttentionSite cross_site = site;
    cross_site.layer = site.layer + 1;
    cross_site.causal = false;
    cross_site.cross = true;
    add_module(shapes, spec, block, "cross", cross_site, length, source_length);
  }
  return shapes;
}

}  // namespace attnlab::model
