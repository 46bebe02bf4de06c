// Hybrid stacks (model.layer_variants): each block's attention is built from its own variant, the
// size worked out from the spec alone is the built model's, and the model runs, each layer
// recording the map kind of its own variant.
#include <catch2/catch.hpp>

#include "experiments/model/attention_shapes.h"
#include "experiments/model/model_size.h"
#include "experiments/model/transformer.h"

using namespace attnlab;
using variants::MapKind;

namespace {

variants::VariantOptions default_options() {
  variants::VariantOptions options;
  for (const auto& spec : variants::all_option_specs()) options.set(spec.name, spec.default_value);
  return options;
}

model::LayerVariant layer(std::string name,
                          const std::vector<std::pair<std::string, OptionValue>>& keys) {
  auto options = default_options();
  for (const auto& [key, value] : keys) options.set(key, value);
  return {std::move(name), options};
}

// Five blocks, each with parts of its own: shared kv heads and an element gate, differential
// attention, a sink with a head gate, the T5 bias with one kv head, QK-norm with sigmoid.
model::ModelSpec hybrid_spec(const std::string& arch) {
  model::ModelSpec spec;
  spec.arch = arch;
  spec.vocab_size = 16;
  spec.max_length = 12;
  spec.max_source_length = arch == "encoder_decoder" ? 10 : 0;
  spec.d_model = 32;
  spec.heads = 4;
  spec.layers = 5;
  spec.variant = default_options();
  spec.layer_variants = {
      layer("gqa_gated", {{"kv_heads", std::int64_t{2}}, {"gate", std::string("element")}}),
      layer("differential", {{"mixer", std::string("differential")}}),
      layer("sink", {{"normaliser", std::string("sink")}, {"gate", std::string("head")}}),
      layer("t5_mqa", {{"position", std::string("t5")}, {"kv_heads", std::int64_t{1}}}),
      layer("sigmoid", {{"normaliser", std::string("sigmoid")}, {"qk_norm", std::string("rms")}}),
  };
  return spec;
}

}  // namespace

TEST_CASE("a hybrid stack's size from its spec is the built model's", "[model][layer-variants]") {
  for (const std::string arch : {"decoder", "encoder", "encoder_decoder"}) {
    DYNAMIC_SECTION(arch) {
      const auto spec = hybrid_spec(arch);
      model::Transformer built(spec);
      CHECK(model::parameter_count(spec) == built->parameter_count());
      // Each block projects its own number of key/value heads.
      std::vector<std::int64_t> kv_heads;
      for (const auto& attention : built->attention_layers()) {
        if (!attention->site().cross && attention->site().causal == spec.causal()) {
          kv_heads.push_back(attention->site().kv_heads);
        }
      }
      CHECK(kv_heads == std::vector<std::int64_t>{2, 4, 4, 1, 4});
    }
  }
}

TEST_CASE("a hybrid stack runs, each layer recording its own map kind", "[model][layer-variants]") {
  torch::manual_seed(0);
  const auto spec = hybrid_spec("encoder_decoder");
  model::Transformer built(spec);
  const auto tokens = torch::randint(0, spec.vocab_size, {2, 12});
  const auto source = torch::randint(0, spec.vocab_size, {2, 10});
  model::AttentionTap tap;
  const auto recorded = built->forward(tokens, &tap, source);
  const auto fast = built->forward(tokens, nullptr, source);
  CHECK(recorded.sizes() == torch::IntArrayRef({2, 12, spec.vocab_size}));
  CHECK(torch::allclose(recorded, fast, 1e-4, 1e-5));
  REQUIRE(tap.captures.size() == 15);  // 5 encoder self, 5 decoder self and cross
  const std::vector<MapKind> per_block = {MapKind::Distribution, MapKind::Signed, MapKind::Partial,
                                          MapKind::Distribution, MapKind::Unnormalised};
  for (std::size_t block = 0; block < 5; ++block) {
    INFO("block " << block);
    CHECK(tap.captures[block].map_kind == per_block[block]);           // encoder self
    CHECK(tap.captures[5 + 2 * block].map_kind == per_block[block]);   // decoder self
    CHECK(tap.captures[6 + 2 * block].map_kind == per_block[block]);   // cross
  }
}

TEST_CASE("one preset in every block builds the model without the list",
          "[model][layer-variants]") {
  auto plain = hybrid_spec("decoder");
  plain.layer_variants.clear();
  auto listed = plain;
  listed.layer_variants.assign(5, model::LayerVariant{"scaled", plain.variant});
  auto names = [](const model::ModelSpec& spec) {
    std::vector<std::string> parameters;
    for (const auto& item : model::Transformer(spec)->named_parameters()) {
      parameters.push_back(item.key());
    }
    return parameters;
  };
  CHECK(names(listed) == names(plain));  // a checkpoint of one loads into the other
  CHECK(model::training_flops_per_example(listed, 12, 0) ==
        model::training_flops_per_example(plain, 12, 0));
}

TEST_CASE("shapes and FLOPs follow each layer's variant", "[model][layer-variants]") {
  auto spec = hybrid_spec("decoder");
  spec.layer_variants = {layer("mqa", {{"kv_heads", std::int64_t{1}}}), layer("scaled", {}),
                         layer("mqa", {{"kv_heads", std::int64_t{1}}})};
  spec.layers = 3;
  const auto shapes = model::attention_shapes(spec, 12, 0);
  REQUIRE(shapes.size() == 2);
  CHECK(shapes[0].layer_variant == "mqa");
  CHECK(shapes[0].modules == 2);
  CHECK(shapes[0].variant.get_int("kv_heads") == 1);
  CHECK(shapes[1].layer_variant == "scaled");
  CHECK(shapes[1].site.layer == 1);
  CHECK(shapes[1].site.depth == 1);
  // Two layers project 2 x 8 key/value features per token instead of 2 x 32: 6 x (64 - 16) x C
  // FLOPs fewer per token each.
  auto uniform = spec;
  uniform.layer_variants.clear();
  const double saved = 2 * 6.0 * 12 * 32 * (64 - 16);
  CHECK(model::training_flops_per_example(uniform, 12, 0) -
            model::training_flops_per_example(spec, 12, 0) ==
        Approx(saved));
}
