// What `attnlab bench train` reports: train.csv, one line per measurement, and per preset the
// medians over rounds and each round's ratios between implementations and precisions (train.json
// holds them beside the machine's matmul peaks).
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiments/bench/train_benchmark.h"

namespace attnlab::bench {

// One measurement of one preset with one attention variant in one round.
struct TrainBenchRow {
  int round = 0;
  std::string preset, implementation, precision;  // precision actually run
  std::string variant = "scaled";                 // the variant preset of the model's attention
  TrainMeasurement measurement;
  double peak_gflops = 0.0;      // this round's matmul peak in the row's precision
  double flops_per_token = 0.0;  // of the preset's model (training_flops_per_token)
  double mfu() const;
};

// A header line, then one line per row.
std::string train_bench_csv(const std::vector<TrainBenchRow>& rows, int threads);

// What a row measured, as train.json names it: "attnlab/fp32" for the baseline variant (the
// first), "attnlab[mqa]/fp32" for another.
std::string measurement_key(const TrainBenchRow& row, const std::string& baseline_variant);

// A ratio of tokens/s between two measurement keys, taken per round: the same round's
// measurements met the same drift of the machine's speed.
struct TrainBenchRatio {
  std::string name;  // its key in train.json
  std::string numerator, denominator;
};
// attnlab against PyTorch eager, bf16 against fp32, and each variant after the first against the
// first in each precision ("mqa_vs_scaled_fp32").
std::vector<TrainBenchRatio> train_bench_ratios(const std::vector<std::string>& variants,
                                                const std::vector<std::string>& precisions);

// train.json's entry for one preset: its FLOPs per token per variant, per measurement key the
// tokens/s and MFU of every round with their medians, and each ratio that both sides were
// measured for ({"median", "rounds"}).
nlohmann::json preset_summary(const std::string& preset,
                              const std::map<std::string, double>& flops_per_token,
                              const std::vector<TrainBenchRow>& rows,
                              const std::vector<TrainBenchRatio>& ratios,
                              const std::string& baseline_variant);

}  // namespace attnlab::bench
