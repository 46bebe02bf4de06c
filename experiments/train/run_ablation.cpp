#include "experiments/train/run_ablation.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <torch/utils.h>

#include "base/atomic_file.h"
#include "base/progress.h"
#include "base/run_outputs.h"
#include "experiments/run/preflight.h"
#include "experiments/run/run_dir.h"
#include "experiments/run/schema.h"
#include "experiments/train/ablation_report.h"
#include "experiments/train/checkpoint.h"
#include "experiments/train/finished_run.h"
#include "experiments/train/run_evaluation.h"

namespace attnlab::train {
namespace {

// The checks that need nothing from the run.
void check_request(const AblateRequest& request) {
  check_run_overrides(request.overrides, "ablate");
  if (request.split != "val" && request.split != "test") {
    throw config::ConfigError("--split " + request.split + ": must be val or test");
  }
  if (request.examples < 0) {
    throw config::ConfigError("--examples " + std::to_string(request.examples) +
                              ": must be 0 (the whole split) or more");
  }
}

// A missing checkpoint is a bad --checkpoint here, refused before the model is built.
std::filesystem::path requested_checkpoint(const run::RunDir& run, const std::string& which) {
  try {
    return find_checkpoint(run.checkpoints(), which);
  } catch (const CheckpointError& error) {
    throw config::ConfigError(std::string("--checkpoint ") + which + ": " + error.what());
  }
}

std::filesystem::path output_folder(const run::RunDir& run, const std::filesystem::path& out) {
  const auto folder = out.empty() ? run.path() / attnlab::kAblationFolder : out;
  if (std::filesystem::exists(folder) && !std::filesystem::is_directory(folder)) {
    throw config::ConfigError("--out " + folder.string() + ": exists and is not a directory");
  }
  return folder;
}

std::vector<std::string> layer_kinds(const model::Transformer& model) {
  std::vector<std::string> kinds;
  for (const auto& layer : model->attention_layers()) {
    kinds.push_back(layer->site().cross ? "cross" : "self");
  }
  return kinds;
}

// ablate_heads() with one progress line per evaluation: what was masked, its loss and accuracy
// and how long the evaluation took.
HeadAblation ablate_with_progress(model::Transformer& model, const tasks::Task& task,
                                  const EvaluationSet& set, const std::string& progress_mode,
                                  std::int64_t evaluations) {
  attnlab::Progress progress(progress_mode, evaluations, 0);
  std::int64_t done = 0;
  auto last = std::chrono::steady_clock::now();
  const auto on_evaluation = [&](const std::string& masked, const EvalMetrics& metrics) {
    const auto now = std::chrono::steady_clock::now();
    progress.message(fmt::format("[{}/{}] masked {}: loss {:.4f} accuracy {:.4f} ({:.1f} s)",
                                 ++done, evaluations, masked, metrics.loss, metrics.accuracy,
                                 std::chrono::duration<double>(now - last).count()));
    last = now;
  };
  auto ablation = ablate_heads(model, task, set, on_evaluation);
  progress.finish();
  return ablation;
}

}  // namespace

RunAblation ablate_run(const AblateRequest& request,
                       const std::function<void(const std::string&)>& announce) {
  check_request(request);
  const auto split = tasks::parse_split(request.split);
  const auto run = run::RunDir::open(request.run);
  const auto config = run::load_run_config(run, request.overrides);
  run::check_runnable(config);
  const auto checkpoint = requested_checkpoint(run, request.checkpoint);
  const auto out = output_folder(run, request.out);

  torch::set_num_threads(run::resolve_threads(config));
  const torch::Device device(config.get_string("runtime.device"));
  const auto task = tasks::make_task(config);
  auto trained = load_trained_model(config, *task, checkpoint, device);
  const EvaluationSet set{split, eval_batch_size(config), request.examples, device};
  const auto heads = static_cast<std::int64_t>(all_heads(trained.model).size());
  const auto evaluations = 2 * static_cast<std::int64_t>(pruning_counts(heads).size()) + heads;
  const auto split_size = task->split_size(split);
  const auto examples = request.examples > 0 ? std::min(request.examples, split_size) : split_size;
  announce(fmt::format("{}: checkpoint {} (step {}), {} split ({} examples), {} heads in {} "
                       "attention layers: importance, then {} evaluations\n",
                       run.path().string(), checkpoint.filename().string(), trained.step,
                       request.split, examples, heads, trained.model->attention_layers().size(),
                       evaluations));
  RunAblation result{run.path(), checkpoint, trained.step, request.split, examples, out,
                     config.to_toml(), layer_kinds(trained.model), {}};
  result.ablation = ablate_with_progress(trained.model, *task, set,
                                         config.get_string("runtime.progress"), evaluations);
  return result;
}

std::vector<std::filesystem::path> write_ablation(const RunAblation& result) {
  const auto& ablation = result.ablation;
  const nlohmann::json summary = {{"run", result.run.string()},
                                  {"checkpoint", result.checkpoint.string()},
                                  {"step", result.step},
                                  {"split", result.split},
                                  {"examples", result.examples},
                                  {"importance_examples", ablation.importance.examples},
                                  {"heads", ablation.heads.size()},
                                  {"unmasked", metrics_json(ablation.unmasked())},
                                  {"config", result.config_toml}};
  std::error_code error;
  std::filesystem::create_directories(result.out, error);
  if (error) {
    throw attnlab::IoError("cannot create " + result.out.string() + ": " + error.message());
  }
  const auto title = fmt::format("{} (step {}, {})", result.run.filename().string(), result.step,
                                 result.split);
  const std::vector<std::pair<std::string, std::string>> files = {
      {kPruningFile, pruning_csv(ablation.curve)},
      {kPruningReverseFile, pruning_csv(ablation.reverse_curve)},
      {kAblationFile, ablation_csv(ablation)},
      {kPruningFigure, pruning_svg(ablation, title)},
      {kAblationSummaryFile, summary.dump(2) + "\n"}};
  std::vector<std::filesystem::path> written;
  for (const auto& [name, content] : files) {
    written.push_back(result.out / name);
    attnlab::write_file_atomic(written.back(), content);
  }
  return written;
}

}  // namespace attnlab::train
