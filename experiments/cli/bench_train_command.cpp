// attnlab bench train: tokens/s, step time, peak RSS and MFU of the shared training step on the
// fixed presets, the matrix-product peak of this machine, and (--vs-python) the same model in
// PyTorch eager, measured alternately in one invocation. Writes results/bench/train.csv (one row
// per measurement) and train.json (peaks, medians and ratios per preset).
// The rounds and what they report are experiments/bench/'s (train_bench_rounds.h); this file
// reads the options and prints.
#include <algorithm>
#include <cstdio>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "base/sample_statistics.h"
#include "experiments/bench/train_bench_rounds.h"
#include "experiments/cli/commands.h"
#include "experiments/config/config.h"
#include "experiments/run/system_info.h"

namespace attnlab::cli {
namespace {

struct TrainBenchArguments {
  std::vector<std::string> presets = {"tiny", "small", "medium"};
  std::vector<std::string> variants = {"scaled"};
  std::vector<std::string> precisions = {"fp32"};
  int steps = 0;  // 0: each preset's default
  int warmup = 3;
  int rounds = 5;
  int threads = 0;
  bool vs_python = false;
  std::string python = "/usr/bin/python3";
  std::int64_t matmul_size = 2048;
  std::filesystem::path output = "results/bench";
};

std::filesystem::path peer_script() {
  return std::filesystem::path(ATTNLAB_SOURCE_DIR) / "scripts" / "bench" / "torch_gpt.py";
}

std::vector<const bench::TrainPreset*> presets_of(const std::vector<std::string>& names) {
  std::vector<const bench::TrainPreset*> presets;
  for (const auto& name : names) {
    try {
      presets.push_back(&bench::train_preset(name));
    } catch (const std::invalid_argument& error) {
      throw config::ConfigError(std::string("--presets: ") + error.what());
    }
  }
  return presets;
}

// Each precision once: a request that resolves to one already asked for (bf16 falling back to
// fp32) would measure the same thing twice.
std::vector<train::Precision> precisions_of(const std::vector<std::string>& names) {
  std::vector<train::Precision> precisions;
  for (const auto& name : names) {
    train::PrecisionChoice choice;
    try {
      choice = train::resolve_precision(name, torch::kCPU);
    } catch (const std::invalid_argument& error) {
      throw config::ConfigError(std::string("--precision: ") + error.what());
    }
    if (!choice.warning.empty()) fmt::print(stderr, "warning: {}\n", choice.warning);
    if (std::find(precisions.begin(), precisions.end(), choice.precision) == precisions.end()) {
      precisions.push_back(choice.precision);
    }
  }
  return precisions;
}

bench::TrainBenchPlan plan_of(const TrainBenchArguments& arguments) {
  bench::TrainBenchPlan plan;
  plan.presets = presets_of(arguments.presets);
  plan.variants = arguments.variants;
  plan.precisions = precisions_of(arguments.precisions);
  if (arguments.vs_python && !std::filesystem::exists(peer_script())) {
    throw config::ConfigError("--vs-python: the peer " + peer_script().string() + " is missing");
  }
  plan.steps = arguments.steps;
  plan.warmup = arguments.warmup;
  plan.rounds = arguments.rounds;
  plan.threads = arguments.threads > 0 ? arguments.threads : run::available_cores();
  plan.matmul_size = arguments.matmul_size;
  plan.vs_python = arguments.vs_python;
  plan.python = arguments.python;
  plan.peer_script = peer_script();
  plan.output = arguments.output;
  return plan;
}

void print_header(const bench::TrainBench& bench) {
  const auto& plan = bench.plan();
  const auto& peaks = bench.first_peaks();
  fmt::print("train benchmark: {} threads, {} warm-up step(s) then {} measured, {} round(s){}\n",
             plan.threads, plan.warmup,
             plan.steps > 0 ? std::to_string(plan.steps) : "the preset's default", plan.rounds,
             plan.vs_python ? ", attnlab and PyTorch eager alternately" : "");
  const char* emulated = " (no bf16 matrix instructions: emulated, at most 512x512)";
  fmt::print("matmul peak (best of 5, remeasured every round): fp32 {:.1f} GFLOP/s ({}x{}), bf16 "
             "{:.1f} GFLOP/s{}\n\n",
             peaks.fp32, plan.matmul_size, plan.matmul_size, peaks.bf16,
             bench.native_bf16() ? "" : emulated);
  fmt::print("{:<6} {:<7} {:<12} {:<14} {:<5} {:>10} {:>9} {:>9} {:>8} {:>6} {:>10}\n", "round",
             "preset", "variant", "implementation", "prec", "tokens/s", "step ms", "spread",
             "RSS MB", "MFU", "parameters");
}

void print_row(const bench::TrainBenchRow& row) {
  const auto& step_seconds = row.measurement.step_seconds;
  const double median = bench::median(step_seconds);
  const double spread =
      attnlab::percentile(step_seconds, 0.9) - attnlab::percentile(step_seconds, 0.1);
  fmt::print("{:<6} {:<7} {:<12} {:<14} {:<5} {:>10.0f} {:>9.2f} {:>8.1f}% {:>8.0f} {:>5.1f}% {:>10}\n",
             row.round, row.preset, row.variant, row.implementation, row.precision,
             row.measurement.tokens_per_second(), 1e3 * median, 100.0 * spread / median,
             row.measurement.peak_rss_mb, 100.0 * row.mfu(), row.measurement.parameters);
  std::fflush(stdout);
}

// "tiny    attnlab/bf16 / attnlab/fp32: x0.85 (rounds: 0.68 1.02)" per preset and ratio.
void print_ratios(const bench::TrainBench& bench, const nlohmann::json& summary) {
  fmt::print("\n");
  for (const auto* preset : bench.plan().presets) {
    const auto& entry = summary.at("presets").at(preset->name);
    for (const auto& ratio : bench.ratios()) {
      if (!entry.contains(ratio.name)) continue;
      const auto& values = entry.at(ratio.name);
      fmt::print("{:<7} {} / {}: x{:.2f} (rounds:", preset->name, ratio.numerator,
                 ratio.denominator, values.at("median").get<double>());
      for (const auto& value : values.at("rounds")) fmt::print(" {:.2f}", value.get<double>());
      fmt::print(")\n");
    }
  }
}

void run_bench(const TrainBenchArguments& arguments) {
  bench::TrainBench bench(plan_of(arguments));
  print_header(bench);
  bench.run(print_row);
  const auto summary = bench.summary();
  print_ratios(bench, summary);
  bench.write_summary(summary);
  fmt::print("\nwrote {} and {}\n", bench.csv_path().string(), bench.json_path().string());
}

}  // namespace

void add_bench_train_command(CLI::App& app) {
  auto arguments = std::make_shared<TrainBenchArguments>();
  auto* command = bench_command(app).add_subcommand(
      "train", "tokens/s, step time, peak RSS and MFU of training steps on fixed presets, "
               "optionally against the same model in PyTorch eager (--vs-python)");
  command->add_option("--presets", arguments->presets,
                      "tiny (d_model 64, 2 layers, 4 heads, T 64, batch 16), small (128, 2, 4, "
                      "128, 32), medium (256, 4, 8, 256, 16); comma separated")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->capture_default_str();
  command->add_option("--variants", arguments->variants,
                      "variant presets (configs/variant/<name>.toml) of the models' attention, "
                      "comma separated; the first is the baseline of the printed ratios (the "
                      "PyTorch peer of --vs-python runs only when it is scaled)")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->capture_default_str();
  command->add_option("--precision", arguments->precisions,
                      "fp32, bf16 (fp32 with a warning where the CPU lacks bf16 units), "
                      "bf16_emulated; comma separated to compare")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->capture_default_str();
  command->add_option("--steps", arguments->steps,
                      "measured steps per measurement (default: tiny 100, small 12, medium 4)")
      ->check(CLI::PositiveNumber);
  command->add_option("--warmup", arguments->warmup, "unmeasured steps before them")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command->add_option("--rounds", arguments->rounds,
                      "rounds; each measures every preset (and the peer) once")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--threads", arguments->threads, "threads (default: every available core)")
      ->check(CLI::NonNegativeNumber);
  command->add_flag("--vs-python", arguments->vs_python,
                    "also run scripts/bench/torch_gpt.py (PyTorch eager), alternating with "
                    "attnlab, and print the ratio per preset");
  command->add_option("--python", arguments->python, "python3 with torch, for --vs-python")
      ->capture_default_str();
  command->add_option("--matmul-size", arguments->matmul_size,
                      "n of the n x n products that measure the matmul peak")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--output", arguments->output, "folder for train.csv and train.json")
      ->capture_default_str();
  command->callback([arguments] { run_bench(*arguments); });
}

}  // namespace attnlab::cli
