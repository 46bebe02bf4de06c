// What recording costs (`attnlab bench record`): the dump writer's throughput on synthetic maps,
// and the wall time recording adds to a training run.
//
// L = attention layers, B = probe samples, H = heads, T = sequence length.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiments/record/dump_writer.h"

namespace attnlab::record {

struct WriterBenchmarkOptions {
  std::int64_t layers = 4;    // L
  std::int64_t heads = 8;     // H
  std::int64_t samples = 16;  // B
  std::int64_t length = 128;  // T (causal self-attention maps [T,T])
  std::int64_t snapshots = 8;
  MapDtype map_dtype = MapDtype::Float16;
  int compression = 0;
};

// The maps of one snapshot, L x B x H x T x T values, in MB.
double snapshot_megabytes(const WriterBenchmarkOptions& options);

struct WriterBenchmark {
  WriterBenchmarkOptions options;
  double seconds = 0.0;         // appending every snapshot (writes and flushes)
  std::uint64_t map_bytes = 0;  // uncompressed map bytes appended
  std::uint64_t file_bytes = 0;
  double megabytes_per_second() const { return seconds > 0 ? map_bytes / 1e6 / seconds : 0.0; }
};

// Appends `snapshots` snapshots of synthetic softmax maps (peaked like trained heads, causal) to
// a new dump in `directory`, which is removed afterwards. The maps are made before the clock
// starts: only the writer is timed.
WriterBenchmark benchmark_writer(const std::filesystem::path& directory,
                                 const WriterBenchmarkOptions& options);
// The options (shape, dtype, compression) and the result, for bench record's report.
nlohmann::json to_json(const WriterBenchmark& result);

// The same dump, kept at `path` (which must not exist): for analysis benchmarks and tests. Probe
// tokens are a random segment of T/2 tokens repeated; statistics are constant.
WriterBenchmark write_synthetic_dump(const std::filesystem::path& path,
                                     const WriterBenchmarkOptions& options);

struct OverheadBenchmark {
  std::vector<double> without_recording;  // wall seconds of each run, recording off
  std::vector<double> with_recording;     // ... recording on
  std::vector<double> recording_seconds;  // the recorder's own time in each recording run
  std::int64_t snapshots = 0;
  std::uint64_t file_bytes = 0;
  double median_without() const;
  double median_with() const;
  double median_recording() const;
  // (median with - median without) / median without, in percent: what a user sees, noisy.
  double overhead_percent() const;
  // median recorder time / (median with - median recorder time), in percent: the same cost
  // measured from inside, immune to the machine's noise between runs.
  double recorder_percent() const;
};

// Trains the configured experiment `repeats` times with recording off and on, alternating, with
// run directories under `directory` (removed afterwards). `overrides` apply to both.
OverheadBenchmark benchmark_overhead(const std::filesystem::path& config_file,
                                     const std::vector<std::string>& overrides,
                                     const std::filesystem::path& directory, int repeats);
// Every run's times, the dump's size and both overheads, for bench record's report.
nlohmann::json to_json(const OverheadBenchmark& result);

}  // namespace attnlab::record
