// attnlab train: one run (experiments/train/training_run.h), or with -m a sweep
// (experiments/sweep/sweep_runner.h).
#include <fmt/core.h>

#include "dump/dump_schema.h"
#include "experiments/cli/commands.h"
#include "experiments/record/recorder.h"
#include "experiments/train/training_run.h"

namespace attnlab::cli {
namespace {

struct TrainArguments {
  ConfigArguments config;
  std::filesystem::path resume;
  std::filesystem::path run_dir;
  bool multirun = false;
  sweep::SweepRequest sweep;
};

// Attention recording (record.every > 0) writes <run>/attention.h5; a resumed run continues it.
// The recorder is a layer above training, so the command hands it to the run.
std::vector<std::shared_ptr<train::TrainingObserver>> attention_recorder(
    const config::Config& config, const run::RunDir& run, bool resume) {
  if (!record::RecordSettings::from_config(config).enabled()) return {};
  return {std::make_shared<record::Recorder>(config, run.path() / dump::kFileName, resume)};
}

// Sweep options without -m, or run-directory options with it, would be silently ignored.
void check_option_combination(const CLI::App& command, const TrainArguments& arguments) {
  for (const char* name :
       {"--launcher", "--jobs", "--retry-failed", "--dry-run", "--new", "--wait"}) {
    if (!arguments.multirun && command.count(name) > 0) {
      throw config::ConfigError(std::string(name) +
                                " is a sweep option: add -m (or use attnlab sweep)");
    }
  }
  if (arguments.multirun && (!arguments.resume.empty() || !arguments.run_dir.empty())) {
    throw config::ConfigError("-m runs a sweep, whose jobs have their own run folders: drop "
                              "--resume and --run-dir (run the same sweep again to resume it)");
  }
}

void run_train(const TrainArguments& arguments) {
  const train::TrainingRequest request{arguments.config.config_file, arguments.config.overrides,
                                       arguments.resume, arguments.run_dir, attention_recorder};
  if (!request.resume.empty()) return train::resume_training(request);
  fmt::print("{}\n", train::start_training(request).string());
}

void run_multirun(const TrainArguments& arguments) {
  auto request = arguments.sweep;
  request.config_file = arguments.config.config_file;
  request.arguments = arguments.config.overrides;
  sweep::run_sweep(request);
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
    check_option_combination(*command, *arguments);
    if (arguments->multirun) return run_multirun(*arguments);
    run_train(*arguments);
  });
}

}  // namespace attnlab::cli
