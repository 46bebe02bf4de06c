// Induction-head timing (Olsson et al. 2022): in each run, the step at which the prefix-matching
// score jumps against the step at which the in-context-learning score drops. Induction heads
// forming is what makes later tokens cheaper to predict, so across seeds the two steps should
// move together, whenever each run's phase change happens.
//
// Read from what a run already has: the attention dump (attention.h5; prefix matching of every
// head at every snapshot, analysis/heads) and the validation rows of metrics.jsonl (the induction
// task's icl_score). Steps between measurements are interpolated; the curves' resolution is
// record.every for the dump and train.eval_every for the metric.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "analysis/compare/run_results.h"

namespace attnlab::analysis {

struct Curve {
  std::vector<long> steps;
  std::vector<double> values;
};

enum class Direction { Rising, Falling };

// The least change that counts as a transition: prefix matching is a fraction of attention (a
// formed induction head scores above 0.8, a uniform one about 0.1); icl_score is in nats.
inline constexpr double kLeastPrefixMatchingRise = 0.3;
inline constexpr double kLeastIclDrop = 0.5;

// The step at which `curve` first covers half of its change from its first value to its extreme
// in `direction` (the largest value when rising, the smallest when falling), interpolated linearly
// between the two measurements around the crossing; none when that change is smaller than
// `least_change`. Non-finite values are skipped.
std::optional<double> transition_step(const Curve& curve, Direction direction,
                                      double least_change);

struct RunTiming {
  std::filesystem::path run;
  std::string seed;
  Curve prefix_matching;  // per snapshot: the largest prefix-matching score of any head
  Curve icl_score;        // per evaluation
  std::optional<double> prefix_matching_step, icl_step;
};

// Throws std::invalid_argument naming the run when it has no icl_score (a task other than
// induction), no attention dump, or a dump without maps, and dump::DumpError when the dump cannot
// be read.
RunTiming run_timing(const RunResult& run);

// One row per run: its folder, seed, the two steps (nan where there is no transition), their
// difference, and each curve's first and extreme value. For pandas.
std::string timing_csv(const std::vector<RunTiming>& timings);
// For the terminal: the same rows with the steps rounded, and how many runs had both transitions.
std::string timing_table(const std::vector<RunTiming>& timings);
// A scatter plot of the icl_score step against the prefix-matching step, one dot per run, with
// the diagonal where the two coincide.
std::string timing_figure_svg(const std::vector<RunTiming>& timings);

}  // namespace attnlab::analysis
