#include "experiments/train/trainer.h"

#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>

#include <fmt/format.h>
#include <torch/utils.h>

#include "experiments/model/model_config.h"
#include "experiments/run/atomic_file.h"
#include "experiments/run/progress.h"
#include "experiments/run/schema.h"
#include "experiments/run/system_info.h"
#include "experiments/train/checkpoint.h"
#include "experiments/train/evaluate.h"
#include "experiments/train/metrics_log.h"
#include "experiments/train/optimizer.h"
#include "experiments/train/schedule.h"
#include "experiments/train/train_step.h"

namespace attnlab::train {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

class TrainLog {
 public:
  TrainLog(const std::filesystem::path& path, run::Progress& progress)
      : file_(path, std::ios::app), progress_(progress) {}
  void line(const std::string& text) {
    file_ << run::timestamp_now() << "  " << text << "\n";
    file_.flush();
    progress_.message(text);
  }

 private:
  std::ofstream file_;
  run::Progress& progress_;
};

// "step 12: gradient norm is nan (first parameter with a non-finite gradient: blocks.0.w)".
std::string non_finite_step(const model::TransformerImpl& model, std::int64_t step,
                            double grad_norm) {
  std::string first = "?";
  for (const auto& named : model.named_parameters()) {
    const auto& grad = named.value().grad();
    if (grad.defined() && !torch::isfinite(grad).all().item<bool>()) {
      first = named.key();
      break;
    }
  }
  return fmt::format("step {}: gradient norm is {} (first parameter with a non-finite gradient: "
                     "{})",
                     step, std::isnan(grad_norm) ? std::string("nan") : fmt::format("{}", grad_norm),
                     first);
}

[[noreturn]] void throw_non_finite(const model::TransformerImpl& model, const run::RunDir& run,
                                   std::int64_t step, double grad_norm, std::int64_t skipped) {
  const auto checkpoints = step_checkpoints(run.checkpoints());
  throw NonFiniteGradients(fmt::format(
      "{}; training stopped before the update{}. {}", non_finite_step(model, step, grad_norm),
      skipped > 0 ? fmt::format(", after skipping {} such step(s) (train.skip_nonfinite)", skipped)
                  : std::string(),
      checkpoints.empty() ? std::string("No checkpoint was written yet.")
                          : "The newest checkpoint is kept: " + checkpoints.front().string()));
}

}  // namespace

