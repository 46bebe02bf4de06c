// attnlab eval: evaluate a trained run's checkpoint on a split, and at other lengths
// (eval.lengths) to measure length generalisation. Writes <run>/eval-<split>.json.
#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <torch/utils.h>

#include "experiments/cli/commands.h"
#include "experiments/cli/run_arguments.h"
#include "experiments/model/model_config.h"
#include "experiments/run/atomic_file.h"
#include "experiments/run/run_dir.h"
#include "experiments/run/preflight.h"
#include "experiments/run/schema.h"
#include "experiments/train/checkpoint.h"
#include "experiments/train/evaluate.h"

namespace attnlab::cli {
namespace {

struct EvalArguments {
  std::filesystem::path run;
  std::string split = "test";
  std::string checkpoint = "best";
  std::vector<std::string> overrides;
};

void run_eval(const EvalArguments& arguments) {
  check_run_overrides(arguments.overrides, "eval");
  const auto split = tasks::parse_split(arguments.split);
  if (split == tasks::Split::Train) throw config::ConfigError("--split must be val or test");
  const auto run = run::RunDir::open(arguments.run);
  const auto config = run::load_config(run.config_file(), arguments.overrides);
  run::check_runnable(config);  // every eval.lengths value included
  torch::set_num_threads(run::resolve_threads(config));
  const torch::Device device(config.get_string("runtime.device"));

  const auto task = tasks::make_task(config);
  model::Transformer model(model::model_spec(config, *task));
  const auto checkpoint = train::find_checkpoint(run.checkpoints(), arguments.checkpoint);
  const auto state = train::load_checkpoint(checkpoint, model.ptr().get(), nullptr,
                                            config.to_toml());
  model->to(device);
  const auto batch = config.get_int("eval.batch") > 0 ? config.get_int("eval.batch")
                                                      : config.get_int("train.batch");

  const auto metrics = train::evaluate(model, *task, split, batch, device);
  nlohmann::json report = {{"run", run.path().string()},
                           {"checkpoint", checkpoint.string()},
                           {"step", state.step},
                           {"split", arguments.split},
                           {"task_length", config.get_int("task.length")},
                           {"result", metrics_json(metrics)}};
  fmt::print("{} split, checkpoint {} (step {}):\n", arguments.split, checkpoint.filename().string(),
             state.step);
  fmt::print("  {:>8} {:>10} {:>10} {:>10}\n", "length", "loss", "accuracy", "seq acc");
  fmt::print("  {:>8} {:>10.4f} {:>10.4f} {:>10.4f}\n", config.get_int("task.length"),
             metrics.loss, metrics.accuracy, metrics.sequence_accuracy);

  // Length generalisation: the same weights on the task at other lengths.
  nlohmann::json lengths = nlohmann::json::array();
  for (const auto length : config.get_int_list("eval.lengths")) {
    const auto longer = tasks::make_task(config.with_int("task.length", length));
    nlohmann::json entry = {{"task_length", length}, {"sequence_length", longer->sequence_length()}};
    if (!run::evaluates_at(config, *task, *longer)) {
      entry["skipped"] = "learned positions cover only " +
                         std::to_string(task->sequence_length()) + " tokens";
      fmt::print("  {:>8} skipped: {}\n", length, entry["skipped"].get<std::string>());
    } else {
      const auto result = train::evaluate(model, *longer, split, batch, device);
      entry["result"] = metrics_json(result);
      fmt::print("  {:>8} {:>10.4f} {:>10.4f} {:>10.4f}\n", length, result.loss, result.accuracy,
                 result.sequence_accuracy);
    }
    lengths.push_back(entry);
  }
  report["lengths"] = lengths;
  for (const auto& [name, value] : metrics.extra) fmt::print("  {} = {:.4f}\n", name, value);
  const auto output = run.path() / ("eval-" + arguments.split + ".json");
  run::write_file_atomic(output, report.dump(2) + "\n");
  fmt::print("written {}\n", output.string());
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto arguments = std::make_shared<EvalArguments>();
  auto* command = app.add_subcommand(
      "eval", "evaluate a run's checkpoint on a split and at other lengths (eval.lengths)");
  add_run_options(*command, arguments->run, arguments->checkpoint);
  command->add_option("--split", arguments->split, "val or test (default: test)");
  command->add_option("overrides", arguments->overrides,
                      "eval.* and runtime.* overrides, e.g. eval.lengths=[32,64]");
  command->callback([arguments] { run_eval(*arguments); });
}

}  // namespace attnlab::cli
