// The figure of a tuned comparison: validation score against one tuned key, one line per group
// of a task, so that a reader sees how sharp each variant's optimum is and whether the sweep
// brackets it (a best value at the edge of the range asks for a wider sweep).
#pragma once

#include <string>
#include <vector>

#include "analysis/compare/tuning.h"

namespace attnlab::analysis {

// Each point: the mean validation score (band: ±1 std over seeds) of the best setting of the other
// tuned keys at that value of `key`. Numeric values spanning a factor of 10 or more are drawn on a
// log10 axis; text values at their index, named in the axis label.
std::string tuning_figure_svg(const TunedComparison& tuned, const std::string& task,
                              const std::string& key);

// The keys the groups of a task differ in (not tuned) whose values are all numbers, two or more:
// model.d_model across a width sweep. Each gets tuned_against_figure_svg.
std::vector<std::string> numeric_group_keys(const TunedComparison& tuned, const std::string& task);

// Each group's tuned score against a numeric group key, one line per setting of the other group
// keys: accuracy against width, each point at its own best learning rate (Zoology's figure 2).
// Each point: the chosen setting's mean validation score, band ±1 std over seeds.
std::string tuned_against_figure_svg(const TunedComparison& tuned, const std::string& task,
                                     const std::string& key);

}  // namespace attnlab::analysis
