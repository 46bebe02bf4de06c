// attnlab ablate --run DIR: which attention heads a trained run needs (Michel et al. 2019). Head
// importance over an evaluation split, the pruning curve (heads masked by increasing importance,
// 10% at a time; by decreasing importance as the baseline) and each head masked alone. Writes
// pruning.csv, pruning-reverse.csv, ablation.csv, pruning.svg and ablation.json into
// <run>/ablation (or --out), each atomically and only once every evaluation is done.
#include <chrono>

#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <torch/utils.h>

#include "analysis/run_outputs.h"
#include "experiments/cli/commands.h"
#include "experiments/cli/run_arguments.h"
#include "experiments/model/model_config.h"
#include "experiments/run/atomic_file.h"
#include "experiments/run/preflight.h"
#include "experiments/run/progress.h"
#include "experiments/run/run_dir.h"
#include "experiments/run/schema.h"
#include "experiments/train/ablation_report.h"
#include "experiments/train/checkpoint.h"
#include "experiments/train/head_ablation.h"

namespace attnlab::cli {
namespace {

constexpr const char* kSummaryFile = "ablation.json";

struct AblateArguments {
  std::filesystem::path run;
  std::string split = "val";
  std::string checkpoint = "best";
  std::filesystem::path out;
  std::int64_t examples = 0;
  std::vector<std::string> overrides;
};

void run_ablate(const AblateArguments& arguments) {
  // Every input is checked before any work (and nothing is written on bad input).
  check_run_overrides(arguments.overrides, "ablate");
  if (arguments.split != "val" && arguments.split != "test") {
    throw config::ConfigError("--split " + arguments.split + ": must be val or test");
  }
  const auto split = tasks::parse_split(arguments.split);
  if (arguments.examples < 0) {
    throw config::ConfigError("--examples " + std::to_string(arguments.examples) +
                              ": must be 0 (the whole split) or more");
  }
  const auto run = run::RunDir::open(arguments.run);
  const auto config = run::load_config(run.config_file(), arguments.overrides);
  run::check_runnable(config);
  std::filesystem::path checkpoint;
  try {
    checkpoint = train::find_checkpoint(run.checkpoints(), arguments.checkpoint);
  } catch (const train::CheckpointError& error) {
    throw config::ConfigError(std::string("--checkpoint ") + arguments.checkpoint + ": " +
                              error.what());
  }
  const auto out =
      arguments.out.empty() ? run.path() / analysis::kAblationFolder : arguments.out;
  if (std::filesystem::exists(out) && !std::filesystem::is_directory(out)) {
    throw config::ConfigError("--out " + out.string() + ": exists and is not a directory");
  }

  torch::set_num_threads(run::resolve_threads(config));
  const torch::Device device(config.get_string("runtime.device"));
  const auto task = tasks::make_task(config);
  model::Transformer model(model::model_spec(config, *task));
  const auto state = train::load_checkpoint(checkpoint, model.ptr().get(), nullptr,
                                            config.to_toml());
  model->to(device);

  train::EvaluationSet set;
  set.split = split;
  set.batch_size = config.get_int("eval.batch") > 0 ? config.get_int("eval.batch")
                                                    : config.get_int("train.batch");
  set.max_examples = arguments.examples;
  set.device = device;
  const auto heads = static_cast<std::int64_t>(train::all_heads(model).size());
  const auto evaluations =
      2 * static_cast<std::int64_t>(train::pruning_counts(heads).size()) + heads;
  const auto examples = arguments.examples > 0
                            ? std::min(arguments.examples, task->split_size(split))
                            : task->split_size(split);
  fmt::print("{}: checkpoint {} (step {}), {} split ({} examples), {} heads in {} attention "
             "layers: importance, then {} evaluations\n",
             run.path().string(), checkpoint.filename().string(), state.step, arguments.split,
             examples, heads, model->attention_layers().size(), evaluations);

  // One progress line per evaluation (on stderr, runtime.progress as in training).
  run::Progress progress(config.get_string("runtime.progress"), evaluations, 0);
  std::int64_t done = 0;
  auto last = std::chrono::steady_clock::now();
  const auto on_evaluation = [&](const std::string& masked, const train::EvalMetrics& metrics) {
    const auto now = std::chrono::steady_clock::now();
    progress.message(fmt::format("[{}/{}] masked {}: loss {:.4f} accuracy {:.4f} ({:.1f} s)",
                                 ++done, evaluations, masked, metrics.loss, metrics.accuracy,
                                 std::chrono::duration<double>(now - last).count()));
    last = now;
  };
  const auto ablation = train::ablate_heads(model, *task, set, on_evaluation);
  progress.finish();

  std::vector<std::string> kinds;
  for (const auto& layer : model->attention_layers()) {
    kinds.push_back(layer->site().cross ? "cross" : "self");
  }
  fmt::print("{}", train::ablation_summary(ablation, kinds));

  nlohmann::json summary = {{"run", run.path().string()},
                            {"checkpoint", checkpoint.string()},
                            {"step", state.step},
                            {"split", arguments.split},
                            {"examples", examples},
                            {"importance_examples", ablation.importance.examples},
                            {"heads", heads},
                            {"unmasked", metrics_json(ablation.unmasked())},
                            {"config", config.to_toml()}};
  std::error_code error;
  std::filesystem::create_directories(out, error);
  if (error) throw run::IoError("cannot create " + out.string() + ": " + error.message());
  const auto title = fmt::format("{} (step {}, {})", run.path().filename().string(), state.step,
                                 arguments.split);
  const std::vector<std::pair<std::string, std::string>> files = {
      {train::kPruningFile, train::pruning_csv(ablation.curve)},
      {train::kPruningReverseFile, train::pruning_csv(ablation.reverse_curve)},
      {train::kAblationFile, train::ablation_csv(ablation)},
      {train::kPruningFigure, train::pruning_svg(ablation, title)},
      {kSummaryFile, summary.dump(2) + "\n"}};
  for (const auto& [name, content] : files) {
    run::write_file_atomic(out / name, content);
    fmt::print("written {}\n", (out / name).string());
  }
}

}  // namespace

void add_ablate_command(CLI::App& app) {
  auto arguments = std::make_shared<AblateArguments>();
  auto* command = app.add_subcommand(
      "ablate",
      "head importance, pruning curve and single-head ablations of a run (Michel et al. 2019)");
  add_run_options(*command, arguments->run, arguments->checkpoint);
  command->add_option("--split", arguments->split, "val (default) or test");
  command->add_option("--out", arguments->out,
                      "output folder for pruning.csv, ablation.csv, pruning.svg "
                      "(default: <run>/ablation)");
  command->add_option("--examples", arguments->examples,
                      "use only the split's first N examples (default 0: all of them)");
  command->add_option("overrides", arguments->overrides,
                      "eval.* and runtime.* overrides, e.g. runtime.threads=1 eval.batch=256");
  command->callback([arguments] { run_ablate(*arguments); });
}

}  // namespace attnlab::cli
