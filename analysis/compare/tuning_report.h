// What `compare --tune` shows and writes: the tuned table (terminal and compare.md), one CSV row
// per group (compare_tuned.csv) and the validation-against-key figures.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "analysis/compare/tuning.h"

namespace attnlab::analysis {

std::string tuned_table(const TunedComparison& tuned);     // terminal
std::string tuned_markdown(const TunedComparison& tuned);  // a section of compare.md

// One row per group: task, group, rank, the other differing keys, chosen_<tuned key> for each
// tuned key, settings_tried, metric, seeds, val_mean, val_std, test_n, test_mean, test_std,
// test_ci95. A missing rank or test score is an empty field (NaN in pandas).
std::string tuned_csv(const TunedComparison& tuned);

// Writes compare_tuned.csv and, per task and tuned key, tune-<task>-<key>.svg (and the
// tuned-<task>-by-<key>.svg figures); tuned_markdown goes into compare.md through
// write_comparison. Returns the files written.
std::vector<std::filesystem::path> write_tuned(const TunedComparison& tuned,
                                               const std::filesystem::path& out);

}  // namespace attnlab::analysis
