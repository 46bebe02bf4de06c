// summary.json of a finished training run: what was trained, its final and best validation
// numbers, its speed and estimated cost, and the machine it ran on.
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

#include "experiments/run/run_dir.h"
#include "experiments/train/checkpoint.h"
#include "experiments/train/evaluate.h"
#include "experiments/train/train_settings.h"

namespace attnlab::train {

struct TrainingOutcome {
  TrainerState state;  // at the last step: skipped steps, best step, training time
  EvalMetrics final_val;
  double wall_seconds = 0.0;  // the whole call, set-up and evaluations included
  double tokens_per_step = 0.0;
  std::int64_t parameters = 0;
};

// The final train loss and the best validation row are read back from the run's metrics.jsonl,
// which holds the rows of every process that trained the run (a resumed one included).
nlohmann::json training_summary(const TrainSettings& settings, const run::RunDir& run,
                                const TrainingOutcome& outcome,
                                const nlohmann::json& cost_estimate);

}  // namespace attnlab::train
