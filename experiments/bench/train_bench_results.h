// What `attnlab bench train` reports: train.csv, one line per measurement, and per preset the
// medians over rounds and each round's ratios between implementations and precisions (train.json
// holds them beside the machine's matmul peaks).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiments/bench/train_benchmark.h"

namespace attnlab::bench {

// One measurement of one preset in one round.
struct TrainBenchRow {
  int round = 0;
  std::string preset, implementation, precision;  // precision actually run
  TrainMeasurement measurement;
  double peak_gflops = 0.0;      // this round's matmul peak in the row's precision
  double flops_per_token = 0.0;  // of the preset's model (training_flops_per_token)
  double mfu() const;
};

// A header line, then one line per row.
std::string train_bench_csv(const std::vector<TrainBenchRow>& rows, int threads);

// A ratio of tokens/s between two implementation/precision pairs ("attnlab/fp32"), taken per
// round: the same round's measurements met the same drift of the machine's speed.
struct TrainBenchRatio {
  std::string name;  // its key in train.json
  std::string numerator, denominator;
};
const std::vector<TrainBenchRatio>& train_bench_ratios();

// train.json's entry for one preset: its FLOPs per token, per implementation/precision the
// tokens/s and MFU of every round with their medians, and each ratio that both sides were
// measured for ({"median", "rounds"}).
nlohmann::json preset_summary(const std::string& preset, double flops_per_token,
                              const std::vector<TrainBenchRow>& rows);

}  // namespace attnlab::bench
