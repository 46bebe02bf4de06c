// The results of finished (and unfinished) runs, read from their directories: config.toml,
// summary.json, metrics.jsonl and eval-test.json. Reads files only; nothing here knows the model
// or trainer.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace attnlab::analysis {

struct CurvePoint {
  long step = 0;
  double accuracy = 0.0;
  double loss = 0.0;
  double sequence_accuracy = 0.0;
  // The row's other numbers: lr, elapsed_s and the task's metrics (the induction task's icl_score).
  std::map<std::string, double> others;
};

struct RunResult {
  std::filesystem::path dir;
  std::map<std::string, std::string> config;  // flattened: "train.lr" -> "0.001" (TOML text)
  std::string status;  // completed, or why not: "incomplete (no summary.json)", "failed", ...
  nlohmann::json summary;
  std::vector<CurvePoint> val_curve;
  nlohmann::json test_evaluation;  // eval-test.json (`attnlab eval`); null: absent or unreadable

  bool completed() const { return status == "completed"; }
  const std::string& config_value(const std::string& key) const;  // "" when absent
};

// Every run directory (a folder holding config.toml) at or below each root, sorted by path.
// Throws std::invalid_argument for a root that does not exist or holds no run.
std::vector<RunResult> load_runs(const std::vector<std::filesystem::path>& roots);

RunResult load_run(const std::filesystem::path& dir);

// A score of a metrics.jsonl row or an eval-*.json result: nullopt when the object has no such
// key, NaN when the value is not a number (JSON has no NaN, so a diverged score is written null).
std::optional<double> json_score(const nlohmann::json& object, const std::string& name);

}  // namespace attnlab::analysis
