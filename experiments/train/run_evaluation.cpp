#include "experiments/train/run_evaluation.h"

#include <fmt/core.h>
#include <torch/utils.h>

#include "base/atomic_file.h"
#include "experiments/run/preflight.h"
#include "experiments/run/run_dir.h"
#include "experiments/run/schema.h"
#include "experiments/train/checkpoint.h"
#include "experiments/train/finished_run.h"

namespace attnlab::train {
namespace {

LengthEvaluation evaluate_at_length(const config::Config& config, const tasks::Task& trained,
                                    model::Transformer& model, std::int64_t length,
                                    tasks::Split split, const torch::Device& device) {
  const auto task = tasks::make_task(config.with_int("task.length", length));
  LengthEvaluation result{length, task->sequence_length(), std::nullopt, ""};
  if (!run::evaluates_at(config, trained, *task)) {
    result.skipped = "learned positions cover only " + std::to_string(trained.sequence_length()) +
                     " tokens";
  } else {
    result.metrics = evaluate(model, *task, split, eval_batch_size(config), device);
  }
  return result;
}

std::string metrics_row(std::int64_t length, const EvalMetrics& metrics) {
  return fmt::format("  {:>8} {:>10.4f} {:>10.4f} {:>10.4f}\n", length, metrics.loss,
                     metrics.accuracy, metrics.sequence_accuracy);
}

nlohmann::json length_json(const LengthEvaluation& length) {
  nlohmann::json entry = {{"task_length", length.task_length},
                          {"sequence_length", length.sequence_length}};
  if (length.metrics) {
    entry["result"] = metrics_json(*length.metrics);
  } else {
    entry["skipped"] = length.skipped;
  }
  return entry;
}

}  // namespace

RunEvaluation evaluate_run(const EvalRequest& request) {
  check_run_overrides(request.overrides, "eval");
  const auto split = tasks::parse_split(request.split);
  if (split == tasks::Split::Train) throw config::ConfigError("--split must be val or test");
  const auto run = run::RunDir::open(request.run);
  const auto config = run::load_run_config(run, request.overrides);
  run::check_runnable(config);  // every eval.lengths value included
  torch::set_num_threads(run::resolve_threads(config));
  const torch::Device device(config.get_string("runtime.device"));

  const auto task = tasks::make_task(config);
  const auto checkpoint = find_checkpoint(run.checkpoints(), request.checkpoint);
  auto trained = load_trained_model(config, *task, checkpoint, device);
  RunEvaluation evaluation{run.path(), checkpoint, trained.step, request.split,
                           config.get_int("task.length"),
                           evaluate(trained.model, *task, split, eval_batch_size(config), device),
                           {}};
  for (const auto length : config.get_int_list("eval.lengths")) {
    evaluation.lengths.push_back(
        evaluate_at_length(config, *task, trained.model, length, split, device));
  }
  return evaluation;
}

std::string evaluation_table(const RunEvaluation& evaluation) {
  std::string text = fmt::format("{} split, checkpoint {} (step {}):\n", evaluation.split,
                                 evaluation.checkpoint.filename().string(), evaluation.step);
  text += fmt::format("  {:>8} {:>10} {:>10} {:>10}\n", "length", "loss", "accuracy", "seq acc");
  text += metrics_row(evaluation.task_length, evaluation.metrics);
  for (const auto& length : evaluation.lengths) {
    text += length.metrics ? metrics_row(length.task_length, *length.metrics)
                           : fmt::format("  {:>8} skipped: {}\n", length.task_length,
                                         length.skipped);
  }
  for (const auto& [name, value] : evaluation.metrics.extra) {
    text += fmt::format("  {} = {:.4f}\n", name, value);
  }
  return text;
}

nlohmann::json metrics_json(const EvalMetrics& metrics) {
  return {{"loss", metrics.loss},
          {"accuracy", metrics.accuracy},
          {"sequence_accuracy", metrics.sequence_accuracy},
          {"examples", metrics.examples},
          {"metrics", metrics.extra}};
}

std::filesystem::path write_evaluation(const RunEvaluation& evaluation) {
  nlohmann::json lengths = nlohmann::json::array();
  for (const auto& length : evaluation.lengths) lengths.push_back(length_json(length));
  const nlohmann::json report = {{"run", evaluation.run.string()},
                                 {"checkpoint", evaluation.checkpoint.string()},
                                 {"step", evaluation.step},
                                 {"split", evaluation.split},
                                 {"task_length", evaluation.task_length},
                                 {"result", metrics_json(evaluation.metrics)},
                                 {"lengths", lengths}};
  const auto output = evaluation.run / ("eval-" + evaluation.split + ".json");
  attnlab::write_file_atomic(output, report.dump(2) + "\n");
  return output;
}

}  // namespace attnlab::train
