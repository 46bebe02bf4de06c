#include "analysis/compare/compare_folders.h"

#include "analysis/compare/comparison.h"

namespace attnlab::analysis {

CompareResult compare_folders(const CompareRequest& request) {
  const auto runs = load_runs(request.dirs);
  const auto comparison = compare_runs(runs);
  const auto out = !request.out.empty()     ? request.out
                   : request.dirs.size() == 1 ? request.dirs.front() / "compare"
                                              : std::filesystem::path("compare");
  return {comparison_table(comparison), write_comparison(comparison, out)};
}

}  // namespace attnlab::analysis
