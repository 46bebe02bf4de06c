#include "experiments/bench/analyze_benchmark.h"

#include <chrono>
#include <stdexcept>
#include <vector>

#include "analysis/heads/head_analysis.h"
#include "analysis/heads/head_similarity.h"
#include "dump/dump_file.h"
#include "dump/dump_reader.h"
#include "experiments/config/config.h"
#include "experiments/run/run_dir.h"

namespace attnlab::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

template <typename Work>
ReadPass time_pass(const std::filesystem::path& path, Work work) {
  const dump::DumpReader reader(path);
  const auto start = Clock::now();
  work(reader);
  ReadPass pass;
  pass.seconds = seconds_since(start);
  pass.bytes = reader.map_bytes_read();
  return pass;
}

// Reads every map once (no analysis) through `Reader`: DumpReader (analysis commands' reader, a
// child process) or DumpFile (in process).
template <typename Reader>
ReadPass read_maps(const std::filesystem::path& path) {
  const Reader reader(path);
  const std::size_t element_bytes = dump::DumpFile(path).map_element_bytes();
  ReadPass pass;
  if (!reader.has_maps()) return pass;
  const auto start = Clock::now();
  for (std::int64_t layer = 0; layer < static_cast<std::int64_t>(reader.layers().size()); ++layer) {
    for (std::int64_t snapshot = 0; snapshot < reader.snapshots(); ++snapshot) {
      for (std::int64_t sample = 0; sample < reader.samples(); ++sample) {
        for (std::int64_t head = 0; head < reader.layers()[layer].heads; ++head) {
          pass.bytes += reader.map(layer, snapshot, sample, head).size() * element_bytes;
        }
      }
    }
  }
  pass.seconds = seconds_since(start);
  return pass;
}

void keep_faster(ReadPass& best, const ReadPass& pass, int repeat) {
  if (repeat == 0 || pass.seconds < best.seconds) best = pass;
}

// Alternating the kinds of pass spreads slow phases of a shared machine over all of them.
AnalyzeBenchmark best_passes(const std::filesystem::path& path, int repeats) {
  AnalyzeBenchmark best;
  for (int repeat = 0; repeat < repeats; ++repeat) {
    keep_faster(best.heads, time_pass(path, [&](const dump::DumpReader& reader) {
      best.snapshots = reader.snapshots();
      heads::analyse_heads(reader, heads::select_snapshots("all", reader.snapshots()));
    }), repeat);
    keep_faster(best.similarity, time_pass(path, [](const dump::DumpReader& reader) {
      heads::head_similarity(reader, reader.snapshots() - 1);
    }), repeat);
    keep_faster(best.maps_child_process, read_maps<dump::DumpReader>(path), repeat);
    keep_faster(best.maps_in_process, read_maps<dump::DumpFile>(path), repeat);
  }
  return best;
}

nlohmann::json pass_json(const ReadPass& pass) {
  return {{"bytes", pass.bytes},
          {"seconds", pass.seconds},
          {"megabytes_per_second", pass.megabytes_per_second()}};
}

}  // namespace

SyntheticDump::SyntheticDump(const std::filesystem::path& output,
                             const record::WriterBenchmarkOptions& shape) {
  scratch_ = (output.parent_path().empty() ? std::filesystem::path(".") : output.parent_path()) /
             ("bench-analyze-" + run::timestamp_now());
  std::filesystem::create_directories(scratch_);
  path_ = scratch_ / "synthetic.h5";
  record::write_synthetic_dump(path_, shape);
}

SyntheticDump::~SyntheticDump() {
  std::error_code ignored;
  std::filesystem::remove_all(scratch_, ignored);
}

AnalyzeBenchmark benchmark_analysis(const std::filesystem::path& dump, int repeats) {
  try {
    return best_passes(dump, repeats);
  } catch (const dump::DumpError& error) {
    throw config::ConfigError(error.what());
  } catch (const std::invalid_argument& error) {
    throw config::ConfigError(dump.string() + ": " + error.what());
  }
}

nlohmann::json to_json(const AnalyzeBenchmarkSettings& settings, const AnalyzeBenchmark& result) {
  const auto& shape = settings.synthetic;
  const bool synthetic = settings.dump.empty();
  const bool maps = result.has_maps();
  return {{"dump", synthetic ? "synthetic" : settings.dump.string()},
          {"synthetic", synthetic ? nlohmann::json{{"layers", shape.layers},
                                                   {"heads", shape.heads},
                                                   {"samples", shape.samples},
                                                   {"length", shape.length},
                                                   {"snapshots", shape.snapshots}}
                                  : nlohmann::json()},
          {"heads", pass_json(result.heads)},
          {"similarity", pass_json(result.similarity)},
          {"maps_child_process", maps ? pass_json(result.maps_child_process) : nlohmann::json()},
          {"maps_in_process", maps ? pass_json(result.maps_in_process) : nlohmann::json()},
          {"child_process_time_ratio",
           maps ? nlohmann::json(result.child_process_time_ratio()) : nlohmann::json()}};
}

}  // namespace attnlab::bench
