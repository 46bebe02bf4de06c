#include "analysis/compare/induction_timing.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <stdexcept>

#include <fmt/format.h>

#include "analysis/figures/svg_chart.h"
#include "analysis/heads/head_analysis.h"
#include "base/csv_number.h"
#include "dump/dump_reader.h"

namespace attnlab::analysis {
namespace {

constexpr const char* kDumpFile = "attention.h5";
constexpr const char* kIclMetric = "icl_score";

double first_finite(const Curve& curve) {
  for (double value : curve.values) {
    if (std::isfinite(value)) return value;
  }
  return std::numeric_limits<double>::quiet_NaN();
}

double extreme(const Curve& curve, Direction direction) {
  double best = std::numeric_limits<double>::quiet_NaN();
  for (double value : curve.values) {
    if (!std::isfinite(value)) continue;
    if (!std::isfinite(best) || (direction == Direction::Rising ? value > best : value < best)) {
      best = value;
    }
  }
  return best;
}

Curve curve_of(const std::map<long, double>& values) {
  Curve curve;
  for (const auto& [step, value] : values) {
    curve.steps.push_back(step);
    curve.values.push_back(value);
  }
  return curve;
}

// Per snapshot, the largest prefix-matching score of any head in any layer.
Curve prefix_matching_curve(const RunResult& run, const std::filesystem::path& dump_path) {
  const dump::DumpReader reader(dump_path);
  if (!reader.has_maps()) {
    throw std::invalid_argument(run.dir.string() + ": " + kDumpFile +
                                " holds no attention maps (record.maps = false), and prefix "
                                "matching is read from them");
  }
  std::vector<std::int64_t> snapshots(static_cast<std::size_t>(reader.snapshots()));
  std::iota(snapshots.begin(), snapshots.end(), std::int64_t{0});
  std::map<long, double> largest;  // step -> score
  for (const auto& head : heads::analyse_heads(reader, snapshots).heads) {
    auto [entry, inserted] =
        largest.emplace(static_cast<long>(head.step), std::numeric_limits<double>::quiet_NaN());
    const double score = head.scores.induction;
    if (std::isfinite(score) && !(score <= entry->second)) entry->second = score;
  }
  return curve_of(largest);
}

// A resumed run logs the steps after its checkpoint again: the last row of a step wins.
Curve icl_curve(const RunResult& run) {
  std::map<long, double> by_step;
  for (const auto& point : run.val_curve) {
    const auto found = point.others.find(kIclMetric);
    if (found != point.others.end()) by_step[point.step] = found->second;
  }
  return curve_of(by_step);
}

// The run as a reader tells it apart from another sweep's: its folder and its parent's.
std::string run_name(const std::filesystem::path& run) {
  return (run.parent_path().filename() / run.filename()).string();
}

double step_value(const std::optional<double>& step) {
  return step.value_or(std::numeric_limits<double>::quiet_NaN());
}

// Steps are printed whole, and their difference is that of the printed steps.
std::optional<double> rounded(const std::optional<double>& step) {
  if (!step) return step;
  return std::round(*step);
}

std::string step_text(const std::optional<double>& step) {
  return step ? fmt::format("{:.0f}", *step) : "none";
}

}  // namespace

std::optional<double> transition_step(const Curve& curve, Direction direction,
                                      double least_change) {
  const double start = first_finite(curve), end = extreme(curve, direction);
  if (!std::isfinite(start) || !(std::abs(end - start) >= least_change)) return std::nullopt;
  const double halfway = start + (end - start) / 2.0;
  const auto past = [&](double value) {
    return direction == Direction::Rising ? value >= halfway : value <= halfway;
  };
  std::optional<std::size_t> before;  // the last finite measurement short of halfway
  for (std::size_t i = 0; i < curve.values.size(); ++i) {
    const double value = curve.values[i];
    if (!std::isfinite(value)) continue;
    if (!past(value)) {
      before = i;
      continue;
    }
    const double step = static_cast<double>(curve.steps[i]);
    if (!before) return step;
    const double previous_step = static_cast<double>(curve.steps[*before]);
    const double previous = curve.values[*before];
    return previous_step + (step - previous_step) * (halfway - previous) / (value - previous);
  }
  return std::nullopt;  // unreachable: the extreme itself is past halfway
}

RunTiming run_timing(const RunResult& run) {
  RunTiming timing;
  timing.run = run.dir;
  timing.seed = run.config_value("seed");
  timing.icl_score = icl_curve(run);
  if (timing.icl_score.steps.empty()) {
    throw std::invalid_argument(run.dir.string() + ": metrics.jsonl has no validation " +
                                kIclMetric + " (induction timing needs task=induction)");
  }
  const auto dump_path = run.dir / kDumpFile;
  if (!std::filesystem::exists(dump_path)) {
    throw std::invalid_argument(run.dir.string() + ": no " + kDumpFile +
                                " (induction timing needs the recording, record.every > 0)");
  }
  timing.prefix_matching = prefix_matching_curve(run, dump_path);
  timing.prefix_matching_step =
      transition_step(timing.prefix_matching, Direction::Rising, kLeastPrefixMatchingRise);
  timing.icl_step = transition_step(timing.icl_score, Direction::Falling, kLeastIclDrop);
  return timing;
}

std::string timing_csv(const std::vector<RunTiming>& timings) {
  std::string csv =
      "run,seed,prefix_matching_step,icl_step,icl_minus_prefix_matching_steps,"
      "prefix_matching_first,prefix_matching_largest,icl_first,icl_smallest\n";
  for (const auto& timing : timings) {
    const double prefix_step = step_value(timing.prefix_matching_step);
    const double icl_step = step_value(timing.icl_step);
    csv += fmt::format("{},{},{},{},{},{},{},{},{}\n", csv_text(timing.run.string()),
                       csv_text(timing.seed), csv_number(prefix_step), csv_number(icl_step),
                       csv_number(icl_step - prefix_step),
                       csv_number(first_finite(timing.prefix_matching)),
                       csv_number(extreme(timing.prefix_matching, Direction::Rising)),
                       csv_number(first_finite(timing.icl_score)),
                       csv_number(extreme(timing.icl_score, Direction::Falling)));
  }
  return csv;
}

std::string timing_table(const std::vector<RunTiming>& timings) {
  std::string table = fmt::format(
      "induction timing: the step at which the largest prefix-matching score rose halfway to its "
      "peak,\nand the step at which icl_score fell halfway to its lowest (interpolated)\n{:<40} {:>6} {:>16} "
      "{:>10} {:>11}\n",
      "run", "seed", "prefix matching", "icl_score", "difference");
  int both = 0;
  for (const auto& timing : timings) {
    const auto prefix_step = rounded(timing.prefix_matching_step);
    const auto icl_step = rounded(timing.icl_step);
    const bool has_both = prefix_step && icl_step;
    both += has_both ? 1 : 0;
    table += fmt::format("{:<40} {:>6} {:>16} {:>10} {:>11}\n", run_name(timing.run), timing.seed,
                         step_text(prefix_step), step_text(icl_step),
                         has_both ? fmt::format("{:+.0f}", *icl_step - *prefix_step) : "");
  }
  table += fmt::format("{} of {} runs had both transitions\n", both, timings.size());
  return table;
}

std::string timing_figure_svg(const std::vector<RunTiming>& timings) {
  LineSeries runs{"runs (one dot each)", {}, {}, {}, {}, false, /*markers=*/true};
  double lowest = std::numeric_limits<double>::infinity(), highest = 0.0;
  for (const auto& timing : timings) {
    const double x = step_value(timing.prefix_matching_step), y = step_value(timing.icl_step);
    runs.x.push_back(x);
    runs.y.push_back(y);
    if (std::isfinite(x) && std::isfinite(y)) {
      lowest = std::min({lowest, x, y});
      highest = std::max({highest, x, y});
    }
  }
  std::vector<LineSeries> series{runs};
  if (std::isfinite(lowest)) {
    series.push_back({"same step", {lowest, highest}, {lowest, highest}, {}, {}, /*dashed=*/true});
  }
  return line_chart_svg("Induction heads: prefix matching against in-context learning",
                        "step at which prefix matching jumps",
                        "step at which icl_score drops", series);
}

}  // namespace attnlab::analysis
