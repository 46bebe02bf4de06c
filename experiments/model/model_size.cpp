#include "experiments/model/model_size.h"

#include "experiments/model/attention_shapes.h"

namespace attnlab::model {
namespace {

std::int64_t linear(std::int64_t in, std::int64_t out) { return in * out + out; }
std::int64_t layer_norm(std::int64_t width) { return 2 * width; }

// The variant's own parameters (an additive score's projections, say), from the first module of a
// shape: its modules differ in seeds, not in shapes.
std::int64_t variant_parameters(const AttentionShape& shape) {
  std::int64_t count = 0;
  const variants::AttentionVariant variant(shape.variant, shape.site);
  for (const auto& parameter : variant->parameters()) count += parameter.numel();
  return count;
}

// Width of the key and value projections together: 2 G D (G = variant.kv_heads, or the heads).
std::int64_t key_value_width(const ModelSpec& spec, const variants::VariantOptions& variant) {
  const auto kv_heads = variant.get_int("kv_heads");
  return 2 * (kv_heads == 0 ? spec.heads : kv_heads) * (spec.d_model / spec.heads);
}

}  // namespace

std::int64_t parameter_count(const ModelSpec& spec) {
  const std::int64_t c = spec.d_model;
  const std::int64_t hidden = spec.mlp_ratio * c;
  std::int64_t count = spec.vocab_size * c;  // token embedding
  if (spec.positions == "learned") count += (spec.max_length + spec.max_source_length) * c;
  for (const auto& shape : attention_shapes(spec, spec.max_length, spec.max_source_length)) {
    // Self-attention: fused QKV and output projections. Cross: queries, keys+values, output, and
    // the LayerNorm in front of it. Keys and values have G heads each.
    const std::int64_t kv = key_value_width(spec, shape.variant);
    const std::int64_t projections = shape.site.cross
                                         ? layer_norm(c) + linear(c, c) + linear(c, kv) + linear(c, c)
                                         : linear(c, c + kv) + linear(c, c);
    count += shape.modules * (projections + variant_parameters(shape));
  }
  // Per block: the attention's LayerNorm and the MLP with its LayerNorm; encoders have blocks too.
  const std::int64_t stacks = spec.has_encoder() ? 2 : 1;
  const std::int64_t mlp = spec.attention_only ? 0 : layer_norm(c) + linear(c, hidden) + linear(hidden, c);
  count += stacks * spec.layers * (layer_norm(c) + mlp);
  count += stacks * layer_norm(c);  // final norms
  count += linear(c, spec.num_classes > 0 ? spec.num_classes : spec.vocab_size);
  return count;
}

double training_flops_per_example(const ModelSpec& spec, std::int64_t length,
                                  std::int64_t source_length) {
  const double c = static_cast<double>(spec.d_model);
  const double hidden = static_cast<double>(spec.mlp_ratio) * c;
  const double t = static_cast<double>(length), s = static_cast<double>(source_length);
  const double outputs = static_cast<double>(spec.num_classes > 0 ? spec.num_classes : spec.vocab_size);
  const double head = spec.num_classes > 0 ? c * outputs : t * c * outputs;  // pooled: once
  double flops = 6.0 * head;
  for (std::int64_t layer = 0; layer < spec.layers; ++layer) {
    const double kv = static_cast<double>(key_value_width(spec, spec.variant_for(layer)));
    const double mlp = spec.attention_only ? 0.0 : 2.0 * c * hidden;
    const double block = 2.0 * c * c + c * kv + mlp;  // Q, out, KV, MLP
    flops += 6.0 * block * t + 12.0 * t * t * c;
    if (!spec.has_encoder()) continue;
    flops += 6.0 * block * s + 12.0 * s * s * c;   // the encoder's block
    flops += 6.0 * (2.0 * c * c * t + c * kv * s);  // cross: q, out; keys, values
    flops += 12.0 * t * s * c;                      // cross scores and values
  }
  return flops;
}

double training_flops_per_token(const ModelSpec& spec, std::int64_t length) {
  return training_flops_per_example(spec, length, spec.has_encoder() ? spec.max_source_length : 0) /
         static_cast<double>(length);
}

}  // namespace attnlab::model
