#include "experiments/train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include <fmt/format.h>
#include <torch/utils.h>

#include "base/atomic_file.h"
#include "base/progress.h"
#include "base/read_file.h"
#include "experiments/model/model_config.h"
#include "experiments/train/checkpoint.h"
#include "experiments/train/evaluate.h"
#include "experiments/train/metrics_log.h"
#include "experiments/train/optimizer.h"
#include "experiments/train/resume.h"
#include "experiments/train/train_log.h"
#include "experiments/train/train_settings.h"
#include "experiments/train/train_step.h"
#include "experiments/train/train_summary.h"

namespace attnlab::train {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

model::Transformer training_model(const config::Config& config, const tasks::Task& task,
                                  const torch::Device& device) {
  model::Transformer model(model::model_spec(config, task));
  model->to(device);
  model->train();
  return model;
}

// A vocabulary the task built from its data goes into the run when it starts; a resumed run
// checks that its data still gives the same one (the text file may have changed since).
void keep_vocabulary(const run::RunDir& run, const tasks::Task& task) {
  const auto vocabulary = task.vocabulary();
  if (vocabulary.empty()) return;
  const auto file = run.vocabulary_file();
  if (!std::filesystem::exists(file)) {
    attnlab::write_file_atomic(file, vocabulary);
    return;
  }
  const auto kept = attnlab::read_file(file);
  if (!kept) throw attnlab::IoError("cannot read " + file.string());
  if (*kept != vocabulary) {
    throw config::ConfigError("task.path, task.vocabulary: the vocabulary they give differs from "
                              "the run's " + file.string() + " (the text changed since the run "
                              "began)");
  }
}

// The run's task, its vocabulary kept (or checked) before a checkpoint is loaded into a model
// sized by it.
std::shared_ptr<tasks::Task> run_task(const config::Config& config, const run::RunDir& run) {
  auto task = tasks::make_task(config);
  keep_vocabulary(run, *task);
  return task;
}

// A training run under way: its task, model and optimiser, its files, and the counters that its
// checkpoints keep. train() below calls one method per step of its loop.
class Trainer {
 public:
  Trainer(const config::Config& config, const TrainSettings& settings, const run::RunDir& run,
          const TrainOptions& options);

  std::int64_t first_step() const { return start_.state.step; }
  void optimiser_step(std::int64_t step);
  void log_train_row(std::int64_t completed);
  void notify_observers(std::int64_t completed);
  void evaluate_and_keep_best(std::int64_t completed);
  void save_step_checkpoint(std::int64_t completed);
  nlohmann::json finish(Clock::time_point wall_start);

 private:
  StepSums forward_backward_micro_batches(std::int64_t step);
  void skip_or_stop(std::int64_t completed, double grad_norm);
  EvalMetrics validate();
  void save(const std::filesystem::path& path, std::int64_t completed);

