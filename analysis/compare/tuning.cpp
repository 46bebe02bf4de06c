#include "analysis/compare/tuning.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

namespace attnlab::analysis {
namespace {

std::optional<double> as_number(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size()) return std::nullopt;
  return value;
}

std::vector<const RunResult*> completed_runs(const Comparison& comparison) {
  std::vector<const RunResult*> runs;
  for (const auto& group : comparison.groups) {
    runs.insert(runs.end(), group.runs.begin(), group.runs.end());
  }
  return runs;
}

std::invalid_argument not_swept(const std::string& key, const std::vector<const RunResult*>& runs) {
  if (runs.empty()) {
    return std::invalid_argument("--tune " + key + ": no completed run to tune over");
  }
  for (const auto* run : runs) {
    if (run->config.count(key) != 0) {
      return std::invalid_argument("--tune " + key + ": the key was not swept (every completed " +
                                   "run has " + key + "=" + run->config_value(key) + ")");
    }
  }
  return std::invalid_argument("--tune " + key + ": no run has this config key (it was not swept)");
}

// The requested keys, each once, every one a key that differs between the runs.
std::vector<std::string> checked_tuned_keys(const Comparison& comparison,
                                            const TuneRequest& request) {
  const auto& varying = comparison.varying_keys;
  std::vector<std::string> keys;
  for (const auto& key : request.keys) {
    if (key.empty()) {
      throw std::invalid_argument("--tune: an empty key (--tune train.lr,model.d_model)");
    }
    if (std::find(keys.begin(), keys.end(), key) != keys.end()) continue;
    if (ignored_for_grouping(key)) {
      throw std::invalid_argument("--tune " + key + ": never a group key (seeds are averaged over; "
                                  "runtime.* and experiment.results_dir say where a run ran)");
    }
    if (std::find(varying.begin(), varying.end(), key) == varying.end()) {
      throw not_swept(key, completed_runs(comparison));
    }
    keys.push_back(key);
  }
  return keys;
}

// The differing keys that are not tuned, less those a tuned choice implies: tuning variant.name
// tunes variant.score with it, rather than grouping by it.
std::vector<std::string> other_keys(const Comparison& comparison,
                                    const std::vector<std::string>& tuned) {
  const auto runs = completed_runs(comparison);
  std::vector<std::string> others;
  for (const auto& key : comparison.varying_keys) {
    if (std::find(tuned.begin(), tuned.end(), key) != tuned.end()) continue;
    const bool follows_a_tuned_choice =
        std::any_of(tuned.begin(), tuned.end(), [&](const std::string& choice) {
          return implied_keys({choice, key}, runs).count(key) > 0;
        });
    if (!follows_a_tuned_choice) others.push_back(key);
  }
  return others;
}

std::map<std::string, std::string> values_of(const Group& group,
                                             const std::vector<std::string>& keys) {
  std::map<std::string, std::string> values;
  for (const auto& key : keys) values[key] = group.keys.at(key);
  return values;
}

// "k=v, k=v" over the keys a label names (not those a `.name` choice implies), as compare's.
std::string label_of(const TunedGroup& group, const std::set<std::string>& implied) {
  const auto& run = *group.settings.front().group->runs.front();
  std::string label;
  for (const auto& [key, value] : group.keys) {
    if (implied.count(key) == 0 && label_names(run, key)) {
      label += (label.empty() ? "" : ", ") + key + "=" + value;
    }
  }
  if (!label.empty()) return label;
  const auto& variant = run.config_value("variant.name");
  return variant.empty() ? "all" : variant;
}

bool setting_less(const TunedSetting& a, const TunedSetting& b) {
  for (const auto& [key, value] : a.values) {
    const auto& other = b.values.at(key);
    if (value != other) return config_value_less(value, other);
  }
  return false;
}

// One tuned group per task and values of the other keys; each comparison group is one setting.
std::vector<TunedGroup> collect_settings(const Comparison& comparison,
                                         const std::vector<std::string>& tuned,
                                         const std::vector<std::string>& others) {
  std::map<std::pair<std::string, std::map<std::string, std::string>>, TunedGroup> by_identity;
  for (const auto& group : comparison.groups) {
    auto& tuned_group = by_identity[{group.task, values_of(group, others)}];
    tuned_group.task = group.task;
    tuned_group.keys = values_of(group, others);
    tuned_group.settings.push_back({values_of(group, tuned), &group, {}});
  }
  const auto implied = implied_keys(others, completed_runs(comparison));
  std::vector<TunedGroup> groups;
  for (auto& [identity, group] : by_identity) {
    std::sort(group.settings.begin(), group.settings.end(), setting_less);
    group.label = label_of(group, implied);
    groups.push_back(std::move(group));
  }
  return groups;
}

void check_each_key_varies(const TunedGroup& group, const std::vector<std::string>& tuned) {
  for (const auto& key : tuned) {
    std::set<std::string> values;
    for (const auto& setting : group.settings) values.insert(setting.values.at(key));
    if (values.size() > 1) continue;
    throw std::invalid_argument(fmt::format(
        "--tune {}: the key does not vary within group `{}` (task {}): every run there has "
        "{}={}; tuning needs at least two values in every group",
        key, group.label, group.task, key, *values.begin()));
  }
}

std::string missing_validation(const RunResult& run) {
  const auto step = selection_step(run);
  if (!step) return "--tune: " + run.dir.string() + " logged no validation row (metrics.jsonl)";
  return fmt::format("--tune: {} has no validation row at step {} (the checkpoint it was tested "
                     "on, else its best): the choice is made on validation scores only",
                     run.dir.string(), *step);
}

Summary validation_over_seeds(const TunedSetting& setting, const SplitMetric& metric) {
  std::vector<double> values;
  for (const auto* run : setting.group->runs) {
    const auto score = validation_score(*run, metric);
    if (!score) throw std::invalid_argument(missing_validation(*run));
    values.push_back(*score);
  }
  return summarise(values);
}

// Sees the settings' validation summaries and nothing else; ties keep the earlier setting.
std::size_t best_setting(const std::vector<TunedSetting>& settings, const SplitMetric& metric) {
  std::size_t best = 0;
  for (std::size_t index = 1; index < settings.size(); ++index) {
    if (better_score(settings[index].validation.mean, settings[best].validation.mean,
                     metric.higher_is_better)) {
      best = index;
    }
  }
  return best;
}

void read_test_of_choice(TunedGroup& group, const SplitMetric& metric) {
  std::vector<double> values;
  for (const auto* run : group.choice().group->runs) {
    if (const auto score = test_score(*run, metric)) {
      values.push_back(*score);
    } else {
      group.untested.push_back(run);
    }
  }
  group.test = summarise(values);
}

// Within each task: tested groups by mean test score, then the untested ones, unranked.
void rank_by_test(std::vector<TunedGroup>& groups, const SplitMetric& metric) {
  std::sort(groups.begin(), groups.end(), [&metric](const TunedGroup& a, const TunedGroup& b) {
    if (a.task != b.task) return a.task < b.task;
    if ((a.test.n > 0) != (b.test.n > 0)) return a.test.n > 0;
    if (better_score(a.test.mean, b.test.mean, metric.higher_is_better)) return true;
    if (better_score(b.test.mean, a.test.mean, metric.higher_is_better)) return false;
    return a.label < b.label;
  });
  std::string task;
  int rank = 0;
  for (auto& group : groups) {
    rank = group.task == task ? rank + 1 : 1;
    task = group.task;
    group.rank = group.test.n > 0 ? rank : 0;
  }
}

}  // namespace

