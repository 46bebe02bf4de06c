// What the commands acting on a finished run (eval, ablate, export) share: the rule that only
// eval.* and runtime.* keys may be overridden (the model and task are the run's), the run's model
// with the weights of one of its checkpoints, and the evaluation batch size.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <torch/types.h>

#include "experiments/config/config.h"
#include "experiments/model/transformer.h"
#include "experiments/tasks/task.h"

namespace attnlab::train {

// Throws config::ConfigError naming the first override outside eval.* and runtime.*; `command`
// is the command named in the message.
void check_run_overrides(const std::vector<std::string>& overrides, const std::string& command);

struct TrainedModel {
  model::Transformer model;
  std::int64_t step = 0;  // the checkpoint's optimiser steps
};

// The model `config` describes for `task`, with the weights of `checkpoint`, on `device`. Throws
// CheckpointError when the checkpoint does not fit the model.
TrainedModel load_trained_model(const config::Config& config, const tasks::Task& task,
                                const std::filesystem::path& checkpoint,
                                const torch::Device& device);

// eval.batch, or train.batch when eval.batch is 0.
std::int64_t eval_batch_size(const config::Config& config);

}  // namespace attnlab::train
