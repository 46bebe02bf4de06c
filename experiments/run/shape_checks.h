// Checks that depend on the shapes a run will produce, made when the config is validated: a
// pattern's length rule (bigbird's block must divide the key length, ...) is tried for every
// attention module at the training length, which the recorder's probe also uses, and at each
// eval.lengths value `attnlab eval` evaluates, so that a run that would fail in its first forward
// pass is refused before its run directory exists.
#pragma once

#include "experiments/config/config.h"
#include "experiments/tasks/task.h"

namespace attnlab::run {

// Throws config::ConfigError naming the key (variant.*, eval.lengths) and the lengths.
void check_shapes(const config::Config& config);

// Whether `attnlab eval` evaluates the trained model on `other` (the task at an eval.lengths
// value): not when learned input positions do not reach its length.
bool evaluates_at(const config::Config& config, const tasks::Task& trained, const tasks::Task& other);

}  // namespace attnlab::run
