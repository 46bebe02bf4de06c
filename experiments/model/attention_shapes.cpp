#include "experiments/model/attention_shapes.h"

namespace attnlab::model {

std::vector<AttentionShape> attention_shapes(const ModelSpec& spec, std::int64_t length,
                                             std::int64_t source_length) {
  // Sites are numbered as the Transformer numbers its modules: encoder layers first, then each
  // decoder block's self- and (encoder-decoder) cross-attention.
  variants::AttentionSite site;
  site.heads = spec.heads;
  site.head_dim = spec.d_model / spec.heads;
  site.d_model = spec.d_model;
  std::vector<AttentionShape> shapes;
  if (!spec.has_encoder()) {
    site.causal = spec.causal();
    shapes.push_back({"self", site, spec.layers, length, length});
    return shapes;
  }
  site.causal = false;
  shapes.push_back({"encoder self", site, spec.layers, source_length, source_length});
  site.layer = spec.layers;
  site.causal = true;
  shapes.push_back({"self", site, spec.layers, length, length});
  site.layer = spec.layers + 1;
  site.causal = false;
  site.cross = true;
  shapes.push_back({"cross", site, spec.layers, length, source_length});
  return shapes;
}

}  // namespace attnlab::model
