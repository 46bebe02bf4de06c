// `attnlab bench train`: how fast the shared training step runs on a fixed model, against this
// machine's measured matrix-product peak (MFU) and against the same model in PyTorch eager
// (scripts/bench/torch_gpt.py).
//
// C = d_model, L = layers, T = sequence length, V = vocabulary.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "experiments/model/model_size.h"
#include "experiments/model/transformer.h"
#include "base/sample_statistics.h"
#include "experiments/train/precision.h"

namespace attnlab::bench {

// Causal attention (scaled unless another variant preset is asked for), learned positions,
// pre-LayerNorm, GELU MLP of 4x width, AdamW, random tokens from a vocabulary of kBenchVocab.
// scripts/bench/torch_gpt.py holds the same table (scaled attention only).
struct TrainPreset {
  std::string name;
  std::int64_t d_model, layers, heads, length, batch;
  int default_steps;  // measured steps for about 2 s of training per measurement on 2 cores
};
constexpr std::int64_t kBenchVocab = 256;
const std::vector<TrainPreset>& train_presets();  // tiny, small, medium
// Throws std::invalid_argument naming the known presets.
const TrainPreset& train_preset(const std::string& name);

// The preset's model with the attention of a variant preset (configs/variant/<name>.toml); throws
// config::ConfigError naming an unknown one.
model::ModelSpec preset_model(const TrainPreset& preset, const std::string& variant = "scaled");

struct TrainMeasurement {
  std::vector<double> step_seconds;  // the measured steps, after the warm-up
  std::int64_t tokens_per_step = 0;
  std::int64_t parameters = 0;
  double peak_rss_mb = 0.0;  // the whole process's peak resident set
  double final_loss = 0.0;
  double tokens_per_second() const;  // tokens of the measured steps / their summed time
};

// Trains the preset's model for warmup + steps steps with attnlab's training step (the code
// `attnlab train` runs: forward_backward, gradient clipping at 1.0, AdamW) on this thread count.
// Meant to run in a fresh process (see base/forked_child.h) so that peak RSS is its own.
TrainMeasurement measure_training(const TrainPreset& preset, const std::string& variant, int steps,
                                  int warmup, train::Precision precision, int threads);

// The best of `repeats` n x n matrix products (torch::mm) in `dtype`, in GFLOP/s (2 n^3 per
// product): what the matrix kernels of this machine reach through LibTorch on these threads.
double measure_matmul_gflops(torch::ScalarType dtype, std::int64_t n, int repeats, int threads);

// The measurement as JSON with the field names scripts/bench/torch_gpt.py prints, and back.
nlohmann::json to_json(const TrainMeasurement& measurement);
TrainMeasurement measurement_from_json(const nlohmann::json& json);

using attnlab::median;  // of the step times and per-round ratios

}  // namespace attnlab::bench
