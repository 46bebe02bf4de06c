// Length generalisation in `attnlab compare`: each group's test accuracy at the trained length
// and at every other evaluated length, from its runs' eval-test.json (`attnlab eval` with
// eval.lengths), as mean and 95% CI over seeds. A length the run could not evaluate (learned
// input positions end at the trained length) counts as skipped, never as a score.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "analysis/compare/comparison.h"

namespace attnlab::analysis {

struct LengthScore {
  long length = 0;           // task.length evaluated
  Summary accuracy;          // over the runs that evaluated it (a diverged score left out)
  Summary sequence_accuracy;
  std::size_t skipped = 0;   // runs that could not evaluate it
};

struct GroupLengths {
  std::string task, label;           // the group's
  long trained_length = 0;           // task.length of the runs (the first run's, when they differ)
  std::vector<LengthScore> lengths;  // ascending, the trained one included
};

// Groups with at least one run evaluated at a length other than its trained one, in the
// comparison's order; empty when no run was.
std::vector<GroupLengths> length_generalisation(const Comparison& comparison);

std::string lengths_table(const std::vector<GroupLengths>& groups);  // for the terminal
// One row per group and length: task,group,trained_length,length,length_ratio,n,skipped, then
// mean, std and ci95 of accuracy and of sequence accuracy (empty: NaN to pandas).
std::string lengths_csv(const std::vector<GroupLengths>& groups);
// Per task: test accuracy against evaluated length, one line per group (±1 std band).
std::string lengths_figure_svg(const std::vector<GroupLengths>& groups, const std::string& task);

// compare_lengths.csv and lengths-<task>.svg in `out`; returns the files written.
std::vector<std::filesystem::path> write_lengths(const std::vector<GroupLengths>& groups,
                                                 const std::filesystem::path& out);

}  // namespace attnlab::analysis
