// attnlab train: compose the config, create (or resume) a run directory, train.
#include <fmt/core.h>

#include <optional>

#include "analysis/dump/dump_schema.h"
#include "experiments/cli/commands.h"
#include "experiments/record/recorder.h"
#include "experiments/run/atomic_file.h"
#include "experiments/run/file_lock.h"
#include "experiments/run/run_dir.h"
#include "experiments/run/preflight.h"
#include "experiments/run/schema.h"
#include "experiments/train/cost_estimate.h"
#include "experiments/train/trainer.h"

namespace attnlab::cli {
namespace {

struct TrainArguments {
  ConfigArguments config;
  std::filesystem::path resume;
  std::filesystem::path run_dir;
  bool multirun = false;
  sweep::SweepRequest sweep;
};

// Resuming continues the run as configured; only how it runs (threads, progress, device) may
// change, since anything else would make the resumed run a different experiment.
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

// Attention recording (record.every > 0) writes <run>/attention.h5; a resumed run continues it.
void add_recorder(train::TrainOptions& options, const config::Config& config,
                  const run::RunDir& run) {
  if (!record::RecordSettings::from_config(config).enabled()) return;
  options.observers.push_back(
      std::make_shared<record::Recorder>(config, run.path() / dump::kFileName, options.resume));
}

// One training process per run directory: a second one (the same --resume twice, or --run-dir
// pointed at a running run) is refused before it writes anything. The lock lives in
// <run>/run.lock and goes away with the process, however it ends.
run::FileLock lock_run_dir(const std::filesystem::path& path) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) throw run::IoError("cannot create run directory " + path.string() + ": " + error.message());
  run::FileLock lock(path / "run.lock", /*wait=*/false);
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
  const auto cost = train::estimate_cost(config);
  fmt::print(stderr, "{}", train::describe_cost(cost, /*all_terms=*/false));
  train::check_memory(cost, config);
  return cost.to_json();
}

void run_train(const TrainArguments& arguments) {
  train::TrainOptions options;
  if (!arguments.resume.empty()) {
    if (!arguments.config.config_file.empty()) {
      throw config::ConfigError("--resume uses the run's own config.toml; drop --config");
    }
    check_resume_overrides(arguments.config.overrides);
    const auto existing = run::RunDir::open(arguments.resume);
    const auto lock = lock_run_dir(existing.path());
    const auto config = run::load_config(existing.config_file(), arguments.config.overrides);
    options.cost_estimate = preflight(config);
    options.resume = true;
    add_recorder(options, config, existing);
    train::train(config, existing, options);
    return;
  }
  // Everything is validated before anything is written under results/.
  const auto config = run::load_config(arguments.config.config_file, arguments.config.overrides);
  options.cost_estimate = preflight(config);
  std::optional<run::FileLock> lock;
  if (!arguments.run_dir.empty()) lock.emplace(lock_run_dir(arguments.run_dir));
  const auto run = arguments.run_dir.empty() ? run::RunDir::create(config)
                                             : run::RunDir::at(arguments.run_dir, config);
  if (!lock) lock.emplace(lock_run_dir(run.path()));  // a new, uniquely named folder
  fmt::print(stderr, "run directory: {}\n", run.path().string());
  add_recorder(options, config, run);
  train::train(config, run, options);
  fmt::print("{}\n", run.path().string());
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto arguments = std::make_shared<TrainArguments>();
  auto* command = app.add_subcommand("train", "train one model (one variant on one task)");
  add_config_arguments(*command, arguments->config);
  command->add_option("--resume", arguments->resume,
                      "continue the run in this directory from its newest checkpoint");
  command->add_option("--run-dir", arguments->run_dir,
                      "write the run into exactly this directory (default: "
                      "<results_dir>/<experiment>/<timestamp>-<hash>)");
  command->add_flag("-m,--multirun", arguments->multirun,
                    "sweep: the overrides are sweep parameters (as `attnlab sweep`)");
  add_sweep_options(*command, arguments->sweep);
  command->callback([command, arguments] {
    // Sweep options without -m, or run-directory options with it, would be silently ignored.
    for (const char* name : {"--launcher", "--jobs", "--retry-failed", "--dry-run", "--new", "--wait"}) {
      if (!arguments->multirun && command->count(name) > 0) {
        throw config::ConfigError(std::string(name) + " is a sweep option: add -m (or use attnlab sweep)");
      }
    }
    if (arguments->multirun && (!arguments->resume.empty() || !arguments->run_dir.empty())) {
      throw config::ConfigError("-m runs a sweep, whose jobs have their own run folders: drop "
                                "--resume and --run-dir (run the same sweep again to resume it)");
    }
    if (!arguments->multirun) return run_train(*arguments);
    auto request = arguments->sweep;
    request.config_file = arguments->config.config_file;
    request.arguments = arguments->config.overrides;
    sweep::run_sweep(request);
  });
}

}  // namespace attnlab::cli
