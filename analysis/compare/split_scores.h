// A run's score on the validation split and on the test split, for `compare --tune`. Validation
// comes from metrics.jsonl (training's own evaluations), test from eval-test.json (`attnlab
// eval`); the two are read apart so that a choice made on one can be reported on the other. The
// validation score is the tested checkpoint's, so the choice and the result describe the same
// weights.
#pragma once

#include <optional>
#include <string>

#include "analysis/compare/run_results.h"

namespace attnlab::analysis {

struct SplitMetric {
  std::string name;                // the same name in metrics.jsonl and eval-test.json
  double CurvePoint::*validation;  // the field of a validation row
  bool higher_is_better;
};

// accuracy, sequence_accuracy or loss; throws std::invalid_argument naming the metric otherwise.
const SplitMetric& split_metric(const std::string& name);

// The step whose validation score tuning reads: the tested checkpoint's (eval-test.json's `step`,
// never its scores), else the best checkpoint's (the one `attnlab eval` tests by default), else
// the last validation row's. nullopt when the run logged no validation row.
std::optional<long> selection_step(const RunResult& run);

// The validation score at selection_step; nullopt when metrics.jsonl has no row at that step.
std::optional<double> validation_score(const RunResult& run, const SplitMetric& metric);

// eval-test.json's score; nullopt when the run was not tested.
std::optional<double> test_score(const RunResult& run, const SplitMetric& metric);

}  // namespace attnlab::analysis
