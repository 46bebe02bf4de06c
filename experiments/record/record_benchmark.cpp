#include "experiments/record/record_benchmark.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <random>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/types.h>

#include "dump/dump_schema.h"
#include "experiments/record/recorder.h"
#include "experiments/run/run_dir.h"
#include "experiments/run/schema.h"
#include "base/sample_statistics.h"
#include "experiments/train/trainer.h"

namespace attnlab::record {
namespace {

using Clock = std::chrono::steady_clock;

using attnlab::median;

std::size_t statistic_size(dump::StatisticShape shape, const WriterBenchmarkOptions& options) {
  switch (shape) {
    case dump::StatisticShape::Head: return static_cast<std::size_t>(options.heads);
    case dump::StatisticShape::HeadQuery:
      return static_cast<std::size_t>(options.heads * options.length);
    case dump::StatisticShape::SampleHeadKey:
      return static_cast<std::size_t>(options.samples * options.heads * options.length);
  }
  return 0;
}

// Causal softmax maps [B,H,T,T] with scores of std 3: a few keys carry most of each row, like the
// heads of a trained model (uniform maps would compress unrealistically well).
torch::Tensor synthetic_maps(const WriterBenchmarkOptions& options, at::Generator& generator) {
  const auto length = options.length;
  auto scores = torch::randn({options.samples, options.heads, length, length}, generator) * 3.0;
  const auto causal = torch::ones({length, length}, torch::kBool).tril();  // [T,T]
  scores = scores.masked_fill(causal.logical_not(), -std::numeric_limits<float>::infinity());
  const auto dtype = options.map_dtype == MapDtype::Float16 ? torch::kHalf : torch::kFloat;
  return torch::softmax(scores, /*dim=*/-1).to(dtype).contiguous();  // [B,H,T,T]
}

}  // namespace

double snapshot_megabytes(const WriterBenchmarkOptions& options) {
  return static_cast<double>(options.layers * options.samples * options.heads * options.length *
                             options.length) *
         static_cast<double>(map_dtype_size(options.map_dtype)) / 1e6;
}

WriterBenchmark write_synthetic_dump(const std::filesystem::path& path,
                                     const WriterBenchmarkOptions& options) {
  DumpLayout layout;
  layout.samples = options.samples;
  layout.map_dtype = options.map_dtype;
  layout.compression = options.compression;
  // Probe tokens: a random segment of half the length, repeated (what token scores look for).
  layout.probe_tokens.shape = {options.samples, options.length};
  std::mt19937_64 tokens(4321);
  const auto period = std::max<std::int64_t>(1, options.length / 2);
  for (std::int64_t sample = 0; sample < options.samples; ++sample) {
    std::vector<std::int64_t> segment(static_cast<std::size_t>(period));
    for (auto& token : segment) token = static_cast<std::int64_t>(tokens() % 1000);
    for (std::int64_t position = 0; position < options.length; ++position) {
      layout.probe_tokens.values.push_back(segment[static_cast<std::size_t>(position % period)]);
    }
  }
  for (std::int64_t index = 0; index < options.layers; ++index) {
    LayerLayout layer;
    layer.index = index;
    layer.kind = "self";
    layer.causal = true;
    layer.heads = options.heads;
    layer.query_length = layer.key_length = options.length;
    for (std::int64_t head = 0; head < options.heads; ++head) {
      for (std::int64_t query = 0; query < options.length; ++query) {
        layer.allowed_keys.push_back(static_cast<std::int32_t>(query + 1));
      }
    }
    layout.layers.push_back(std::move(layer));
  }

  // Two sets of maps, alternated: every chunk is compressed on its own, so more would only cost
  // memory.
  auto generator = at::detail::createCPUGenerator(/*seed_in=*/1234);
  std::vector<std::vector<torch::Tensor>> map_sets(2);
  for (auto& set : map_sets) {
    for (std::int64_t layer = 0; layer < options.layers; ++layer) {
      set.push_back(synthetic_maps(options, generator));
    }
  }
  std::map<std::string, std::vector<float>> statistics;
  for (const auto& statistic : dump::kStatistics) {
    statistics[statistic.name].assign(statistic_size(statistic.shape, options), 0.5f);
  }

  WriterBenchmark result;
  result.options = options;
  auto writer = DumpWriter::create(path, layout);
  const auto start = Clock::now();
  for (std::int64_t snapshot = 0; snapshot < options.snapshots; ++snapshot) {
    Snapshot data;
    data.step = snapshot;
    for (const auto& maps : map_sets[static_cast<std::size_t>(snapshot % 2)]) {
      data.layers.push_back({maps.data_ptr(), statistics});
    }
    writer->append(data);
  }
  writer->close();
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  result.map_bytes = writer->map_bytes_written();
  result.file_bytes = writer->file_bytes();
  return result;
}

WriterBenchmark benchmark_writer(const std::filesystem::path& directory,
                                 const WriterBenchmarkOptions& options) {
  std::filesystem::create_directories(directory);
  const auto path = directory / ("writer-benchmark-" + std::to_string(options.compression) + ".h5");
  std::filesystem::remove(path);
  auto result = write_synthetic_dump(path, options);
  std::filesystem::remove(path);
  return result;
}

nlohmann::json to_json(const WriterBenchmark& result) {
  const auto& options = result.options;
  return {{"compression", options.compression},
          {"dtype", map_dtype_name(options.map_dtype)},
          {"layers", options.layers},
          {"samples", options.samples},
          {"heads", options.heads},
          {"length", options.length},
          {"snapshots", options.snapshots},
          {"seconds", result.seconds},
          {"map_bytes", result.map_bytes},
          {"file_bytes", result.file_bytes},
          {"map_megabytes_per_second", result.megabytes_per_second()}};
}

double OverheadBenchmark::median_without() const { return median(without_recording); }
double OverheadBenchmark::median_with() const { return median(with_recording); }
double OverheadBenchmark::median_recording() const { return median(recording_seconds); }

double OverheadBenchmark::overhead_percent() const {
  return 100.0 * (median_with() - median_without()) / median_without();
}

double OverheadBenchmark::recorder_percent() const {
  return 100.0 * median_recording() / (median_with() - median_recording());
}

OverheadBenchmark benchmark_overhead(const std::filesystem::path& config_file,
                                     const std::vector<std::string>& overrides,
                                     const std::filesystem::path& directory, int repeats) {
  OverheadBenchmark result;
  auto run_once = [&](bool recording) {
    auto run_overrides = overrides;
    run_overrides.push_back("experiment.results_dir=" + directory.string());
    run_overrides.push_back("runtime.progress=none");
    if (!recording) run_overrides.push_back("record.every=0");
    const auto config = run::load_config(config_file, run_overrides);
    if (recording && config.get_int("record.every") == 0) {
      throw config::ConfigError("bench record: record.every = 0 in this config; nothing to time");
    }
    const auto start = Clock::now();
    const auto run = run::RunDir::create(config);
    train::TrainOptions options;
    std::shared_ptr<Recorder> recorder;
    if (recording) {
      recorder = std::make_shared<Recorder>(config, run.path() / dump::kFileName, false);
      options.observers.push_back(recorder);
    }
    const auto summary = train::train(config, run, options);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (recording) {
      result.with_recording.push_back(seconds);
      result.recording_seconds.push_back(recorder->seconds());
      result.snapshots = summary["recording"]["snapshots"].get<std::int64_t>();
      result.file_bytes = summary["recording"]["file_bytes"].get<std::uint64_t>();
    } else {
      result.without_recording.push_back(seconds);
    }
  };
  for (int repeat = 0; repeat < repeats; ++repeat) {
    // Alternating the order spreads slow phases of a shared machine over both sides.
    const bool recording_first = repeat % 2 == 1;
    run_once(recording_first);
    run_once(!recording_first);
  }
  std::error_code ignored;
  std::filesystem::remove_all(directory, ignored);
  return result;
}

nlohmann::json to_json(const OverheadBenchmark& result) {
  return {{"without_recording_s", result.without_recording},
          {"with_recording_s", result.with_recording},
          {"recording_s", result.recording_seconds},
          {"snapshots", result.snapshots},
          {"file_bytes", result.file_bytes},
          {"overhead_percent", result.overhead_percent()},
          {"recorder_percent", result.recorder_percent()}};
}

}  // namespace attnlab::record
