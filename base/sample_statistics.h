// Summaries of repeated measurements (benchmark timings): the median and linear-interpolated
// percentiles. Header-only; NaN for no values.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace attnlab {

// fraction in [0, 1]: 0.5 is the median, with the two middle values averaged for an even count.
inline double percentile(std::vector<double> values, double fraction) {
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(values.begin(), values.end());
  const double position = fraction * static_cast<double>(values.size() - 1);
  const auto lower = static_cast<std::size_t>(std::floor(position));
  const auto upper = std::min(values.size() - 1, lower + 1);
  return values[lower] + (values[upper] - values[lower]) * (position - static_cast<double>(lower));
}

inline double median(std::vector<double> values) { return percentile(std::move(values), 0.5); }

}  // namespace attnlab
