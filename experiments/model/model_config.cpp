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
  return spec;
}

variants::VariantOptions variant_options(const config::Config& config) {
  variants::VariantOptions options;
  for (const auto& spec : variants::all_option_specs()) {
    const std::string key = "variant." + spec.name;
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

}  // namespace attnlab::model
