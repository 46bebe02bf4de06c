// attnlab bench analyze: how fast `attnlab analyze` reads a dump, in MB/s of stored maps per pass
// (experiments/bench/analyze_benchmark.h); prints a table and writes a JSON report.
#include <memory>
#include <string>

#include <fmt/core.h>

#include "base/atomic_file.h"
#include "experiments/bench/analyze_benchmark.h"
#include "experiments/cli/commands.h"

namespace attnlab::cli {
namespace {

struct BenchAnalyzeArguments {
  bench::AnalyzeBenchmarkSettings settings;
  std::filesystem::path output = "results/bench/analyze.json";
};

void print_pass(const std::string& name, const bench::ReadPass& pass) {
  fmt::print("{:<34} {:>10.1f} {:>10.3f} {:>10.1f}\n", name,
             static_cast<double>(pass.bytes) / 1e6, pass.seconds, pass.megabytes_per_second());
}

void print_passes(const bench::AnalyzeBenchmark& result, int repeats) {
  fmt::print("{:<34} {:>10} {:>10} {:>10}\n", "pass (best of " + std::to_string(repeats) + ")",
             "MB read", "seconds", "MB/s");
  print_pass(fmt::format("head scores, {} snapshots", result.snapshots), result.heads);
  print_pass("similarity, last snapshot", result.similarity);
  if (!result.has_maps()) return;
  print_pass("maps only, reader's child process", result.maps_child_process);
  print_pass("maps only, in process", result.maps_in_process);
  fmt::print("reading through the child process takes {:.2f}x the in-process time\n",
             result.child_process_time_ratio());
}

void run_bench(const BenchAnalyzeArguments& arguments) {
  const auto& settings = arguments.settings;
  std::unique_ptr<bench::SyntheticDump> synthetic;
  if (settings.dump.empty()) {
    const auto& shape = settings.synthetic;
    fmt::print("writing a synthetic dump: {} snapshots of L={} B={} H={} T={} float16 maps...\n",
               shape.snapshots, shape.layers, shape.samples, shape.heads, shape.length);
    std::fflush(stdout);
    synthetic = std::make_unique<bench::SyntheticDump>(arguments.output, shape);
  }
  const auto result =
      bench::benchmark_analysis(synthetic ? synthetic->path() : settings.dump, settings.repeats);
  synthetic.reset();
  print_passes(result, settings.repeats);
  attnlab::write_file_atomic(arguments.output, bench::to_json(settings, result).dump(2) + "\n");
  fmt::print("wrote {}\n", arguments.output.string());
}

}  // namespace

void add_bench_analyze_command(CLI::App& app) {
  auto arguments = std::make_shared<BenchAnalyzeArguments>();
  auto& settings = arguments->settings;
  auto* command = bench_command(app).add_subcommand(
      "analyze", "attention dump analysis: MB/s of stored maps per pass");
  command->add_option("--dump", settings.dump,
                      "an attention.h5 to analyse (default: a synthetic dump of the shape below)");
  command->add_option("--layers", settings.synthetic.layers, "synthetic: attention layers L")
      ->capture_default_str();
  command->add_option("--samples", settings.synthetic.samples, "synthetic: probe samples B")
      ->capture_default_str();
  command->add_option("--heads", settings.synthetic.heads, "synthetic: heads H")
      ->capture_default_str();
  command->add_option("--length", settings.synthetic.length, "synthetic: sequence length T")
      ->capture_default_str();
  command->add_option("--snapshots", settings.synthetic.snapshots, "synthetic: snapshots")
      ->capture_default_str();
  command->add_option("--repeats", settings.repeats, "passes timed (the best is reported)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--output", arguments->output, "JSON report")->capture_default_str();
  command->callback([arguments] { run_bench(*arguments); });
}

}  // namespace attnlab::cli
