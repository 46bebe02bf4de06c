#include "analysis/compare/compare_folders.h"

#include <optional>
#include <stdexcept>

#include "analysis/compare/comparison.h"
#include "analysis/compare/induction_timing.h"
#include "analysis/compare/length_generalisation.h"
#include "analysis/compare/tuning_report.h"
#include "base/atomic_file.h"

namespace attnlab::analysis {
namespace {

// Checked before anything is written.
std::optional<TunedComparison> tuned_if_asked(const Comparison& comparison,
                                              const TuneRequest& tune) {
  if (!tune.keys.empty()) return tune_comparison(comparison, tune);
  if (tune.metric != TuneRequest{}.metric) {
    throw std::invalid_argument("--tune-metric " + tune.metric + ": needs --tune KEY");
  }
  return std::nullopt;
}

// Every completed run's timing, read before anything is written.
std::vector<RunTiming> timings_if_asked(const std::vector<RunResult>& runs, bool asked) {
  std::vector<RunTiming> timings;
  if (!asked) return timings;
  for (const auto& run : runs) {
    if (run.completed()) timings.push_back(run_timing(run));
  }
  return timings;
}

void write_timings(const std::vector<RunTiming>& timings, const std::filesystem::path& out,
                   CompareResult& result) {
  const auto csv = out / "induction_timing.csv", figure = out / "induction_timing.svg";
  write_file_atomic(csv, timing_csv(timings));
  write_file_atomic(figure, timing_figure_svg(timings));
  result.table += "\n" + timing_table(timings);
  result.written.insert(result.written.end(), {csv, figure});
}

}  // namespace

CompareResult compare_folders(const CompareRequest& request) {
  const auto runs = load_runs(request.dirs);
  const auto comparison = compare_runs(runs);
  const auto tuned = tuned_if_asked(comparison, request.tune);
  const auto timings = timings_if_asked(runs, request.induction_timing);
  const auto lengths = length_generalisation(comparison);
  const auto out = !request.out.empty()     ? request.out
                   : request.dirs.size() == 1 ? request.dirs.front() / "compare"
                                              : std::filesystem::path("compare");
  CompareResult result{comparison_table(comparison),
                       write_comparison(comparison, out, tuned ? tuned_markdown(*tuned) : "")};
  if (tuned) {
    result.table += "\n" + tuned_table(*tuned);
    const auto files = write_tuned(*tuned, out);
    result.written.insert(result.written.end(), files.begin(), files.end());
  }
  if (!lengths.empty()) {
    result.table += "\n" + lengths_table(lengths);
    const auto files = write_lengths(lengths, out);
    result.written.insert(result.written.end(), files.begin(), files.end());
  }
  if (request.induction_timing) write_timings(timings, out, result);
  return result;
}

}  // namespace attnlab::analysis
