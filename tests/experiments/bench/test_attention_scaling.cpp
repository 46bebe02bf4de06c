// The scaling summary of `attnlab bench attention`: the log-log slope recovers the exponent of a
// power law, ignores what cannot be logged, needs three lengths, and the fits and their CSV keep
// one line per (variant, path).
#include <catch2/catch.hpp>

#include <cmath>
#include <sstream>

#include "experiments/bench/attention_scaling.h"

using namespace attnlab;

namespace {

bench::AttentionMeasurement row(const std::string& variant, const std::string& path,
                                std::int64_t length, double milliseconds, double megabytes) {
  bench::AttentionMeasurement measured;
  measured.variant = variant;
  measured.path = path;
  measured.length = length;
  measured.forward_backward_ms = milliseconds;
  measured.forward_backward_peak_mb = megabytes;
  return measured;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

TEST_CASE("the log-log slope is the exponent of a power law", "[bench]") {
  const std::vector<double> lengths = {256, 512, 1024, 2048};
  std::vector<double> quadratic, linear;
  for (const double t : lengths) {
    quadratic.push_back(3e-4 * t * t);
    linear.push_back(0.5 * t);
  }
  CHECK(bench::log_log_slope(lengths, quadratic) == Approx(2.0));
  CHECK(bench::log_log_slope(lengths, linear) == Approx(1.0));
  // Noise around T^1.5 gives a least-squares slope near it.
  CHECK(bench::log_log_slope({100, 200, 400, 800}, {1000 * 1.05, 2828 * 0.97, 8000 * 1.02, 22627}) ==
        Approx(1.5).margin(0.05));
}

TEST_CASE("the slope needs three lengths with finite positive values", "[bench]") {
  CHECK(std::isnan(bench::log_log_slope({256, 512}, {1, 4})));
  CHECK(std::isnan(bench::log_log_slope({256, 256, 512}, {1, 1, 4})));  // two distinct lengths
  // A failed measurement (NaN) or no growth of the peak (0) leaves its point out.
  CHECK(std::isnan(bench::log_log_slope({256, 512, 1024}, {1, NAN, 16})));
  CHECK(std::isnan(bench::log_log_slope({256, 512, 1024}, {0, 4, 16})));
  CHECK(bench::log_log_slope({256, 512, 1024, 2048}, {0, 4, 16, 64}) == Approx(2.0));
}

TEST_CASE("one fit per variant and path measured at three lengths", "[bench]") {
  std::vector<bench::AttentionMeasurement> rows;
  for (const std::int64_t t : {256, 512, 1024}) {
    const double x = static_cast<double>(t);
    rows.push_back(row("scaled", "chunked", t, 1e-3 * x * x, 0.01 * x));
    rows.push_back(row("scaled", "plain", t, 2e-3 * x * x, 1e-4 * x * x));
    rows.push_back(row("linear_elu1", "linear", t, 0.1 * x, 0.02 * x));
  }
  // Two lengths only: no fit. A failed row: not counted.
  rows.push_back(row("local", "chunked", 256, 1.0, 1.0));
  rows.push_back(row("local", "chunked", 512, 2.0, 2.0));
  auto failed = row("local", "chunked", 1024, NAN, NAN);
  failed.error = "killed by signal 9";
  rows.push_back(failed);
  // The peak's growth was 0 at one length: the time still fits, the memory does not.
  rows.push_back(row("sigmoid", "plain", 256, 1.0, 0.0));
  rows.push_back(row("sigmoid", "plain", 512, 4.0, 0.0));
  rows.push_back(row("sigmoid", "plain", 1024, 16.0, 3.0));

  const auto fits = bench::fit_scaling(rows);
  REQUIRE(fits.size() == 4);
  CHECK(fits[0].variant == "scaled");
  CHECK(fits[0].path == "chunked");
  CHECK(fits[0].points == 3);
  CHECK(fits[0].min_length == 256);
  CHECK(fits[0].max_length == 1024);
  CHECK(fits[0].time_exponent == Approx(2.0));
  CHECK(fits[0].memory_exponent == Approx(1.0));
  CHECK(fits[1].path == "plain");
  CHECK(fits[1].memory_exponent == Approx(2.0));
  CHECK(fits[2].variant == "linear_elu1");
  CHECK(fits[2].time_exponent == Approx(1.0));
  CHECK(fits[3].variant == "sigmoid");
  CHECK(fits[3].time_exponent == Approx(2.0));
  CHECK(std::isnan(fits[3].memory_exponent));

  bench::AttentionBenchmarkSettings settings;
  const auto lines = lines_of(bench::scaling_csv(settings, 2, fits));
  REQUIRE(lines.size() == 5);
  CHECK(lines[0].rfind("variant,path,direction,B,H,d_head,threads,points,T_min,T_max,"
                       "time_exponent,memory_exponent",
                       0) == 0);
  CHECK(lines[3].rfind("linear_elu1,linear,causal,1,8,64,2,3,256,1024,", 0) == 0);
  // pandas reads "nan" as NaN.
  CHECK_THAT(lines[4], Catch::EndsWith(",nan,forward_backward_ms,forward_backward_peak_mb"));
}

TEST_CASE("the scaling summary goes beside the benchmark's CSV", "[bench]") {
  CHECK(bench::scaling_csv_path("results/bench/attention.csv") ==
        std::filesystem::path("results/bench/attention_scaling.csv"));
  CHECK(bench::scaling_csv_path("linear.csv") == std::filesystem::path("linear_scaling.csv"));
}
