// `attnlab compare`: groups runs by every config key that differs between them except the seed
// (and where/how they ran), summarises each metric over the seeds of a group, and ranks the
// groups of each task.
#pragma once

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "analysis/compare/run_results.h"
#include "analysis/compare/statistics.h"

namespace attnlab::analysis {

struct MetricSpec {
  std::string name;         // column name
  std::string summary_key;  // JSON pointer into summary.json, e.g. "/final/val_accuracy"
  bool higher_is_better;
};
const std::vector<MetricSpec>& compared_metrics();

struct Group {
  std::string label;                          // "variant.name=rope, train.lr=0.001"
  std::map<std::string, std::string> keys;    // the differing keys' values
  std::string task;                           // task.name (ranks are per task)
  std::vector<const RunResult*> runs;         // completed runs only
  std::map<std::string, Summary> metrics;     // by MetricSpec::name
  int rank = 0;                               // 1 = best mean final accuracy within its task
};

struct Comparison {
  std::vector<std::string> varying_keys;
  std::vector<Group> groups;                  // sorted by task, then rank
  std::vector<const RunResult*> not_completed;  // listed apart, never averaged in
};

// Keys never used for grouping: the seed, and where or how a run was executed.
bool ignored_for_grouping(const std::string& key);

// Varying keys a varying group choice (`<group>.name`) determines, e.g. variant.score under
// variant.name: labels leave them out.
std::set<std::string> implied_keys(const std::vector<std::string>& varying,
                                   const std::vector<const RunResult*>& runs);

Comparison compare_runs(const std::vector<RunResult>& runs);

// Whether a run's label names a varying key: not task.name (groups are per task, and every table
// and figure shows the task), nor a key the run does not have (a layer_variant.* of another run's
// layer list) or an empty list (the model.layer_variants of a run without layers).
bool label_names(const RunResult& run, const std::string& key);

// `text` as part of a file name: letters, digits and '-' kept, anything else '_' ("all" if empty).
std::string file_safe(const std::string& text);

std::string comparison_table(const Comparison& comparison);  // terminal
std::string comparison_markdown(const Comparison& comparison);
std::string comparison_csv(const Comparison& comparison);    // one row per group and metric

// compare.md (the comparison's markdown, then `more_markdown`: further sections such as the tuned
// table), compare.csv, curves-<task>.svg (validation accuracy, mean and a ±1 std band over
// seeds) and bars-<task>.svg (final accuracy with 95% CIs) in `out`. Returns the files written.
std::vector<std::filesystem::path> write_comparison(const Comparison& comparison,
                                                    const std::filesystem::path& out,
                                                    const std::string& more_markdown = "");

}  // namespace attnlab::analysis