bool better_score(double candidate, double incumbent, bool higher_is_better) {
  if (std::isnan(candidate)) return false;
  if (std::isnan(incumbent)) return true;
  return higher_is_better ? candidate > incumbent : candidate < incumbent;
}

bool config_value_less(const std::string& a, const std::string& b) {
  const auto number_a = as_number(a), number_b = as_number(b);
  if (number_a && number_b && *number_a != *number_b) return *number_a < *number_b;
  return a < b;
}

TunedComparison tune_comparison(const Comparison& comparison, const TuneRequest& request) {
  TunedComparison tuned{{}, {}, split_metric(request.metric), {}};
  tuned.tuned_keys = checked_tuned_keys(comparison, request);
  tuned.group_keys = other_keys(comparison, tuned.tuned_keys);
  tuned.groups = collect_settings(comparison, tuned.tuned_keys, tuned.group_keys);
  for (const auto& group : tuned.groups) check_each_key_varies(group, tuned.tuned_keys);
  for (auto& group : tuned.groups) {
    for (auto& setting : group.settings) {
      setting.validation = validation_over_seeds(setting, tuned.metric);
    }
    group.chosen = best_setting(group.settings, tuned.metric);
  }
  // Only now, with every choice made, are test scores read.
  for (auto& group : tuned.groups) read_test_of_choice(group, tuned.metric);
  rank_by_test(tuned.groups, tuned.metric);
  return tuned;
}

}  // namespace attnlab::analysis
