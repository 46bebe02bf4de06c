#include "experiments/model/model_config.h"

#include <string>
#include <type_traits>
#include <variant>

#include "variants/attention_variant.h"

namespace attnlab::model {

ModelSpec model_spec(const config::Config& config, const tasks::Task& task) {
  ModelSpec spec;
  spec.arch = config.get_string("model.arch");
  spec.vocab_size = task.vocab_size();
  spec.max_length = task.sequence_length();
  spec.max_source_length = task.source_length();
  spec.num_classes = task.num_classes();
  spec.pooling = config.get_string("model.pooling");
  spec.d_model = config.get_int("model.d_model");
  spec.layers = config.get_int("model.layers");
  spec.heads = config.get_int("model.heads");
  spec.mlp_ratio = config.get_int("model.mlp_ratio");
  spec.dropout = config.get_float("model.dropout");
  spec.positions = config.get_string("model.positions");
  spec.attention_only = config.get_bool("model.attention_only");
  spec.init = config.get_string("model.init");
  spec.init_std = config.get_float("model.init_std");
  spec.variant = variant_options(config);
  spec.layer_variants = layer_variants(config);
  return spec;
}

namespace {

// Each option from the first table of `tables` (config sections, "variant" last) that has it.
variants::VariantOptions options_from(const config::Config& config,
                                      const std::vector<std::string>& tables) {
  variants::VariantOptions options;
  for (const auto& spec : variants::all_option_specs()) {
    std::string key;
    for (const auto& table : tables) {
      key = table + "." + spec.name;
      if (config.has(key)) break;
    }
    std::visit(
        [&](const auto& default_value) {
          using Held = std::decay_t<decltype(default_value)>;
          if constexpr (std::is_same_v<Held, bool>) {
            options.set(spec.name, config.get_bool(key));
          } else if constexpr (std::is_same_v<Held, std::int64_t>) {
            options.set(spec.name, config.get_int(key));
          } else if constexpr (std::is_same_v<Held, double>) {
            options.set(spec.name, config.get_float(key));
          } else {
            options.set(spec.name, config.get_string(key));
          }
        },
        spec.default_value);
  }
  return options;
}

}  // namespace

variants::VariantOptions variant_options(const config::Config& config) {
  return options_from(config, {"variant"});
}

std::vector<LayerVariant> layer_variants(const config::Config& config) {
  std::vector<LayerVariant> layers;
  for (const auto& name : config.get_string_list("model.layer_variants")) {
    const std::string preset = std::string(kLayerVariantTables) + "." + name;
    layers.push_back({name, options_from(config, {preset, "variant"})});
  }
  return layers;
}

}  // namespace attnlab::model
