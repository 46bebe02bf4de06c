#include "analysis/compare/statistics.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>

#include <fmt/core.h>

namespace attnlab::analysis {

double t_quantile_975(std::size_t degrees) {
  static constexpr std::array<double, 30> kTable = {
      12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
      2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
      2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  if (degrees == 0) return 0.0;
  if (degrees <= kTable.size()) return kTable[degrees - 1];
  // Cornish-Fisher first term: z + (z^3 + z) / (4 df), accurate to ~1e-3 beyond 30.
  constexpr double z = 1.959964;
  return z + (z * z * z + z) / (4.0 * static_cast<double>(degrees));
}

Summary summarise(const std::vector<double>& values) {
  Summary summary;
  summary.n = values.size();
  if (values.empty()) return summary;
  summary.mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(summary.n);
  summary.min = *std::min_element(values.begin(), values.end());
  summary.max = *std::max_element(values.begin(), values.end());
  if (summary.n > 1) {
    double squares = 0.0;
    for (double value : values) squares += (value - summary.mean) * (value - summary.mean);
    summary.std = std::sqrt(squares / static_cast<double>(summary.n - 1));
    summary.ci95 = t_quantile_975(summary.n - 1) * summary.std / std::sqrt(static_cast<double>(summary.n));
  }
  return summary;
}

std::string format_summary(const Summary& summary) {
  if (summary.n == 0) return "-";
  if (summary.n == 1) return fmt::format("{:.4g}", summary.mean);
  return fmt::format("{:.4g} ± {:.2g}", summary.mean, summary.ci95);
}

}  // namespace attnlab::analysis
