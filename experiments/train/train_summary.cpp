#include "experiments/train/train_summary.h"

#include <limits>
#include <vector>

#include "experiments/run/system_info.h"
#include "experiments/train/metrics_log.h"

namespace attnlab::train {
namespace {

// The validation row of the best step, or null when there is none.
nlohmann::json best_row(const std::vector<MetricsRow>& rows, std::int64_t best_step) {
  nlohmann::json best = nullptr;
  for (const auto& row : rows) {
    if (row.split == "val" && row.step == best_step) {
      best = {{"step", row.step}, {"val_loss", row.loss}, {"val_accuracy", row.accuracy},
              {"val_sequence_accuracy", row.sequence_accuracy}};
    }
  }
  return best;
}

// The loss of the last train row, NaN when no window scored anything.
double last_train_loss(const std::vector<MetricsRow>& rows) {
  for (auto it = rows.rbegin(); it != rows.rend(); ++it) {
    if (it->split == "train") return it->loss;
  }
  return std::numeric_limits<double>::quiet_NaN();
}

}  // namespace

nlohmann::json training_summary(const TrainSettings& settings, const run::RunDir& run,
                                const TrainingOutcome& outcome,
                                const nlohmann::json& cost_estimate) {
  const auto rows = MetricsLog::read_jsonl(run.metrics_jsonl());
  const auto& state = outcome.state;
  const auto& val = outcome.final_val;
  const double tokens = outcome.tokens_per_step * static_cast<double>(settings.steps);
  return {{"status", "completed"},
          {"run", run.path().string()},
          {"experiment", settings.experiment},
          {"variant", settings.variant},
          {"task", settings.task},
          {"model", settings.model},
          {"seed", settings.seed},
          {"steps", settings.steps},
          {"skipped_steps", state.skipped_steps},
          {"final",
           {{"train_loss", last_train_loss(rows)},
            {"val_loss", val.loss},
            {"val_accuracy", val.accuracy},
            {"val_sequence_accuracy", val.sequence_accuracy},
            {"val_metrics", val.extra}}},
          {"best", best_row(rows, state.best_step)},
          {"wall_time_s", outcome.wall_seconds},
          {"train_time_s", state.train_seconds},
          {"tokens_per_s", state.train_seconds > 0 ? tokens / state.train_seconds : 0.0},
          {"peak_rss_mb", run::peak_rss_mb()},
          {"cost_estimate", cost_estimate},
          {"parameters", outcome.parameters},
          {"environment", run::environment_json(settings.threads)}};
}

}  // namespace attnlab::train