nlohmann::json train(const config::Config& config, const run::RunDir& run,
                     const TrainOptions& options) {
  const auto wall_start = Clock::now();
  const int threads = run::resolve_threads(config);
  torch::set_num_threads(threads);
  const torch::Device device(config.get_string("runtime.device"));
  torch::manual_seed(static_cast<std::uint64_t>(config.get_int("seed")));

  const auto task = tasks::make_task(config);
  model::Transformer model(model::model_spec(config, *task));
  model->to(device);
  model->train();
  auto optimizer = make_optimizer(*model, adamw_settings(config));
  const PrecisionChoice precision = resolve_precision(config.get_string("train.precision"), device);

  const std::int64_t total_steps = config.get_int("train.steps");
  const std::int64_t batch_size = config.get_int("train.batch");
  const std::int64_t micro_batches = config.get_int("train.accumulate");
  const std::int64_t micro_batch = batch_size / micro_batches;
  const std::int64_t log_every = config.get_int("train.log_every");
  const std::int64_t eval_every = config.get_int("train.eval_every");
  const std::int64_t checkpoint_every = config.get_int("train.checkpoint_every");
  const double grad_clip = config.get_float("train.grad_clip");
  const std::int64_t skips_allowed = config.get_int("train.skip_nonfinite");
  const Schedule schedule{config.get_float("train.lr"), config.get_float("train.min_lr_ratio"),
                          config.get_int("train.warmup"), total_steps};
  const std::string config_toml = config.to_toml();

  TrainerState state;
  state.window.assign(kStepCountFields, 0.0);
  state.best_val_loss = std::numeric_limits<double>::infinity();
  std::vector<std::string> resume_notes;
  if (options.resume) {
    // The newest checkpoint that loads wins; a damaged one (should an fsync have lied) is skipped.
    // One made for another model stops the resume (CheckpointMismatch passes through), and so
    // does a run whose every checkpoint is damaged: starting again at step 0 would discard them.
    const auto checkpoints = step_checkpoints(run.checkpoints());
    bool resumed = false;
    for (const auto& path : checkpoints) {
      try {
        state = load_checkpoint(path, model.ptr().get(), &optimizer, config.to_toml());
        resume_notes.push_back(fmt::format("resumed from {} (step {})", path.string(), state.step));
        resumed = true;
        break;
      } catch (const CheckpointMismatch&) {
        throw;
      } catch (const CheckpointError& error) {
        resume_notes.push_back(fmt::format("skipping {}", error.what()));
      }
    }
    if (!resumed && !checkpoints.empty()) {
      std::string notes;
      for (const auto& note : resume_notes) notes += "\n  " + note;
      throw CheckpointError("none of the run's checkpoints loads; not starting it again from step "
                            "0 over them:" + notes);
    }
    if (!resumed) resume_notes.push_back("no checkpoint to resume from: starting at step 0");
  }

  MetricsLog metrics(run.metrics_jsonl(), run.metrics_csv(), state.step);
  run::Progress progress(config.get_string("runtime.progress"), total_steps, state.step);
  TrainLog log(run.log_file(), progress);
  for (const auto& note : resume_notes) log.line(note);
  if (!precision.warning.empty()) {
    // On stderr whatever runtime.progress says: the run is not what its config asked for.
    fmt::print(stderr, "warning: {}\n", precision.warning);
    log.line("warning: " + precision.warning);
  }
  log.line(fmt::format("run {} | {} parameters | {} threads | task {} | variant {}",
                       run.path().string(), model->parameter_count(), threads,
                       config.get_string("task.name"), config.get_string("variant.name")));

  for (const auto& observer : options.observers) observer->on_start(model, state.step);

  auto window = torch::tensor(state.window, torch::kDouble);
  const double tokens_per_step = static_cast<double>(batch_size * task->sequence_length());
  std::int64_t window_steps = 0;
  double window_seconds = 0.0;
  EvalMetrics last_val;
  double last_train_loss = std::numeric_limits<double>::quiet_NaN();
  double current_lr = schedule.at(state.step);

  for (std::int64_t step = state.step; step < total_steps; ++step) {
    const auto step_start = Clock::now();
    current_lr = schedule.at(step);
    set_learning_rate(optimizer, current_lr);
    optimizer.zero_grad();
    torch::Tensor step_sums;
    for (std::int64_t micro = 0; micro < micro_batches; ++micro) {
      tasks::Batch batch =
          task->examples(tasks::Split::Train, step * batch_size + micro * micro_batch, micro_batch);
      const auto sums = forward_backward(model, batch, device, micro_batches, precision.precision);
      step_sums = step_sums.defined() ? step_sums + sums : sums;
    }
    // The global gradient norm, clipped when train.grad_clip > 0 (computed either way): one
    // number that is finite exactly when every gradient is, checked before the step can spread a
    // NaN into the weights and the next checkpoint. A skipped step (train.skip_nonfinite) makes
    // no update and adds nothing to the logged training loss.
    const double grad_norm = clip_gradient_norm(*model, grad_clip);
    if (std::isfinite(grad_norm)) {
      optimizer.step();
      window += step_sums;
    } else if (state.skipped_steps < skips_allowed) {
      ++state.skipped_steps;
      log.line(fmt::format("{}: step skipped, {} of {} allowed (train.skip_nonfinite)",
                           non_finite_step(*model, step + 1, grad_norm), state.skipped_steps,
                           skips_allowed));
    } else {
      throw_non_finite(*model, run, step + 1, grad_norm, state.skipped_steps);
    }
    const std::int64_t completed = step + 1;
    const bool last_step = completed == total_steps;
    const double step_seconds = seconds_since(step_start);
    state.train_seconds += step_seconds;
    window_seconds += step_seconds;
    ++window_steps;

    // A window of skipped steps only has nothing scored, so no loss to report (not a loss of 0):
    // it writes no train row.
    const bool log_now = completed % log_every == 0 || last_step;
    if (log_now && window[1].item<double>() == 0.0) {
      window_steps = 0;
      window_seconds = 0.0;
    } else if (log_now) {
      const auto sums = window.accessor<double, 1>();
      const double scored = std::max(1.0, sums[1]);
      MetricsRow row;
      row.step = completed;
      row.split = "train";
      row.loss = sums[0] / scored;
      row.accuracy = sums[2] / scored;
      row.sequence_accuracy = sums[3] / std::max(1.0, sums[4]);
      row.lr = current_lr;
      row.tokens_per_second = window_seconds > 0 ? tokens_per_step * window_steps / window_seconds : 0.0;
      row.elapsed_seconds = state.train_seconds;
      metrics.append(row);
      last_train_loss = row.loss;
      progress.update(completed, row.loss, *row.tokens_per_second);
      window.zero_();
      window_steps = 0;
      window_seconds = 0.0;
    }

    for (const auto& observer : options.observers) observer->on_step(model, completed, last_step);

    if (completed % eval_every == 0 || last_step) {
      last_val = evaluate(model, *task, tasks::Split::Val, batch_size, device);
      metrics.append({completed, "val", last_val.loss, last_val.accuracy,
                      last_val.sequence_accuracy, current_lr, std::nullopt, state.train_seconds,
                      last_val.extra});
      log.line(fmt::format("step {} val loss {:.4f} accuracy {:.4f} sequence accuracy {:.4f}",
                           completed, last_val.loss, last_val.accuracy,
                           last_val.sequence_accuracy));
      if (last_val.loss < state.best_val_loss) {
        state.best_val_loss = last_val.loss;
        state.best_step = completed;
        state.step = completed;
        state.window.assign(window.data_ptr<double>(), window.data_ptr<double>() + kStepCountFields);
        save_checkpoint(run.checkpoints() / "best.pt", *model, optimizer, state, config_toml);
      }
    }

    if (completed % checkpoint_every == 0 || last_step) {
      state.step = completed;
      state.window.assign(window.data_ptr<double>(), window.data_ptr<double>() + kStepCountFields);
      save_checkpoint(step_checkpoint_path(run.checkpoints(), completed), *model, optimizer, state,
                      config_toml);
      prune_checkpoints(run.checkpoints(), config.get_int("train.keep_checkpoints"));
    }
  }
  progress.finish();
  state.step = total_steps;

  // A resumed run that was already complete still reports its final validation numbers.
  if (last_val.examples == 0) last_val = evaluate(model, *task, tasks::Split::Val, batch_size, device);
  const auto best_rows = MetricsLog::read_jsonl(run.metrics_jsonl());
  nlohmann::json best = nullptr;
  for (const auto& row : best_rows) {
    if (row.split == "val" && row.step == state.best_step) {
      best = {{"step", row.step}, {"val_loss", row.loss}, {"val_accuracy", row.accuracy},
              {"val_sequence_accuracy", row.sequence_accuracy}};
    }
  }
  for (auto it = best_rows.rbegin(); it != best_rows.rend(); ++it) {
    if (it->split == "train") {
      last_train_loss = it->loss;
      break;
    }
  }
  nlohmann::json summary = {
      {"status", "completed"},
      {"run", run.path().string()},
      {"experiment", config.get_string("experiment.name")},
      {"variant", config.get_string("variant.name")},
      {"task", config.get_string("task.name")},
      {"model", config.get_string("model.name")},
      {"seed", config.get_int("seed")},
      {"steps", total_steps},
      {"skipped_steps", state.skipped_steps},
      {"final",
       {{"train_loss", last_train_loss},
        {"val_loss", last_val.loss},
        {"val_accuracy", last_val.accuracy},
        {"val_sequence_accuracy", last_val.sequence_accuracy},
        {"val_metrics", last_val.extra}}},
      {"best", best},
      {"wall_time_s", seconds_since(wall_start)},
      {"train_time_s", state.train_seconds},
      {"tokens_per_s", state.train_seconds > 0
                           ? tokens_per_step * static_cast<double>(total_steps) / state.train_seconds
                           : 0.0},
      {"peak_rss_mb", run::peak_rss_mb()},
      {"cost_estimate", options.cost_estimate},
      {"parameters", model->parameter_count()},
      {"environment", run::environment_json(threads)}};
  for (const auto& observer : options.observers) observer->on_finish(summary);
  run::write_file_atomic(run.summary(), summary.dump(2) + "\n");
  log.line(fmt::format("done: val accuracy {:.4f}, {:.0f} tokens/s, results in {}",
                       last_val.accuracy, summary["tokens_per_s"].get<double>(),
                       run.path().string()));
  return summary;
}

}  // namespace attnlab::train
