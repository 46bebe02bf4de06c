// attnlab bench record: what attention recording costs (experiments/record/record_benchmark.h).
// (1) The dump writer's throughput in MB/s of uncompressed map data, per gzip level; (2) the wall
// time recording adds to training the configured experiment (default: configs/experiment.toml
// with its record.* settings). Prints both and writes a JSON report.
#include <memory>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "experiments/cli/commands.h"
#include "experiments/record/record_benchmark.h"
#include "experiments/run/run_dir.h"

namespace attnlab::cli {
namespace {

struct BenchRecordArguments {
  ConfigArguments config;
  record::WriterBenchmarkOptions writer;
  std::vector<int> compression = {0, 1};
  std::string dtype = "float16";
  int repeats = 3;
  bool writer_only = false;
  bool overhead_only = false;
  std::filesystem::path output = "results/bench/record.json";
};

nlohmann::json measure_writer(const BenchRecordArguments& arguments,
                              const std::filesystem::path& scratch) {
  const auto& shape = arguments.writer;
  fmt::print("writer: {} snapshots of L={} B={} H={} T={} {} maps ({:.1f} MB per snapshot)\n",
             shape.snapshots, shape.layers, shape.samples, shape.heads, shape.length,
             arguments.dtype, record::snapshot_megabytes(shape));
  fmt::print("{:>11} {:>10} {:>14} {:>12}\n", "compression", "seconds", "MB/s (maps)", "file MB");
  auto report = nlohmann::json::array();
  for (const int level : arguments.compression) {
    auto options = shape;
    options.compression = level;
    const auto result = record::benchmark_writer(scratch, options);
    fmt::print("{:>11} {:>10.3f} {:>14.1f} {:>12.1f}\n", level, result.seconds,
               result.megabytes_per_second(), static_cast<double>(result.file_bytes) / 1e6);
    std::fflush(stdout);
    report.push_back(record::to_json(result));
  }
  return report;
}

nlohmann::json measure_overhead(const BenchRecordArguments& arguments,
                                const std::filesystem::path& scratch) {
  fmt::print("\ntraining with and without recording, {} times each (alternating)...\n",
             arguments.repeats);
  std::fflush(stdout);
  const auto result = record::benchmark_overhead(arguments.config.config_file,
                                                 arguments.config.overrides, scratch / "runs",
                                                 arguments.repeats);
  fmt::print("wall time without recording: median {:.2f} s\n", result.median_without());
  fmt::print("wall time with recording:    median {:.2f} s ({} snapshots, {:.2f} MB dump)\n",
             result.median_with(), result.snapshots,
             static_cast<double>(result.file_bytes) / 1e6);
  fmt::print("recorder's own time:         median {:.2f} s\n", result.median_recording());
  fmt::print("overhead: {:+.1f}% (difference of medians), {:.1f}% (recorder time / rest)\n",
             result.overhead_percent(), result.recorder_percent());
  auto report = record::to_json(result);
  report["overrides"] = arguments.config.overrides;
  return report;
}

void run_bench(BenchRecordArguments arguments) {
  arguments.writer.map_dtype = record::parse_map_dtype(arguments.dtype);
  // Scratch files next to the output: the same disk the results go to.
  const std::string scratch_name = "bench-record-" + run::timestamp_now();
  const auto scratch = arguments.output.parent_path().empty()
                           ? std::filesystem::path(scratch_name)
                           : arguments.output.parent_path() / scratch_name;
  nlohmann::json report = {{"writer", nlohmann::json::array()}};
  if (!arguments.overhead_only) report["writer"] = measure_writer(arguments, scratch);
  if (!arguments.writer_only) report["overhead"] = measure_overhead(arguments, scratch);
  std::error_code ignored;
  std::filesystem::remove_all(scratch, ignored);
  attnlab::write_file_atomic(arguments.output, report.dump(2) + "\n");
  fmt::print("\nwrote {}\n", arguments.output.string());
}

}  // namespace

void add_bench_record_command(CLI::App& app) {
  auto arguments = std::make_shared<BenchRecordArguments>();
  auto* command = bench_command(app).add_subcommand(
      "record", "attention recording: dump writer throughput and training overhead");
  add_config_arguments(*command, arguments->config);
  command->add_option("--layers", arguments->writer.layers, "writer: attention layers L")
      ->capture_default_str();
  command->add_option("--samples", arguments->writer.samples, "writer: probe samples B")
      ->capture_default_str();
  command->add_option("--heads", arguments->writer.heads, "writer: heads H")->capture_default_str();
  command->add_option("--length", arguments->writer.length, "writer: sequence length T")
      ->capture_default_str();
  command->add_option("--snapshots", arguments->writer.snapshots, "writer: snapshots appended")
      ->capture_default_str();
  command->add_option("--compression", arguments->compression,
                      "writer: gzip levels to measure, comma separated (0: none)")
      ->delimiter(',')
      ->capture_default_str();
  command->add_option("--dtype", arguments->dtype, "writer: map dtype")
      ->check(CLI::IsMember({"float16", "float32"}))
      ->capture_default_str();
  command->add_option("--repeats", arguments->repeats, "training runs per side (median)")
      ->capture_default_str();
  command->add_flag("--writer-only", arguments->writer_only, "measure the writer only");
  command->add_flag("--overhead-only", arguments->overhead_only,
                    "measure the training overhead only");
  command->add_option("--output", arguments->output, "JSON report")->capture_default_str();
  command->callback([arguments] { run_bench(*arguments); });
}

}  // namespace attnlab::cli
