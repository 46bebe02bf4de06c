// What `attnlab train` takes from its config, read once before the first step: the budget and
// its cadence, the optimiser and schedule, where it runs, and the names summary.json reports.
#pragma once

#include <cstdint>
#include <string>

#include <torch/types.h>

#include "experiments/config/config.h"
#include "experiments/train/optimizer.h"
#include "experiments/train/precision.h"
#include "experiments/train/schedule.h"

namespace attnlab::train {

struct TrainSettings {
  // What is trained (the summary names it).
  std::string experiment, task, variant, model;
  std::int64_t seed = 0;

  // Where and how.
  torch::Device device{torch::kCPU};
  int threads = 1;
  PrecisionChoice precision;
  std::string progress;  // runtime.progress

  // The budget: steps of `batch` examples, each in `micro_batches` micro-batches.
  std::int64_t steps = 0;
  std::int64_t batch = 0;
  std::int64_t micro_batches = 1;
  std::int64_t micro_batch = 0;

  // Every so many completed steps (and at the last one).
  std::int64_t log_every = 1;
  std::int64_t eval_every = 1;
  std::int64_t checkpoint_every = 1;
  std::int64_t keep_checkpoints = 1;  // step checkpoints kept (best.pt apart)

  AdamWSettings adamw;
  Schedule schedule;
  double grad_clip = 0.0;          // 0: the norm is computed, not clipped
  std::int64_t skips_allowed = 0;  // steps with non-finite gradients skipped before stopping

  std::string config_toml;  // the resolved config, kept in every checkpoint

  // Whether the step that has just `completed` is due for something done `every` steps.
  bool due(std::int64_t every, std::int64_t completed) const {
    return completed % every == 0 || completed == steps;
  }
};

TrainSettings train_settings(const config::Config& config);

}  // namespace attnlab::train
