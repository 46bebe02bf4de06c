#include "experiments/bench/train_bench_results.h"

#include <map>
#include <sstream>

#include <fmt/core.h>

#include "base/sample_statistics.h"

namespace attnlab::bench {
namespace {

// Tokens/s per round and implementation/precision.
using RoundValues = std::map<int, std::map<std::string, double>>;

std::vector<double> round_ratios(const RoundValues& by_round, const TrainBenchRatio& ratio) {
  std::vector<double> ratios;
  for (const auto& [round, values] : by_round) {
    if (values.count(ratio.numerator) && values.count(ratio.denominator)) {
      ratios.push_back(values.at(ratio.numerator) / values.at(ratio.denominator));
    }
  }
  return ratios;
}

}  // namespace

double TrainBenchRow::mfu() const {
  return flops_per_token * measurement.tokens_per_second() / (peak_gflops * 1e9);
}

std::string train_bench_csv(const std::vector<TrainBenchRow>& rows, int threads) {
  std::ostringstream out;
  out << "round,preset,variant,implementation,precision,threads,tokens_per_step,parameters,steps,"
         "tokens_per_s,step_ms_median,step_ms_p10,step_ms_p90,peak_rss_mb,model_tflops_per_s,"
         "matmul_peak_gflops,mfu,final_loss\n";
  for (const auto& row : rows) {
    const auto& m = row.measurement;
    out << fmt::format(
        "{},{},{},{},{},{},{},{},{},{:.1f},{:.3f},{:.3f},{:.3f},{:.1f},{:.5f},{:.1f},{:.4f},"
        "{:.5f}\n",
        row.round, row.preset, row.variant, row.implementation, row.precision, threads,
        m.tokens_per_step,
        m.parameters, m.step_seconds.size(), m.tokens_per_second(),
        1e3 * median(m.step_seconds), 1e3 * attnlab::percentile(m.step_seconds, 0.1),
        1e3 * attnlab::percentile(m.step_seconds, 0.9), m.peak_rss_mb,
        row.mfu() * row.peak_gflops / 1e3, row.peak_gflops, row.mfu(), m.final_loss);
  }
  return out.str();
}

std::string measurement_key(const TrainBenchRow& row, const std::string& baseline_variant) {
  const auto variant = row.variant == baseline_variant ? "" : "[" + row.variant + "]";
  return row.implementation + variant + "/" + row.precision;
}

std::vector<TrainBenchRatio> train_bench_ratios(const std::vector<std::string>& variants,
                                                const std::vector<std::string>& precisions) {
  std::vector<TrainBenchRatio> ratios = {
      {"attnlab_vs_pytorch_fp32", "attnlab/fp32", "pytorch-eager/fp32"},
      {"bf16_vs_fp32", "attnlab/bf16", "attnlab/fp32"},
  };
  for (std::size_t index = 1; index < variants.size(); ++index) {
    for (const auto& precision : precisions) {
      ratios.push_back({variants[index] + "_vs_" + variants.front() + "_" + precision,
                        "attnlab[" + variants[index] + "]/" + precision,
                        "attnlab/" + precision});
    }
  }
  return ratios;
}

nlohmann::json preset_summary(const std::string& preset,
                              const std::map<std::string, double>& flops_per_token,
                              const std::vector<TrainBenchRow>& rows,
                              const std::vector<TrainBenchRatio>& ratios,
                              const std::string& baseline_variant) {
  std::map<std::string, std::vector<double>> tokens_per_s, mfu;  // per measurement key
  RoundValues by_round;
  for (const auto& row : rows) {
    if (row.preset != preset) continue;
    const std::string key = measurement_key(row, baseline_variant);
    tokens_per_s[key].push_back(row.measurement.tokens_per_second());
    mfu[key].push_back(row.mfu());
    by_round[row.round][key] = row.measurement.tokens_per_second();
  }
  nlohmann::json entry = {{"flops_per_token", flops_per_token.at(baseline_variant)},
                          {"flops_per_token_by_variant", flops_per_token}};
  for (const auto& [key, values] : tokens_per_s) {
    entry[key] = {{"tokens_per_s_median", median(values)},
                  {"tokens_per_s_rounds", values},
                  {"mfu_median", median(mfu[key])},
                  {"mfu_rounds", mfu[key]}};
  }
  for (const auto& ratio : ratios) {
    const auto per_round = round_ratios(by_round, ratio);
    if (!per_round.empty()) {
      entry[ratio.name] = {{"median", median(per_round)}, {"rounds", per_round}};
    }
  }
  return entry;
}

}  // namespace attnlab::bench
