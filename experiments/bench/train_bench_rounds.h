// The rounds of `attnlab bench train`. In each, every preset is measured once per variant in every
// precision
// (and, with the PyTorch peer, once in PyTorch eager), each measurement in a fresh process
// (attnlab's in a forked child, the peer as a python3 process), so that each peak RSS is its own
// and neither side inherits the other's allocator state. The matrix-product peaks that the rows'
// MFU divides by are remeasured every round, so that each row's MFU divides by a peak taken
// minutes, not an hour, apart on a machine whose speed drifts.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "experiments/bench/train_bench_results.h"
#include "experiments/bench/train_benchmark.h"
#include "experiments/train/precision.h"

namespace attnlab::bench {

struct TrainBenchPlan {
  std::vector<const TrainPreset*> presets;
  // Variant presets of the models' attention; the first is the baseline of the variant ratios.
  // The PyTorch peer runs scaled attention only, so it is measured only when that is the first.
  std::vector<std::string> variants = {"scaled"};
  std::vector<train::Precision> precisions;  // distinct
  int steps = 0;   // measured steps per measurement; 0: each preset's default
  int warmup = 3;  // unmeasured steps before them
  int rounds = 5;
  int threads = 1;
  std::int64_t matmul_size = 2048;  // n of the n x n products that measure the peaks
  bool vs_python = false;           // also measure the PyTorch eager peer
  std::string python;               // the python3 (with torch) that runs it
  std::filesystem::path peer_script;
  std::filesystem::path output;  // folder for train.csv and train.json
};

struct MatmulPeaks {
  double fp32 = 0.0;  // GFLOP/s
  double bf16 = 0.0;
};

class TrainBench {
 public:
  // Measures the matmul peaks of the first round, in both precisions (train.json reports both).
  explicit TrainBench(TrainBenchPlan plan);

  const TrainBenchPlan& plan() const { return plan_; }
  const MatmulPeaks& first_peaks() const { return first_peaks_; }
  bool native_bf16() const { return native_bf16_; }

  // Measures every round. Each row goes to `on_row`, then into train.csv, rewritten after every
  // row so that an interrupted run keeps what it measured. Throws std::runtime_error with the
  // child's or the peer's message when a measurement fails.
  void run(const std::function<void(const TrainBenchRow&)>& on_row);

  // train.json: the plan, the first round's peaks, the machine and preset_summary per preset.
  nlohmann::json summary() const;
  // The ratios train.json and the printout report (see train_bench_ratios()).
  std::vector<TrainBenchRatio> ratios() const;
  void write_summary(const nlohmann::json& summary) const;  // as train.json
  std::filesystem::path csv_path() const { return plan_.output / "train.csv"; }
  std::filesystem::path json_path() const { return plan_.output / "train.json"; }

 private:
  int steps_for(const TrainPreset& preset) const;
  double measure_peak(torch::ScalarType dtype) const;
  MatmulPeaks round_peaks() const;
  TrainMeasurement measure_attnlab(const TrainPreset& preset, const std::string& variant,
                                   train::Precision precision) const;
  TrainMeasurement measure_peer(const TrainPreset& preset) const;
  void record(TrainBenchRow row, const std::function<void(const TrainBenchRow&)>& on_row);

  TrainBenchPlan plan_;
  bool native_bf16_;
  MatmulPeaks first_peaks_;
  std::map<std::string, std::map<std::string, double>> flops_per_token_;  // preset -> variant ->
  std::vector<TrainBenchRow> rows_;
};

}  // namespace attnlab::bench
