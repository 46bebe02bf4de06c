#include "experiments/bench/attention_scaling.h"

#include <algorithm>
#include <set>
#include <sstream>
#include <utility>

#include <fmt/core.h>

#include "base/csv_number.h"

namespace attnlab::bench {

double log_log_slope(const std::vector<double>& x, const std::vector<double>& y) {
  std::vector<std::pair<double, double>> logs;  // (log x, log y)
  std::set<double> distinct;
  for (std::size_t index = 0; index < x.size() && index < y.size(); ++index) {
    const bool usable = std::isfinite(x[index]) && std::isfinite(y[index]) && x[index] > 0.0 &&
                        y[index] > 0.0;
    if (!usable) continue;
    logs.emplace_back(std::log(x[index]), std::log(y[index]));
    distinct.insert(x[index]);
  }
  if (static_cast<int>(distinct.size()) < kScalingMinimumLengths) return NAN;
  double mean_x = 0.0, mean_y = 0.0;
  for (const auto& [log_x, log_y] : logs) {
    mean_x += log_x;
    mean_y += log_y;
  }
  mean_x /= static_cast<double>(logs.size());
  mean_y /= static_cast<double>(logs.size());
  double covariance = 0.0, variance = 0.0;
  for (const auto& [log_x, log_y] : logs) {
    covariance += (log_x - mean_x) * (log_y - mean_y);
    variance += (log_x - mean_x) * (log_x - mean_x);
  }
  return covariance / variance;
}

std::vector<ScalingFit> fit_scaling(const std::vector<AttentionMeasurement>& rows) {
  std::vector<std::pair<std::string, std::string>> keys;  // (variant, path), first appearance
  for (const auto& row : rows) {
    const std::pair<std::string, std::string> key{row.variant, row.path};
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
  }
  std::vector<ScalingFit> fits;
  for (const auto& [variant, path] : keys) {
    std::vector<double> lengths, times, peaks;
    std::set<std::int64_t> distinct;
    for (const auto& row : rows) {
      if (row.variant != variant || row.path != path || !row.error.empty()) continue;
      lengths.push_back(static_cast<double>(row.length));
      times.push_back(row.forward_backward_ms);
      peaks.push_back(row.forward_backward_peak_mb);
      distinct.insert(row.length);
    }
    if (static_cast<int>(distinct.size()) < kScalingMinimumLengths) continue;
    ScalingFit fit;
    fit.variant = variant;
    fit.path = path;
    fit.points = static_cast<int>(lengths.size());
    fit.min_length = *distinct.begin();
    fit.max_length = *distinct.rbegin();
    fit.time_exponent = log_log_slope(lengths, times);
    fit.memory_exponent = log_log_slope(lengths, peaks);
    fits.push_back(std::move(fit));
  }
  return fits;
}

std::string scaling_csv(const AttentionBenchmarkSettings& settings, int threads,
                        const std::vector<ScalingFit>& fits) {
  std::ostringstream out;
  out << "variant,path,direction,B,H,d_head,threads,points,T_min,T_max,time_exponent,"
         "memory_exponent,time_measure,memory_measure\n";
  for (const auto& fit : fits) {
    out << fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", csv_text(fit.variant),
                       csv_text(fit.path), settings.direction, settings.batch, settings.heads,
                       settings.head_dim, threads, fit.points, fit.min_length, fit.max_length,
                       csv_number(fit.time_exponent), csv_number(fit.memory_exponent),
                       "forward_backward_ms", "forward_backward_peak_mb");
  }
  return out.str();
}

std::filesystem::path scaling_csv_path(const std::filesystem::path& output) {
  return output.parent_path() / (output.stem().string() + "_scaling.csv");
}

}  // namespace attnlab::bench
