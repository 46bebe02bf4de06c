#include "experiments/train/training_run.h"

#include <optional>
#include <utility>

#include <fmt/core.h>

#include "base/atomic_file.h"
#include "base/file_lock.h"
#include "experiments/run/preflight.h"
#include "experiments/run/schema.h"
#include "experiments/train/cost_estimate.h"

namespace attnlab::train {
namespace {

void check_resume_overrides(const std::vector<std::string>& overrides) {
  for (const auto& text : overrides) {
    const auto parsed = config::parse_override(text);
    if (parsed.key.rfind("runtime.", 0) != 0) {
      throw config::ConfigError("override '" + text +
                                "' cannot be used with --resume: a resumed run keeps its config; "
                                "only runtime.* keys may change");
    }
  }
}

// One training process per run directory: a second one (the same --resume twice, or --run-dir
// pointed at a running run) is refused before it writes anything. The lock lives in
// <run>/run.lock and goes away with the process, however it ends.
attnlab::FileLock lock_run_dir(const std::filesystem::path& path) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) {
    throw attnlab::IoError("cannot create run directory " + path.string() + ": " +
                           error.message());
  }
  attnlab::FileLock lock(path / "run.lock", /*wait=*/false);
  if (!lock.held()) {
    throw config::ConfigError("run directory " + path.string() +
                              " is in use by another attnlab process (run.lock is held)");
  }
  return lock;
}

// The checks a run must pass before anything is written (run/preflight.h), then its cost: a run
// that would not fit in memory stops here with exit 2 (runtime.allow_oversubscribe lets it try).
nlohmann::json preflight(const config::Config& config) {
  run::check_runnable(config);
  const auto cost = estimate_cost(config);
  fmt::print(stderr, "{}", describe_cost(cost, /*all_terms=*/false));
  check_memory(cost, config);
  return cost.to_json();
}

TrainOptions options_for(const TrainingRequest& request, const config::Config& config,
                         const run::RunDir& run, nlohmann::json cost_estimate, bool resume) {
  TrainOptions options;
  options.resume = resume;
  options.cost_estimate = std::move(cost_estimate);
  if (request.observers) options.observers = request.observers(config, run, resume);
  return options;
}

}  // namespace

std::filesystem::path start_training(const TrainingRequest& request) {
  // Everything is validated before anything is written under results/.
  const auto config = run::load_config(request.config_file, request.overrides);
  const auto cost_estimate = preflight(config);
  std::optional<attnlab::FileLock> lock;
  if (!request.run_dir.empty()) lock.emplace(lock_run_dir(request.run_dir));
  const auto run = request.run_dir.empty() ? run::RunDir::create(config)
                                           : run::RunDir::at(request.run_dir, config);
  if (!lock) lock.emplace(lock_run_dir(run.path()));  // a new, uniquely named folder
  fmt::print(stderr, "run directory: {}\n", run.path().string());
  train::train(config, run, options_for(request, config, run, cost_estimate, /*resume=*/false));
  return run.path();
}

void resume_training(const TrainingRequest& request) {
  if (!request.config_file.empty()) {
    throw config::ConfigError("--resume uses the run's own config.toml; drop --config");
  }
  check_resume_overrides(request.overrides);
  const auto run = run::RunDir::open(request.resume);
  const auto lock = lock_run_dir(run.path());
  const auto config = run::load_config(run.config_file(), request.overrides);
  train::train(config, run, options_for(request, config, run, preflight(config), /*resume=*/true));
}

}  // namespace attnlab::train
