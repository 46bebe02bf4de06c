// The training loop shared by every variant and task: AdamW, warm-up + cosine schedule, gradient
// clipping and accumulation, periodic evaluation, atomic checkpoints, exact resume.
#pragma once

#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiments/config/config.h"
#include "experiments/model/transformer.h"
#include "experiments/run/run_dir.h"
#include "experiments/tasks/task.h"
#include "experiments/train/non_finite_gradients.h"

namespace attnlab::train {

// Something that watches training (the attention recorder): called at the start, after every
// optimiser step, and when a checkpoint has been written.
class TrainingObserver {
 public:
  virtual ~TrainingObserver() = default;
  virtual void on_start(model::Transformer& model, std::int64_t first_step) {
    (void)model, (void)first_step;
  }
  virtual void on_step(model::Transformer& model, std::int64_t completed_step, bool last_step) {
    (void)model, (void)completed_step, (void)last_step;
  }
  virtual void on_finish(nlohmann::json& summary) { (void)summary; }
};

struct TrainOptions {
  bool resume = false;  // continue from the run's newest checkpoint
  std::vector<std::shared_ptr<TrainingObserver>> observers;
  nlohmann::json cost_estimate;  // CostEstimate::to_json() for summary.json (null when unset)
};

// Trains the configured model in `run`; returns the summary it also writes to summary.json.
// Throws NonFiniteGradients when a step's gradients are not finite.
nlohmann::json train(const config::Config& config, const run::RunDir& run,
                     const TrainOptions& options);

}  // namespace attnlab::train
