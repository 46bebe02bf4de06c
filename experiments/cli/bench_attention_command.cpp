// attnlab bench attention: time forward and forward+backward of attention variants and measure
// their peak memory, for a list of sequence lengths (experiments/bench/attention_benchmark.h);
// prints a table and how time and memory grow with T (experiments/bench/attention_scaling.h), and
// writes both as CSV files.
#include <cmath>
#include <map>
#include <memory>
#include <tuple>

#include <fmt/core.h>

#include "base/atomic_file.h"
#include "experiments/bench/attention_benchmark.h"
#include "experiments/bench/attention_scaling.h"
#include "experiments/cli/commands.h"
#include "experiments/run/system_info.h"

namespace attnlab::cli {
namespace {

struct BenchAttentionArguments {
  bench::AttentionBenchmarkSettings settings;
  int threads = 0;
  std::filesystem::path output = "results/bench/attention.csv";
};

void print_header(const bench::AttentionBenchmarkSettings& settings, int threads) {
  fmt::print("attention benchmark: B={} H={} d_head={} {} threads={} repeats={} (median)\n",
             settings.batch, settings.heads, settings.head_dim, settings.direction, threads,
             settings.repeats);
  fmt::print("times: median wall clock and CPU time (all threads) in ms; forward without "
             "autograd\npeak memory: {}\n\n",
             bench::kAttentionMemoryMethod);
  fmt::print("{:<14} {:<13} {:>6} {:>10} {:>11} {:>10} {:>11} {:>9} {:>10} {:>10}\n", "variant",
             "path", "T", "fwd ms", "fwd+bwd ms", "fwd cpu", "fwd+bwd cpu", "fwd MB", "fwd+bwd MB",
             "kv proj ms");
}

void print_row(const bench::AttentionMeasurement& row) {
  if (!row.error.empty()) {
    fmt::print("{:<14} {:<13} {:>6}  failed: {}\n", row.variant, row.path, row.length, row.error);
  } else {
    fmt::print(
        "{:<14} {:<13} {:>6} {:>10.1f} {:>11.1f} {:>10.1f} {:>11.1f} {:>9.1f} {:>10.1f} {:>10.2f}\n",
        row.variant, row.path, row.length, row.forward_ms, row.forward_backward_ms,
        row.forward_cpu_ms, row.forward_backward_cpu_ms, row.forward_peak_mb,
        row.forward_backward_peak_mb, row.kv_projection_ms);
  }
  std::fflush(stdout);
}

// Each variant's time and memory relative to the first variant (the baseline), per length.
void print_ratios(const bench::AttentionBenchmarkSettings& settings,
                  const std::vector<bench::AttentionMeasurement>& rows) {
  std::map<std::tuple<std::string, std::string, std::int64_t>, const bench::AttentionMeasurement*>
      by_key;
  for (const auto& row : rows) {
    if (row.error.empty()) by_key[{row.variant, row.path, row.length}] = &row;
  }
  const std::string& baseline = settings.variants.front();
  fmt::print("\nratios (baseline / variant; > 1 means the variant is faster or smaller):\n");
  for (const auto length : settings.lengths) {
    for (const auto& baseline_path : settings.paths) {
      auto base = by_key.find({baseline, baseline_path, length});
      if (base == by_key.end()) continue;
      for (const auto& variant : settings.variants) {
        // The variant's chunked path (against the plain baseline it shows what a sparse pattern
        // saves), its linear path (linear attention has no chunked one), or the baseline's path
        // for parts that have neither.
        auto other = by_key.find({variant, "chunked", length});
        if (other == by_key.end()) other = by_key.find({variant, "linear", length});
        if (other == by_key.end()) other = by_key.find({variant, baseline_path, length});
        if (other == by_key.end() || other->second == base->second) continue;
        const auto& a = *base->second;
        const auto& b = *other->second;
        fmt::print(
            "  T={:<5} {} {} vs {} {}: forward+backward time x{:.1f} (cpu x{:.1f}), peak "
            "memory x{:.1f}; forward time x{:.1f} (cpu x{:.1f}), peak memory x{:.1f}; key/value "
            "projections x{:.1f}\n",
            length, baseline, baseline_path, variant, b.path,
            a.forward_backward_ms / b.forward_backward_ms,
            a.forward_backward_cpu_ms / b.forward_backward_cpu_ms,
            a.forward_backward_peak_mb / b.forward_backward_peak_mb, a.forward_ms / b.forward_ms,
            a.forward_cpu_ms / b.forward_cpu_ms, a.forward_peak_mb / b.forward_peak_mb,
            a.kv_projection_ms / b.kv_projection_ms);
      }
    }
  }
}

// "T^1.02", or "n/a" where too few positive values were measured to fit.
std::string exponent_text(double exponent) {
  return std::isnan(exponent) ? std::string("n/a") : fmt::format("T^{:.2f}", exponent);
}

// Per (variant, path) with enough lengths: the exponents p of time ~ T^p and memory ~ T^p.
void print_scaling(const std::vector<bench::ScalingFit>& fits) {
  if (fits.empty()) {
    fmt::print("\nscaling: no variant and path was measured at {} or more lengths\n",
               bench::kScalingMinimumLengths);
    return;
  }
  fmt::print("\nscaling with T (least-squares slope of log-log; 1 = linear, 2 = quadratic):\n");
  fmt::print("  {:<14} {:<8} {:>6} {:>13} {:>14} {:>14}\n", "variant", "path", "points",
             "T range", "fwd+bwd time", "fwd+bwd peak");
  for (const auto& fit : fits) {
    fmt::print("  {:<14} {:<8} {:>6} {:>13} {:>14} {:>14}\n", fit.variant, fit.path, fit.points,
               fmt::format("{}-{}", fit.min_length, fit.max_length),
               exponent_text(fit.time_exponent), exponent_text(fit.memory_exponent));
  }
}

void write_results(const BenchAttentionArguments& arguments, int threads,
                   const std::vector<bench::AttentionMeasurement>& rows) {
  if (!arguments.output.parent_path().empty()) {
    std::filesystem::create_directories(arguments.output.parent_path());
  }
  const auto& settings = arguments.settings;
  attnlab::write_file_atomic(arguments.output, bench::attention_csv(settings, threads, rows));
  attnlab::write_file_atomic(bench::scaling_csv_path(arguments.output),
                             bench::scaling_csv(settings, threads, bench::fit_scaling(rows)));
}

void run_bench(const BenchAttentionArguments& arguments) {
  const auto& settings = arguments.settings;
  const int threads = arguments.threads > 0 ? arguments.threads : run::available_cores();
  auto jobs = bench::plan_attention_benchmark(settings);
  print_header(settings, threads);
  std::vector<bench::AttentionMeasurement> rows;
  for (auto& job : jobs) {
    bench::measure_attention(settings, threads, job);
    print_row(job);
    rows.push_back(job);
    // Rewritten after every row, so an interrupted run keeps what it measured.
    write_results(arguments, threads, rows);
  }
  print_scaling(bench::fit_scaling(rows));
  print_ratios(settings, rows);
  fmt::print("\nwrote {} and {}\n", arguments.output.string(),
             bench::scaling_csv_path(arguments.output).string());
}

void add_attention_benchmark(CLI::App& bench) {
  auto arguments = std::make_shared<BenchAttentionArguments>();
  auto& settings = arguments->settings;
  auto* command = bench.add_subcommand(
      "attention", "time forward and forward+backward of attention variants and measure their "
                   "peak memory over sequence lengths");
  command->add_option("--batch", settings.batch, "batch size B")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--heads", settings.heads, "heads H")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--head-dim", settings.head_dim, "head dimension d_head")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--lengths", settings.lengths, "sequence lengths T, comma separated")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--variants", settings.variants,
                      "variant presets (configs/variant/<name>.toml), comma separated; the first "
                      "is the baseline of the printed ratios")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->capture_default_str();
  command->add_option("--paths", settings.paths,
                      "chunked (the online-softmax path over tiles, whatever T), fused (the CPU "
                      "head-by-head path), plain (every score at once) and/or linear (linear "
                      "attention's scan over kernel features); a variant whose parts cannot take "
                      "a path has no rows for it")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->check(CLI::IsMember({"chunked", "fused", "plain", "linear"}))
      ->capture_default_str();
  command->add_option("--direction", settings.direction, "causal or bidirectional")
      ->check(CLI::IsMember({"causal", "bidirectional"}))
      ->capture_default_str();
  command->add_option("--max-plain-length", settings.max_plain_length,
                      "skip the plain path above this T (it needs several B*H*T*T "
                      "tensors)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--repeats", settings.repeats, "timed runs per measurement (median)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--threads", arguments->threads, "threads (default: every available core)");
  command->add_option("--output", arguments->output,
                      "CSV file, one row per measurement; the scaling exponents go beside it "
                      "(<stem>_scaling.csv)")
      ->capture_default_str();
  command->add_option("overrides", settings.overrides,
                      "variant.* overrides applied to every variant, e.g. variant.window=128");
  command->callback([arguments] { run_bench(*arguments); });
}

}  // namespace

void add_bench_attention_command(CLI::App& app) { add_attention_benchmark(bench_command(app)); }

}  // namespace attnlab::cli
