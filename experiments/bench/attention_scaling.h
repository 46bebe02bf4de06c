// The scaling summary of `attnlab bench attention`: for each (variant, path) measured at three or
// more lengths, the exponent p of forward+backward time ~ T^p and of peak memory growth ~ T^p,
// the least-squares slope of log(value) against log(T). p near 1 is what the chunked and linear
// paths promise in memory (and the linear path in time); near 2 is the quadratic cost of every
// score. Written beside the benchmark's CSV (attention.csv -> attention_scaling.csv).
//
// T = sequence length.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "experiments/bench/attention_benchmark.h"

namespace attnlab::bench {

// Fewer distinct lengths than this give no fit: two points always lie on a line.
inline constexpr int kScalingMinimumLengths = 3;

struct ScalingFit {
  std::string variant, path;  // as the rows name them
  int points = 0;             // measured rows (without error) in the time fit
  std::int64_t min_length = 0, max_length = 0;
  double time_exponent = NAN;    // of forward_backward_ms
  double memory_exponent = NAN;  // of forward_backward_peak_mb; NaN with fewer positive peaks
                                 // than kScalingMinimumLengths lengths
};

// The least-squares slope of log(y) against log(x), over the pairs whose x and y are finite and
// positive; NaN when those hold fewer than kScalingMinimumLengths distinct x.
double log_log_slope(const std::vector<double>& x, const std::vector<double>& y);

// One fit per (variant, path) with at least kScalingMinimumLengths distinct lengths measured
// without error, in the rows' order of first appearance.
std::vector<ScalingFit> fit_scaling(const std::vector<AttentionMeasurement>& rows);

// A header line, then one line per fit ("nan" where an exponent could not be fitted): what pandas
// reads.
std::string scaling_csv(const AttentionBenchmarkSettings& settings, int threads,
                        const std::vector<ScalingFit>& fits);

// Where the summary of the benchmark written to `output` goes: its stem + "_scaling.csv", beside it.
std::filesystem::path scaling_csv_path(const std::filesystem::path& output);

}  // namespace attnlab::bench
