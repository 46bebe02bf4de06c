#include "experiments/bench/train_bench_rounds.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include <fmt/core.h>

#include "base/atomic_file.h"
#include "base/forked_child.h"
#include "base/shell_command.h"
#include "experiments/run/system_info.h"

namespace attnlab::bench {
namespace {

bool runs_bf16(const std::vector<train::Precision>& precisions) {
  return std::find(precisions.begin(), precisions.end(), train::Precision::BFloat16) !=
         precisions.end();
}

// The measurement JSON is the peer's last line; anything before it (warnings) is its own.
nlohmann::json last_json_line(const std::string& output) {
  const auto brace = output.find_last_of('{');
  const auto line_start = output.rfind('\n', brace);
  return nlohmann::json::parse(output.substr(line_start == std::string::npos ? 0 : line_start + 1));
}

}  // namespace

TrainBench::TrainBench(TrainBenchPlan plan)
    : plan_(std::move(plan)),
      native_bf16_(train::cpu_has_bf16_matrix_units()),
      first_peaks_{measure_peak(torch::kFloat), measure_peak(torch::kBFloat16)} {
  for (const auto* preset : plan_.presets) {
    for (const auto& variant : plan_.variants) {
      flops_per_token_[preset->name][variant] =
          model::training_flops_per_token(preset_model(*preset, variant), preset->length);
    }
  }
}

void TrainBench::run(const std::function<void(const TrainBenchRow&)>& on_row) {
  for (int round = 1; round <= plan_.rounds; ++round) {
    const MatmulPeaks peaks = round == 1 ? first_peaks_ : round_peaks();
    for (const auto* preset : plan_.presets) {
      for (const auto& variant : plan_.variants) {
        const double flops_per_token = flops_per_token_.at(preset->name).at(variant);
        for (const auto precision : plan_.precisions) {
          const bool bf16 = precision == train::Precision::BFloat16;
          record({round, preset->name, "attnlab", bf16 ? "bf16" : "fp32", variant,
                  measure_attnlab(*preset, variant, precision), bf16 ? peaks.bf16 : peaks.fp32,
                  flops_per_token},
                 on_row);
        }
      }
      if (plan_.vs_python && plan_.variants.front() == "scaled") {
        record({round, preset->name, "pytorch-eager", "fp32", "scaled", measure_peer(*preset),
                peaks.fp32, flops_per_token_.at(preset->name).at("scaled")},
               on_row);
      }
    }
  }
}

nlohmann::json TrainBench::summary() const {
  nlohmann::json summary = {
      {"threads", plan_.threads},
      {"steps", plan_.steps},
      {"warmup", plan_.warmup},
      {"rounds", plan_.rounds},
      {"matmul_size", plan_.matmul_size},
      {"matmul_peak_gflops", {{"fp32", first_peaks_.fp32}, {"bf16", first_peaks_.bf16}}},
      {"cpu_bf16_matrix_units", native_bf16_},
      {"environment", run::environment_json(plan_.threads)},
      {"presets", nlohmann::json::object()}};
  summary["variants"] = plan_.variants;
  for (const auto* preset : plan_.presets) {
    summary["presets"][preset->name] = preset_summary(
        preset->name, flops_per_token_.at(preset->name), rows_, ratios(), plan_.variants.front());
  }
  return summary;
}

std::vector<TrainBenchRatio> TrainBench::ratios() const {
  std::vector<std::string> precisions;
  for (const auto precision : plan_.precisions) {
    precisions.push_back(precision == train::Precision::BFloat16 ? "bf16" : "fp32");
  }
  return train_bench_ratios(plan_.variants, precisions);
}

void TrainBench::write_summary(const nlohmann::json& summary) const {
  attnlab::write_file_atomic(json_path(), summary.dump(2) + "\n");
}

int TrainBench::steps_for(const TrainPreset& preset) const {
  return plan_.steps > 0 ? plan_.steps : preset.default_steps;
}

double TrainBench::measure_peak(torch::ScalarType dtype) const {
  // Emulated bf16 is ~30x slower: a smaller product suffices.
  const auto size = dtype == torch::kBFloat16 && !native_bf16_
                        ? std::min<std::int64_t>(plan_.matmul_size, 512)
                        : plan_.matmul_size;
  const auto result = attnlab::run_in_child([&] {
    return fmt::format("{}", measure_matmul_gflops(dtype, size, 5, plan_.threads));
  });
  if (result.exit_code != 0) throw std::runtime_error("matmul peak: " + result.output);
  return std::stod(result.output);
}

MatmulPeaks TrainBench::round_peaks() const {
  // The bf16 peak only when a bf16 row divides by it.
  return {measure_peak(torch::kFloat),
          runs_bf16(plan_.precisions) ? measure_peak(torch::kBFloat16) : first_peaks_.bf16};
}

TrainMeasurement TrainBench::measure_attnlab(const TrainPreset& preset, const std::string& variant,
                                             train::Precision precision) const {
  const auto result = attnlab::run_in_child([&] {
    return to_json(measure_training(preset, variant, steps_for(preset), plan_.warmup, precision,
                                    plan_.threads))
        .dump();
  });
  if (result.exit_code != 0) {
    throw std::runtime_error(fmt::format("attnlab measurement of {} with {} attention failed ({}): {}",
                                         preset.name, variant, result.exit_code, result.output));
  }
  return measurement_from_json(nlohmann::json::parse(result.output));
}

TrainMeasurement TrainBench::measure_peer(const TrainPreset& preset) const {
  const auto result = attnlab::capture(
      {plan_.python, plan_.peer_script.string(), "--preset", preset.name, "--steps",
       std::to_string(steps_for(preset)), "--warmup", std::to_string(plan_.warmup), "--threads",
       std::to_string(plan_.threads)});
  if (result.exit_code != 0 || result.output.find_last_of('{') == std::string::npos) {
    throw std::runtime_error(fmt::format("the PyTorch peer ({} {}) failed with exit code {}: {}",
                                         plan_.python, plan_.peer_script.string(),
                                         result.exit_code, result.output));
  }
  return measurement_from_json(last_json_line(result.output));
}

void TrainBench::record(TrainBenchRow row,
                        const std::function<void(const TrainBenchRow&)>& on_row) {
  on_row(row);
  rows_.push_back(std::move(row));
  std::filesystem::create_directories(plan_.output);
  attnlab::write_file_atomic(csv_path(), train_bench_csv(rows_, plan_.threads));
}

}  // namespace attnlab::bench
