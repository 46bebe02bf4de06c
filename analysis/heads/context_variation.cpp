#include "analysis/heads/context_variation.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace attnlab::heads {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Sum of squared deviations from the group's mean, from its sums: Σx² - (Σx)²/n (never negative;
// rounding can make it slightly so).
double squared_deviation(double sum, double sum_squared, std::int64_t count) {
  return std::max(0.0, sum_squared - sum * sum / static_cast<double>(count));
}

double vector_squared_deviation(const std::vector<double>& sum, double sum_squared,
                                std::int64_t count) {
  double norm = 0;
  for (const double value : sum) norm += value * value;
  return std::max(0.0, sum_squared - norm / static_cast<double>(count));
}

}  // namespace

void ContextAccumulator::Moments::add(double row_entropy, double row_max_weight,
                                      const std::vector<double>& row_offsets) {
  ++count;
  entropy += row_entropy, entropy_squared += row_entropy * row_entropy;
  max_weight += row_max_weight, max_weight_squared += row_max_weight * row_max_weight;
  if (offsets.empty()) offsets.assign(row_offsets.size(), 0.0);
  for (std::size_t index = 0; index < row_offsets.size(); ++index) {
    offsets[index] += row_offsets[index];
    offsets_squared += row_offsets[index] * row_offsets[index];
  }
}

void ContextAccumulator::add(std::int64_t token, double entropy, double max_weight,
                             const std::vector<double>& offsets) {
  types_[token].add(entropy, max_weight, offsets);
  all_.add(entropy, max_weight, offsets);
}

ContextVariation ContextAccumulator::finish() const {
  ContextVariation result;
  double entropy = 0, max_weight = 0, offsets = 0;
  std::int64_t degrees = 0;
  for (const auto& [token, moments] : types_) {
    if (moments.count < 2) continue;
    ++result.repeated_types;
    entropy += squared_deviation(moments.entropy, moments.entropy_squared, moments.count);
    max_weight +=
        squared_deviation(moments.max_weight, moments.max_weight_squared, moments.count);
    offsets += vector_squared_deviation(moments.offsets, moments.offsets_squared, moments.count);
    degrees += moments.count - 1;
  }
  const auto pooled = [](double sum, std::int64_t count) {
    return count < 1 ? kNaN : std::sqrt(sum / static_cast<double>(count));
  };
  result.entropy_spread = pooled(entropy, degrees);
  result.max_weight_spread = pooled(max_weight, degrees);
  result.offset_spread = pooled(offsets, degrees);
  const auto overall_degrees = all_.count - 1;
  result.entropy_overall =
      all_.count < 2 ? kNaN
                     : pooled(squared_deviation(all_.entropy, all_.entropy_squared, all_.count),
                              overall_degrees);
  result.max_weight_overall =
      all_.count < 2
          ? kNaN
          : pooled(squared_deviation(all_.max_weight, all_.max_weight_squared, all_.count),
                   overall_degrees);
  result.offset_overall =
      all_.count < 2
          ? kNaN
          : pooled(vector_squared_deviation(all_.offsets, all_.offsets_squared, all_.count),
                   overall_degrees);
  return result;
}

}  // namespace attnlab::heads
