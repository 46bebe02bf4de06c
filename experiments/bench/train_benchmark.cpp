#include "experiments/bench/train_benchmark.h"

#include <algorithm>
#include <chrono>
#include <numeric>
#include <stdexcept>

#include <ATen/Parallel.h>

#include "experiments/model/model_config.h"
#include "experiments/run/schema.h"
#include "experiments/run/system_info.h"
#include "experiments/train/optimizer.h"
#include "experiments/train/train_step.h"

namespace attnlab::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

const std::vector<TrainPreset>& train_presets() {
  static const std::vector<TrainPreset> presets = {
      {"tiny", 64, 2, 4, 64, 16, 100},
      {"small", 128, 2, 4, 128, 32, 12},
      {"medium", 256, 4, 8, 256, 16, 4},
  };
  return presets;
}

const TrainPreset& train_preset(const std::string& name) {
  std::string known;
  for (const auto& preset : train_presets()) {
    if (preset.name == name) return preset;
    known += (known.empty() ? "" : ", ") + preset.name;
  }
  throw std::invalid_argument("unknown bench preset \"" + name + "\" (known: " + known + ")");
}

model::ModelSpec preset_model(const TrainPreset& preset, const std::string& variant) {
  model::ModelSpec spec;
  spec.arch = "decoder";
  spec.vocab_size = kBenchVocab;
  spec.max_length = preset.length;
  spec.d_model = preset.d_model;
  spec.layers = preset.layers;
  spec.heads = preset.heads;
  spec.mlp_ratio = 4;
  spec.positions = "learned";
  spec.variant = model::variant_options(run::load_config(/*config_file=*/{}, {"variant=" + variant}));
  return spec;
}

double TrainMeasurement::tokens_per_second() const {
  const double seconds = std::accumulate(step_seconds.begin(), step_seconds.end(), 0.0);
  return seconds > 0.0 ? static_cast<double>(tokens_per_step) *
                             static_cast<double>(step_seconds.size()) / seconds
                       : 0.0;
}

TrainMeasurement measure_training(const TrainPreset& preset, const std::string& variant, int steps,
                                  int warmup, train::Precision precision, int threads) {
  if (steps < 1) throw std::invalid_argument("--steps must be at least 1");
  at::set_num_threads(threads);
  torch::manual_seed(0);
  const torch::Device device(torch::kCPU);
  model::Transformer model(preset_model(preset, variant));
  model->train();
  train::AdamWSettings settings;
  settings.lr = 3e-4;  // as the PyTorch peer; the rate does not change a step's cost
  auto optimizer = train::make_optimizer(*model, settings);

  // A pool of random batches, cycled: the cost of a step does not depend on the tokens.
  std::vector<tasks::Batch> pool;
  for (int index = 0; index < 8; ++index) {
    const auto tokens =
        torch::randint(kBenchVocab, {preset.batch, preset.length + 1}, torch::kLong);
    pool.push_back({tokens.narrow(1, 0, preset.length).contiguous(),
                    tokens.narrow(1, 1, preset.length).contiguous(), torch::Tensor()});
  }

  TrainMeasurement measurement;
  measurement.tokens_per_step = preset.batch * preset.length;
  measurement.parameters = model->parameter_count();
  train::StepSums sums;
  for (int step = 0; step < warmup + steps; ++step) {
    const auto start = Clock::now();
    optimizer.zero_grad();
    sums = train::forward_backward(model, pool[static_cast<std::size_t>(step) % pool.size()],
                                   device, /*micro_batches=*/1, precision);
    train::clip_gradient_norm(*model, 1.0);
    optimizer.step();
    if (step >= warmup) measurement.step_seconds.push_back(seconds_since(start));
  }
  measurement.final_loss = sums.mean_loss();
  measurement.peak_rss_mb = run::peak_rss_mb();
  return measurement;
}

double measure_matmul_gflops(torch::ScalarType dtype, std::int64_t n, int repeats, int threads) {
  at::set_num_threads(threads);
  torch::NoGradGuard no_grad;
  const auto a = torch::randn({n, n}).to(dtype);
  const auto b = torch::randn({n, n}).to(dtype);
  auto product = torch::mm(a, b);  // warm-up: thread pool, packing buffers
  double best = std::numeric_limits<double>::infinity();
  for (int repeat = 0; repeat < repeats; ++repeat) {
    const auto start = Clock::now();
    torch::mm_out(product, a, b);
    best = std::min(best, seconds_since(start));
  }
  const double size = static_cast<double>(n);
  return 2.0 * size * size * size / best / 1e9;
}

nlohmann::json to_json(const TrainMeasurement& measurement) {
  return {{"implementation", "attnlab"},
          {"parameters", measurement.parameters},
          {"tokens_per_step", measurement.tokens_per_step},
          {"step_seconds", measurement.step_seconds},
          {"tokens_per_s", measurement.tokens_per_second()},
          {"peak_rss_mb", measurement.peak_rss_mb},
          {"final_loss", measurement.final_loss}};
}

TrainMeasurement measurement_from_json(const nlohmann::json& json) {
  TrainMeasurement measurement;
  measurement.step_seconds = json.at("step_seconds").get<std::vector<double>>();
  measurement.tokens_per_step = json.at("tokens_per_step").get<std::int64_t>();
  measurement.parameters = json.at("parameters").get<std::int64_t>();
  measurement.peak_rss_mb = json.at("peak_rss_mb").get<double>();
  measurement.final_loss = json.at("final_loss").get<double>();
  return measurement;
}

}  // namespace attnlab::bench
