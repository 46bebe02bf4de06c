// attnlab bench analyze: how fast `attnlab analyze` reads a dump, in MB/s of stored maps, for the
// per-head pass (every selected snapshot) and the similarity pass (the last snapshot), on a given
// dump or on a synthetic one (peaked causal softmax maps, the writer benchmark's) of chosen size.
// Also what reading through DumpReader's child process costs: every map read with no analysis,
// through DumpReader and through an in-process DumpFile, alternately.
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <utility>

#include "analysis/dump/dump_reader.h"
#include "analysis/heads/head_analysis.h"
#include "analysis/heads/head_similarity.h"
#include "experiments/cli/commands.h"
#include "experiments/config/config.h"
#include "experiments/record/record_benchmark.h"
#include "experiments/run/atomic_file.h"
#include "experiments/run/run_dir.h"

namespace attnlab::cli {
namespace {

struct BenchAnalyzeArguments {
  std::filesystem::path dump;
  record::WriterBenchmarkOptions synthetic{/*layers=*/4, /*heads=*/8, /*samples=*/16,
                                           /*length=*/128, /*snapshots=*/8};
  int repeats = 3;
  std::filesystem::path output = "results/bench/analyze.json";
};

struct Pass {
  double seconds = 0;
  std::uint64_t bytes = 0;
  double megabytes_per_second() const { return static_cast<double>(bytes) / 1e6 / seconds; }
};

// One timed pass with a fresh reader (HDF5's chunk cache starts empty; the OS page cache does not,
// so these are warm-file figures: the analysis, not the disk).
template <typename Work>
Pass time_pass(const std::filesystem::path& path, Work work) {
  const dump::DumpReader reader(path);
  const auto start = std::chrono::steady_clock::now();
  work(reader);
  Pass pass;
  pass.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  pass.bytes = reader.map_bytes_read();
  return pass;
}

// Reads every map once (no analysis) through `Reader`: DumpReader (analysis commands' reader, a
// child process) or DumpFile (in process).
template <typename Reader>
Pass read_maps(const std::filesystem::path& path) {
  const Reader reader(path);
  const std::size_t element_bytes = dump::DumpFile(path).map_element_bytes();
  Pass pass;
  if (!reader.has_maps()) return pass;
  const auto start = std::chrono::steady_clock::now();
  for (std::int64_t layer = 0; layer < static_cast<std::int64_t>(reader.layers().size()); ++layer) {
    for (std::int64_t snapshot = 0; snapshot < reader.snapshots(); ++snapshot) {
      for (std::int64_t sample = 0; sample < reader.samples(); ++sample) {
        for (std::int64_t head = 0; head < reader.layers()[layer].heads; ++head) {
          pass.bytes += reader.map(layer, snapshot, sample, head).size() * element_bytes;
        }
      }
    }
  }
  pass.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return pass;
}

Pass best(const std::vector<Pass>& passes) {
  Pass fastest = passes.front();
  for (const auto& pass : passes) {
    if (pass.seconds < fastest.seconds) fastest = pass;
  }
  return fastest;
}

void run_bench(const BenchAnalyzeArguments& arguments) {
  std::filesystem::path scratch;
  auto path = arguments.dump;
  if (path.empty()) {
    scratch = (arguments.output.parent_path().empty() ? std::filesystem::path(".")
                                                      : arguments.output.parent_path()) /
              ("bench-analyze-" + run::timestamp_now());
    std::filesystem::create_directories(scratch);
    path = scratch / "synthetic.h5";
    const auto& shape = arguments.synthetic;
    fmt::print("writing a synthetic dump: {} snapshots of L={} B={} H={} T={} float16 maps...\n",
               shape.snapshots, shape.layers, shape.samples, shape.heads, shape.length);
    std::fflush(stdout);
    record::write_synthetic_dump(path, shape);
  }
  std::vector<Pass> heads_passes, similarity_passes, child_passes, in_process_passes;
  std::int64_t snapshots = 0;
  try {
    for (int repeat = 0; repeat < arguments.repeats; ++repeat) {
      heads_passes.push_back(time_pass(path, [&](const dump::DumpReader& reader) {
        snapshots = reader.snapshots();
        heads::analyse_heads(reader, heads::select_snapshots("all", reader.snapshots()));
      }));
      similarity_passes.push_back(time_pass(path, [](const dump::DumpReader& reader) {
        heads::head_similarity(reader, reader.snapshots() - 1);
      }));
      child_passes.push_back(read_maps<dump::DumpReader>(path));
      in_process_passes.push_back(read_maps<dump::DumpFile>(path));
    }
  } catch (const dump::DumpError& error) {
    throw config::ConfigError(error.what());
  } catch (const std::invalid_argument& error) {
    throw config::ConfigError(path.string() + ": " + error.what());
  }
  if (!scratch.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(scratch, ignored);
  }
  const auto heads_pass = best(heads_passes), similarity_pass = best(similarity_passes);
  const auto child_pass = best(child_passes), in_process_pass = best(in_process_passes);
  fmt::print("{:<34} {:>10} {:>10} {:>10}\n", "pass (best of " + std::to_string(arguments.repeats) + ")",
             "MB read", "seconds", "MB/s");
  fmt::print("{:<34} {:>10.1f} {:>10.3f} {:>10.1f}\n",
             fmt::format("head scores, {} snapshots", snapshots),
             static_cast<double>(heads_pass.bytes) / 1e6, heads_pass.seconds,
             heads_pass.megabytes_per_second());
  fmt::print("{:<34} {:>10.1f} {:>10.3f} {:>10.1f}\n", "similarity, last snapshot",
             static_cast<double>(similarity_pass.bytes) / 1e6, similarity_pass.seconds,
             similarity_pass.megabytes_per_second());
  // A dump without maps has nothing to time here.
  const bool maps = in_process_pass.bytes > 0;
  const double child_cost = maps ? child_pass.seconds / in_process_pass.seconds : 0.0;
  if (maps) {
    for (const auto& [name, pass] : {std::pair{"maps only, reader's child process", child_pass},
                                     std::pair{"maps only, in process", in_process_pass}}) {
      fmt::print("{:<34} {:>10.1f} {:>10.3f} {:>10.1f}\n", name,
                 static_cast<double>(pass.bytes) / 1e6, pass.seconds, pass.megabytes_per_second());
    }
    fmt::print("reading through the child process takes {:.2f}x the in-process time\n",
               child_cost);
  }
  const nlohmann::json report = {
      {"dump", arguments.dump.empty() ? "synthetic" : arguments.dump.string()},
      {"synthetic",
       arguments.dump.empty()
           ? nlohmann::json{{"layers", arguments.synthetic.layers},
                            {"heads", arguments.synthetic.heads},
                            {"samples", arguments.synthetic.samples},
                            {"length", arguments.synthetic.length},
                            {"snapshots", arguments.synthetic.snapshots}}
           : nlohmann::json()},
      {"heads", {{"bytes", heads_pass.bytes}, {"seconds", heads_pass.seconds},
                 {"megabytes_per_second", heads_pass.megabytes_per_second()}}},
      {"similarity", {{"bytes", similarity_pass.bytes}, {"seconds", similarity_pass.seconds},
                      {"megabytes_per_second", similarity_pass.megabytes_per_second()}}},
      {"maps_child_process",
       maps ? nlohmann::json{{"bytes", child_pass.bytes}, {"seconds", child_pass.seconds},
                             {"megabytes_per_second", child_pass.megabytes_per_second()}}
            : nlohmann::json()},
      {"maps_in_process",
       maps ? nlohmann::json{{"bytes", in_process_pass.bytes},
                             {"seconds", in_process_pass.seconds},
                             {"megabytes_per_second", in_process_pass.megabytes_per_second()}}
            : nlohmann::json()},
      {"child_process_time_ratio", maps ? nlohmann::json(child_cost) : nlohmann::json()}};
  run::write_file_atomic(arguments.output, report.dump(2) + "\n");
  fmt::print("wrote {}\n", arguments.output.string());
}

}  // namespace

void add_bench_analyze_command(CLI::App& app) {
  auto arguments = std::make_shared<BenchAnalyzeArguments>();
  auto* command = bench_command(app).add_subcommand(
      "analyze", "attention dump analysis: MB/s of stored maps per pass");
  command->add_option("--dump", arguments->dump,
                      "an attention.h5 to analyse (default: a synthetic dump of the shape below)");
  command->add_option("--layers", arguments->synthetic.layers, "synthetic: attention layers L")
      ->capture_default_str();
  command->add_option("--samples", arguments->synthetic.samples, "synthetic: probe samples B")
      ->capture_default_str();
  command->add_option("--heads", arguments->synthetic.heads, "synthetic: heads H")
      ->capture_default_str();
  command->add_option("--length", arguments->synthetic.length, "synthetic: sequence length T")
      ->capture_default_str();
  command->add_option("--snapshots", arguments->synthetic.snapshots, "synthetic: snapshots")
      ->capture_default_str();
  command->add_option("--repeats", arguments->repeats, "passes timed (the best is reported)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--output", arguments->output, "JSON report")->capture_default_str();
  command->callback([arguments] { run_bench(*arguments); });
}

}  // namespace attnlab::cli
