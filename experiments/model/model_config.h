// Builds the model described by a resolved config for a task.
#pragma once

#include <string>
#include <vector>

#include "experiments/config/config.h"
#include "experiments/model/transformer.h"
#include "experiments/tasks/task.h"
#include "variants/options.h"

namespace attnlab::model {

// The section holding a copy of each preset model.layer_variants names: layer_variant.<preset>.*
// (keys as variant.*), made when the config is composed (config.h, OptionList).
inline constexpr const char* kLayerVariantTables = "layer_variant";

ModelSpec model_spec(const config::Config& config, const tasks::Task& task);

// The `variant.*` values as options for the variant registries.
variants::VariantOptions variant_options(const config::Config& config);

// One per block (empty when model.layer_variants is): the run's `variant.*` values with the keys
// of the block's preset copy, layer_variant.<preset>.*, laid over them.
std::vector<LayerVariant> layer_variants(const config::Config& config);

}  // namespace attnlab::model