  const TrainSettings& settings_;
  const run::RunDir& run_;
  const TrainOptions& options_;
  // In this order: the optimiser holds the model's parameters once they are on the device, a
  // resume loads into both, and the metrics log keeps the rows up to the step resumed from.
  std::shared_ptr<tasks::Task> task_;
  model::Transformer model_;
  FusedAdamW optimizer_;
  const StartingPoint start_;
  TrainerState state_;  // what the next checkpoint keeps; its window holds the train-row sums
  MetricsLog metrics_;
  attnlab::Progress progress_;
  TrainLog log_;
  const double tokens_per_step_;
  double lr_ = 0.0;                // of the latest step
  std::int64_t window_steps_ = 0;  // steps and their time since the last train row
  double window_seconds_ = 0.0;
  EvalMetrics last_val_;  // examples == 0 until a validation pass
};

Trainer::Trainer(const config::Config& config, const TrainSettings& settings,
                 const run::RunDir& run, const TrainOptions& options)
    : settings_(settings),
      run_(run),
      options_(options),
      task_(run_task(config, run)),
      model_(training_model(config, *task_, settings.device)),
      optimizer_(make_optimizer(*model_, settings.adamw)),
      start_(options.resume ? resume_from_checkpoints(run, model_, optimizer_, settings.config_toml)
                            : StartingPoint{fresh_state(), {}}),
      state_(start_.state),
      metrics_(run.metrics_jsonl(), run.metrics_csv(), state_.step),
      progress_(settings.progress, settings.steps, state_.step),
      log_(run.log_file(), progress_),
      tokens_per_step_(static_cast<double>(settings.batch * task_->sequence_length())) {
  for (const auto& note : start_.notes) log_.line(note);
  if (!settings.precision.warning.empty()) {
    // On stderr whatever runtime.progress says: the run is not what its config asked for.
    fmt::print(stderr, "warning: {}\n", settings.precision.warning);
    log_.line("warning: " + settings.precision.warning);
  }
  log_.line(fmt::format("run {} | {} parameters | {} threads | task {} | variant {}",
                        run.path().string(), model_->parameter_count(), settings.threads,
                        settings.task, settings.variant));
  for (const auto& observer : options.observers) observer->on_start(model_, state_.step);
}

void Trainer::optimiser_step(std::int64_t step) {
  const auto start = Clock::now();
  lr_ = settings_.schedule.at(step);
  set_learning_rate(optimizer_, lr_);
  optimizer_.zero_grad();
  const StepSums sums = forward_backward_micro_batches(step);
  // The global gradient norm, clipped when train.grad_clip > 0 (computed either way): one
  // number that is finite exactly when every gradient is, checked before the step can spread a
  // NaN into the weights and the next checkpoint. A skipped step (train.skip_nonfinite) makes
  // no update and adds nothing to the logged training loss.
  const double grad_norm = clip_gradient_norm(*model_, settings_.grad_clip);
  if (std::isfinite(grad_norm)) {
    optimizer_.step();
    state_.window += sums;
  } else {
    skip_or_stop(step + 1, grad_norm);
  }
  const double seconds = seconds_since(start);
  state_.train_seconds += seconds;
  window_seconds_ += seconds;
  ++window_steps_;
}

StepSums Trainer::forward_backward_micro_batches(std::int64_t step) {
  StepSums sums;
  for (std::int64_t micro = 0; micro < settings_.micro_batches; ++micro) {
    const tasks::Batch batch =
        task_->examples(tasks::Split::Train, step * settings_.batch + micro * settings_.micro_batch,
                        settings_.micro_batch);
    sums += forward_backward(model_, batch, settings_.device, settings_.micro_batches,
                             settings_.precision.precision);
  }
  return sums;
}

void Trainer::skip_or_stop(std::int64_t completed, double grad_norm) {
  if (state_.skipped_steps >= settings_.skips_allowed) {
    stop_on_non_finite(*model_, run_.checkpoints(), completed, grad_norm, state_.skipped_steps);
  }
  ++state_.skipped_steps;
  log_.line(fmt::format("{}: step skipped, {} of {} allowed (train.skip_nonfinite)",
                        describe_non_finite_step(*model_, completed, grad_norm),
                        state_.skipped_steps, settings_.skips_allowed));
}

void Trainer::log_train_row(std::int64_t completed) {
  // A window of skipped steps only has nothing scored, so no loss to report (not a loss of 0):
  // it writes no train row.
  const StepSums& sums = state_.window;
  if (sums.scored != 0.0) {
    MetricsRow row;
    row.step = completed;
    row.split = "train";
    row.loss = sums.mean_loss();
    row.accuracy = sums.accuracy();
    row.sequence_accuracy = sums.sequence_accuracy();
    row.lr = lr_;
    row.tokens_per_second =
        window_seconds_ > 0 ? tokens_per_step_ * window_steps_ / window_seconds_ : 0.0;
    row.elapsed_seconds = state_.train_seconds;
    metrics_.append(row);
    progress_.update(completed, row.loss, *row.tokens_per_second);
  }
  state_.window = StepSums{};
  window_steps_ = 0;
  window_seconds_ = 0.0;
}

void Trainer::notify_observers(std::int64_t completed) {
  const bool last_step = completed == settings_.steps;
  for (const auto& observer : options_.observers) observer->on_step(model_, completed, last_step);
}

void Trainer::evaluate_and_keep_best(std::int64_t completed) {
  last_val_ = validate();
  metrics_.append({completed, "val", last_val_.loss, last_val_.accuracy,
                   last_val_.sequence_accuracy, lr_, std::nullopt, state_.train_seconds,
                   last_val_.extra});
  log_.line(fmt::format("step {} val loss {:.4f} accuracy {:.4f} sequence accuracy {:.4f}",
                        completed, last_val_.loss, last_val_.accuracy,
                        last_val_.sequence_accuracy));
  if (last_val_.loss < state_.best_val_loss) {
    state_.best_val_loss = last_val_.loss;
    state_.best_step = completed;
    save(run_.checkpoints() / "best.pt", completed);
  }
}

void Trainer::save_step_checkpoint(std::int64_t completed) {
  save(step_checkpoint_path(run_.checkpoints(), completed), completed);
  prune_checkpoints(run_.checkpoints(), settings_.keep_checkpoints);
}

nlohmann::json Trainer::finish(Clock::time_point wall_start) {
  progress_.finish();
  // A resumed run that was already complete still reports its final validation numbers.
  if (last_val_.examples == 0) last_val_ = validate();
  TrainingOutcome outcome;
  outcome.state = state_;
  outcome.final_val = last_val_;
  outcome.wall_seconds = seconds_since(wall_start);
  outcome.tokens_per_step = tokens_per_step_;
  outcome.parameters = model_->parameter_count();
  auto summary = training_summary(settings_, run_, outcome, options_.cost_estimate);
  for (const auto& observer : options_.observers) observer->on_finish(summary);
  attnlab::write_file_atomic(run_.summary(), summary.dump(2) + "\n");
  log_.line(fmt::format("done: val accuracy {:.4f}, {:.0f} tokens/s, results in {}",
                        last_val_.accuracy, summary["tokens_per_s"].get<double>(),
                        run_.path().string()));
  return summary;
}

EvalMetrics Trainer::validate() {
  return evaluate(model_, *task_, tasks::Split::Val, settings_.batch, settings_.device);
}

void Trainer::save(const std::filesystem::path& path, std::int64_t completed) {
  state_.step = completed;
  save_checkpoint(path, *model_, optimizer_, state_, settings_.config_toml);
}

}  // namespace

nlohmann::json train(const config::Config& config, const run::RunDir& run,
                     const TrainOptions& options) {
  const auto wall_start = Clock::now();
  const TrainSettings settings = train_settings(config);
  torch::set_num_threads(settings.threads);
  torch::manual_seed(static_cast<std::uint64_t>(settings.seed));
  Trainer trainer(config, settings, run, options);
  for (std::int64_t step = trainer.first_step(); step < settings.steps; ++step) {
    trainer.optimiser_step(step);
    const std::int64_t completed = step + 1;
    if (settings.due(settings.log_every, completed)) trainer.log_train_row(completed);
    trainer.notify_observers(completed);
    if (settings.due(settings.eval_every, completed)) trainer.evaluate_and_keep_best(completed);
    if (settings.due(settings.checkpoint_every, completed)) {
      trainer.save_step_checkpoint(completed);
    }
  }
  return trainer.finish(wall_start);
}

}  // namespace attnlab::train
