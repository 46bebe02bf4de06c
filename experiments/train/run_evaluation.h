// `attnlab eval`: a finished run's checkpoint evaluated on a split, and at the other task lengths
// of eval.lengths (length generalisation: the same weights on longer or shorter inputs), with the
// terminal table and <run>/eval-<split>.json made from the result.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiments/train/evaluate.h"

namespace attnlab::train {

struct EvalRequest {
  std::filesystem::path run;
  std::string split = "test";         // val or test
  std::string checkpoint = "best";    // best, latest or a file (find_checkpoint)
  std::vector<std::string> overrides;  // eval.* and runtime.* only
};

// The model at one eval.lengths value: evaluated, or skipped (learned input positions do not
// reach that length) with the reason.
struct LengthEvaluation {
  std::int64_t task_length = 0;
  std::int64_t sequence_length = 0;
  std::optional<EvalMetrics> metrics;
  std::string skipped;
};

struct RunEvaluation {
  std::filesystem::path run;
  std::filesystem::path checkpoint;
  std::int64_t step = 0;
  std::string split;
  std::int64_t task_length = 0;  // the length the run was trained at
  EvalMetrics metrics;           // at task_length
  std::vector<LengthEvaluation> lengths;
};

// Checks every input before any work (config::ConfigError for bad overrides, split or lengths;
// CheckpointError for a missing or mismatched checkpoint), then evaluates.
RunEvaluation evaluate_run(const EvalRequest& request);

// One row per length (the trained one first), then the task's extra metrics.
std::string evaluation_table(const RunEvaluation& evaluation);

// loss, accuracy, sequence_accuracy, examples and the extra metrics, as eval and ablate write
// them.
nlohmann::json metrics_json(const EvalMetrics& metrics);

// Writes <run>/eval-<split>.json atomically; returns its path.
std::filesystem::path write_evaluation(const RunEvaluation& evaluation);

}  // namespace attnlab::train
