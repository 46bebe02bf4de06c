// `attnlab bench analyze`: how fast `attnlab analyze` reads a dump, in MB/s of stored maps, for the
// per-head pass (every snapshot) and the similarity pass (the last snapshot), on a given dump or on
// a synthetic one (peaked causal softmax maps, the writer benchmark's) of chosen size. Also what
// reading through DumpReader's child process costs: every map read with no analysis, through
// DumpReader and through an in-process DumpFile, alternately.
//
// L = attention layers, B = probe samples, H = heads, T = sequence length.
#pragma once

#include <cstdint>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "experiments/record/record_benchmark.h"

namespace attnlab::bench {

struct AnalyzeBenchmarkSettings {
  std::filesystem::path dump;  // the attention.h5 to analyse; empty: a synthetic one
  record::WriterBenchmarkOptions synthetic{/*layers=*/4, /*heads=*/8, /*samples=*/16,
                                           /*length=*/128, /*snapshots=*/8};
  int repeats = 3;  // passes timed; the best is kept
};

// One timed pass with a fresh reader. HDF5's chunk cache starts empty; the OS page cache does not,
// so these are warm-file figures: the analysis, not the disk.
struct ReadPass {
  double seconds = 0;
  std::uint64_t bytes = 0;  // map bytes read
  double megabytes_per_second() const { return static_cast<double>(bytes) / 1e6 / seconds; }
};

struct AnalyzeBenchmark {
  std::int64_t snapshots = 0;
  ReadPass heads;               // head scores over every snapshot
  ReadPass similarity;          // head similarity of the last snapshot
  ReadPass maps_child_process;  // every map, no analysis, through DumpReader (a child process)
  ReadPass maps_in_process;     // the same through DumpFile
  bool has_maps() const { return maps_in_process.bytes > 0; }  // else nothing to time there
  double child_process_time_ratio() const {
    return maps_child_process.seconds / maps_in_process.seconds;
  }
};

// A synthetic dump of `shape` (record::write_synthetic_dump) in a fresh scratch folder beside
// `output` (the same disk the results go to), removed with this object.
class SyntheticDump {
 public:
  SyntheticDump(const std::filesystem::path& output, const record::WriterBenchmarkOptions& shape);
  ~SyntheticDump();
  SyntheticDump(const SyntheticDump&) = delete;
  SyntheticDump& operator=(const SyntheticDump&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path scratch_;
  std::filesystem::path path_;
};

// The best of `repeats` passes of each kind over `dump`. An unreadable dump is bad input:
// config::ConfigError naming it.
AnalyzeBenchmark benchmark_analysis(const std::filesystem::path& dump, int repeats);

// The report: which dump (its path, or "synthetic" with its shape), each pass's bytes, seconds
// and MB/s, and the child process's time ratio (null for a dump without maps).
nlohmann::json to_json(const AnalyzeBenchmarkSettings& settings, const AnalyzeBenchmark& result);

}  // namespace attnlab::bench
