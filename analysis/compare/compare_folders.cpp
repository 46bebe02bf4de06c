#include "analysis/compare/compare_folders.h"

#include <optional>
#include <stdexcept>

#include "analysis/compare/comparison.h"
#include "analysis/compare/tuning_report.h"

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

}  // namespace

CompareResult compare_folders(const CompareRequest& request) {
  const auto runs = load_runs(request.dirs);
  const auto comparison = compare_runs(runs);
  const auto tuned = tuned_if_asked(comparison, request.tune);
  const auto out = !request.out.empty()     ? request.out
                   : request.dirs.size() == 1 ? request.dirs.front() / "compare"
                                              : std::filesystem::path("compare");
  CompareResult result{comparison_table(comparison), write_comparison(comparison, out)};
  if (tuned) {
    result.table += "\n" + tuned_table(*tuned);
    const auto files = write_tuned(*tuned, out);
    result.written.insert(result.written.end(), files.begin(), files.end());
  }
  return result;
}

}  // namespace attnlab::analysis
