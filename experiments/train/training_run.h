// `attnlab train` for one run: compose and check the config, create the run directory (or reopen
// one to resume it) and hold its lock, print the cost estimate, then train. Everything is checked
// before anything is written under results/.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "experiments/config/config.h"
#include "experiments/run/run_dir.h"
#include "experiments/train/trainer.h"

namespace attnlab::train {

// Makes the observers of a run once its directory is known (the attention recorder, which lives
// in a layer above training); `resume`: the run continues from its newest checkpoint.
using ObserverFactory = std::function<std::vector<std::shared_ptr<TrainingObserver>>(
    const config::Config& config, const run::RunDir& run, bool resume)>;

struct TrainingRequest {
  std::filesystem::path config_file;   // empty: configs/experiment.toml
  std::vector<std::string> overrides;  // with resume: runtime.* only
  std::filesystem::path resume;        // an existing run to continue
  std::filesystem::path run_dir;       // empty: <results_dir>/<experiment>/<timestamp>-<hash>
  ObserverFactory observers;           // may be empty
};

// A new run (in request.run_dir, or a new uniquely named folder); returns its directory. Throws
// config::ConfigError when the config is invalid, the run would not fit in memory
// (runtime.allow_oversubscribe lets it try) or its directory is in use by another process.
std::filesystem::path start_training(const TrainingRequest& request);

// Continues request.resume from its newest checkpoint with the run's own config.toml: only
// runtime.* keys may change, since anything else would make it a different experiment.
void resume_training(const TrainingRequest& request);

}  // namespace attnlab::train
