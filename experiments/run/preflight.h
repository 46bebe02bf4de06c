// What a command that will run the model checks once its config is composed, before it writes
// anything, so that a run that would fail in its first steps is refused with exit 2 instead:
// - the shapes the run will produce: a pattern's length rule (bigbird's block must divide the key
//   length, ...) for every attention module at the training length, which the recorder's probe
//   also uses, and at each eval.lengths value `attnlab eval` evaluates;
// - the device: runtime.device must exist in this build and on this machine.
// `train`, the jobs of a sweep, `eval` and `ablate` call them; `export` (which always runs on the
// CPU) and `bench` (which checks its own lengths) do not. Syntax (cpu or cuda[:N]) is checked with
// the rest of the schema.
#pragma once

#include <cstdint>
#include <string>

#include "experiments/config/config.h"
#include "experiments/tasks/task.h"

namespace attnlab::run {

// Throws config::ConfigError naming the key (variant.*, eval.lengths) and the lengths.
void check_shapes(const config::Config& config);

// Throws config::ConfigError when the model of `config` cannot run inputs of `length` tokens of
// `task` (a pattern's length rule), naming the key, the lengths and `where`.
void check_input_length(const config::Config& config, const tasks::Task& task,
                        std::int64_t length, const std::string& where);

// Throws config::ConfigError naming runtime.device when this build has no CUDA, or this machine
// no such GPU.
void check_device_available(const config::Config& config);

// Both of the above: what a command about to train or evaluate on this machine checks.
void check_runnable(const config::Config& config);

// Whether `attnlab eval` evaluates the trained model on `other` (the task at an eval.lengths
// value): not when learned input positions do not reach its length.
bool evaluates_at(const config::Config& config, const tasks::Task& trained, const tasks::Task& other);

}  // namespace attnlab::run
