// A short training run's config and its loss curve as exact text, shared by the training and
// recording tests.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "experiments/run/schema.h"
#include "experiments/train/metrics_log.h"

namespace attnlab::testing {

// The default experiment cut to 40 steps (checkpoints and evals every 10) with results under
// `results`; `extra` overrides come last.
inline config::Config short_run(const std::filesystem::path& results,
                                std::vector<std::string> extra = {}) {
  std::vector<std::string> overrides = {
      "experiment.results_dir=" + results.string(), "train.steps=40", "train.log_every=5",
      "train.eval_every=10", "train.checkpoint_every=10", "train.warmup=5",
      "task.val_examples=64", "runtime.progress=none", "runtime.threads=1"};
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  return run::load_config(run::default_config_file(), overrides);
}

// The columns that must not depend on timing, each row as exact text (shortest round-trip
// doubles), so equal means bit-identical.
inline std::vector<std::string> curve(const std::filesystem::path& run_dir) {
  std::vector<std::string> rows;
  for (const auto& row : train::MetricsLog::read_jsonl(run_dir / "metrics.jsonl")) {
    rows.push_back(fmt::format("{} {} {} {} {} {}", row.step, row.split, row.loss, row.accuracy,
                               row.sequence_accuracy, row.lr));
  }
  return rows;
}

}  // namespace attnlab::testing
