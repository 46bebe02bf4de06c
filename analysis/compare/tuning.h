// `compare --tune KEY...`: a fair comparison when each variant is tuned. For each group of the
// other differing keys, the setting of the tuned keys with the best mean validation score over
// seeds is chosen, and that setting's test score (mean and 95% CI over seeds) is reported. The
// choice reads validation scores only (split_scores.h); test scores are read for the chosen
// setting once it is chosen, so a test result can never steer the choice.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "analysis/compare/comparison.h"
#include "analysis/compare/split_scores.h"
#include "analysis/compare/statistics.h"

namespace attnlab::analysis {

struct TuneRequest {
  std::vector<std::string> keys;    // swept config keys, e.g. train.lr; empty: no tuning
  std::string metric = "accuracy";  // split_metric(): accuracy, sequence_accuracy or loss
};

struct TunedSetting {
  std::map<std::string, std::string> values;  // tuned key -> value
  const Group* group = nullptr;               // its runs: one group of the comparison
  Summary validation;                         // over its seeds
};

struct TunedGroup {
  std::string label;                        // the other differing keys: "variant.name=rope"
  std::string task;
  std::map<std::string, std::string> keys;  // the other differing keys' values
  std::vector<TunedSetting> settings;       // every setting tried, in order of the tuned values
  std::size_t chosen = 0;                   // index into settings
  Summary test;                             // the chosen setting's test score over its seeds
  std::vector<const RunResult*> untested;   // chosen runs without eval-test.json
  int rank = 0;                             // by mean test score within the task; 0: no test
  const TunedSetting& choice() const { return settings[chosen]; }
};

struct TunedComparison {
  std::vector<std::string> tuned_keys;
  std::vector<std::string> group_keys;  // the other differing keys
  SplitMetric metric;
  std::vector<TunedGroup> groups;  // by task, then rank (untested groups last)
};

// Throws std::invalid_argument, naming the key and the group, for a tuned key that was not swept
// or that does not vary within some group, and for a run without a validation score. Reads
// nothing but the comparison's runs and writes nothing, so bad input fails before any output.
TunedComparison tune_comparison(const Comparison& comparison, const TuneRequest& request);

// Whether a mean score beats another in the metric's direction; NaN (a diverged seed) never does.
bool better_score(double candidate, double incumbent, bool higher_is_better);

// Orders config values as numbers when both are numbers (0.0003 before 0.001), else as text.
bool config_value_less(const std::string& a, const std::string& b);

}  // namespace attnlab::analysis
