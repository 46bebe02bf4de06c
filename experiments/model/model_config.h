// Builds the model described by a resolved config for a task.
#pragma once

#include "experiments/config/config.h"
#include "experiments/model/transformer.h"
#include "experiments/tasks/task.h"
#include "variants/options.h"

namespace attnlab::model {

ModelSpec model_spec(const config::Config& config, const tasks::Task& task);

// The `variant.*` values as options for the variant registries.
variants::VariantOptions variant_options(const config::Config& config);

}  // namespace attnlab::model
