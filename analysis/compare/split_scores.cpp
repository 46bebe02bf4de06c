#include "analysis/compare/split_scores.h"

#include <stdexcept>
#include <vector>

namespace attnlab::analysis {
namespace {

std::optional<long> step_at(const nlohmann::json& document, const char* pointer) {
  const auto path = nlohmann::json::json_pointer(pointer);
  if (!document.is_object() || !document.contains(path)) return std::nullopt;
  const auto& step = document.at(path);
  if (!step.is_number_integer()) return std::nullopt;
  return step.get<long>();
}

}  // namespace

const SplitMetric& split_metric(const std::string& name) {
  static const std::vector<SplitMetric> metrics = {
      {"accuracy", &CurvePoint::accuracy, true},
      {"sequence_accuracy", &CurvePoint::sequence_accuracy, true},
      {"loss", &CurvePoint::loss, false},
  };
  for (const auto& metric : metrics) {
    if (metric.name == name) return metric;
  }
  throw std::invalid_argument("--tune-metric " + name +
                              ": unknown metric (accuracy, sequence_accuracy or loss)");
}

std::optional<long> selection_step(const RunResult& run) {
  if (const auto tested = step_at(run.test_evaluation, "/step")) return tested;
  if (const auto best = step_at(run.summary, "/best/step")) return best;
  if (!run.val_curve.empty()) return run.val_curve.back().step;
  return std::nullopt;
}

std::optional<double> validation_score(const RunResult& run, const SplitMetric& metric) {
  const auto step = selection_step(run);
  if (!step) return std::nullopt;
  // The last row at that step: a resumed run may have logged the step twice.
  for (auto row = run.val_curve.rbegin(); row != run.val_curve.rend(); ++row) {
    if (row->step == *step) return (*row).*metric.validation;
  }
  return std::nullopt;
}

std::optional<double> test_score(const RunResult& run, const SplitMetric& metric) {
  if (!run.test_evaluation.is_object()) return std::nullopt;
  const auto result = run.test_evaluation.find("result");
  if (result == run.test_evaluation.end() || !result->is_object()) return std::nullopt;
  return json_score(*result, metric.name);
}

}  // namespace attnlab::analysis
