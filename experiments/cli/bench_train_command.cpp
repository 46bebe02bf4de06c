// attnlab bench train: tokens/s, step time, peak RSS and MFU of the shared training step on the
// fixed presets, the matrix-product peak of this machine, and (--vs-python) the same model in
// PyTorch eager, measured alternately in one invocation. Writes results/bench/train.csv (one row
// per measurement) and train.json (peaks, medians and ratios per preset).
//
// Every measurement runs in a fresh process: attnlab's in a forked child, the peer as a python3
// process, so each peak RSS is its own and neither inherits the other's allocator state.
#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "experiments/bench/train_benchmark.h"
#include "experiments/cli/commands.h"
#include "experiments/config/config.h"
#include "experiments/run/atomic_file.h"
#include "experiments/run/forked_child.h"
#include "experiments/run/sample_statistics.h"
#include "experiments/run/schema.h"
#include "experiments/run/shell_command.h"
#include "experiments/run/system_info.h"

namespace attnlab::cli {
namespace {

struct TrainBenchArguments {
  std::vector<std::string> presets = {"tiny", "small", "medium"};
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

struct Row {
  int round = 0;
  std::string preset, implementation, precision;  // precision actually run
  bench::TrainMeasurement measurement;
  double peak_gflops = 0.0;      // this round's matmul peak in the row's precision
  double flops_per_token = 0.0;  // of the preset's model (training_flops_per_token)
  double mfu() const {
    return flops_per_token * measurement.tokens_per_second() / (peak_gflops * 1e9);
  }
};

int steps_for(const TrainBenchArguments& arguments, const bench::TrainPreset& preset) {
  return arguments.steps > 0 ? arguments.steps : preset.default_steps;
}

std::filesystem::path peer_script() {
  return std::filesystem::path(ATTNLAB_SOURCE_DIR) / "scripts" / "bench" / "torch_gpt.py";
}

// Runs one measurement in a forked child; throws with the child's message when it failed.
bench::TrainMeasurement measure_attnlab(const TrainBenchArguments& arguments,
                                        const bench::TrainPreset& preset,
                                        train::Precision precision, int threads) {
  const auto result = run::run_in_child([&] {
    return bench::to_json(bench::measure_training(preset, steps_for(arguments, preset), arguments.warmup,
                                                  precision, threads))
        .dump();
  });
  if (result.exit_code != 0) {
    throw std::runtime_error(fmt::format("attnlab measurement of {} failed ({}): {}", preset.name,
                                         result.exit_code, result.output));
  }
  return bench::measurement_from_json(nlohmann::json::parse(result.output));
}

bench::TrainMeasurement measure_peer(const TrainBenchArguments& arguments,
                                     const bench::TrainPreset& preset, int threads) {
  const auto result = run::capture({arguments.python, peer_script().string(), "--preset",
                                    preset.name, "--steps", std::to_string(steps_for(arguments, preset)),
                                    "--warmup", std::to_string(arguments.warmup), "--threads",
                                    std::to_string(threads)});
  // The JSON is the last line; anything before it (warnings) is the peer's own.
  const auto last_line = result.output.find_last_of('{');
  if (result.exit_code != 0 || last_line == std::string::npos) {
    throw std::runtime_error(fmt::format("the PyTorch peer ({} {}) failed with exit code {}: {}",
                                         arguments.python, peer_script().string(),
                                         result.exit_code, result.output));
  }
  const auto line_start = result.output.rfind('\n', last_line);
  return bench::measurement_from_json(nlohmann::json::parse(
      result.output.substr(line_start == std::string::npos ? 0 : line_start + 1)));
}

std::string csv(const std::vector<Row>& rows, int threads) {
  std::ostringstream out;
  out << "round,preset,implementation,precision,threads,tokens_per_step,parameters,steps,"
         "tokens_per_s,step_ms_median,step_ms_p10,step_ms_p90,peak_rss_mb,model_tflops_per_s,"
         "matmul_peak_gflops,mfu,final_loss\n";
  for (const auto& row : rows) {
    const auto& m = row.measurement;
    out << fmt::format(
        "{},{},{},{},{},{},{},{},{:.1f},{:.3f},{:.3f},{:.3f},{:.1f},{:.5f},{:.1f},{:.4f},{:.5f}\n",
        row.round, row.preset, row.implementation, row.precision, threads, m.tokens_per_step,
        m.parameters, m.step_seconds.size(), m.tokens_per_second(),
        1e3 * bench::median(m.step_seconds), 1e3 * run::percentile(m.step_seconds, 0.1),
        1e3 * run::percentile(m.step_seconds, 0.9), m.peak_rss_mb,
        row.mfu() * row.peak_gflops / 1e3, row.peak_gflops, row.mfu(), m.final_loss);
  }
  return out.str();
}

void run_bench(const TrainBenchArguments& arguments) {
  std::vector<const bench::TrainPreset*> presets;
  for (const auto& name : arguments.presets) {
    try {
      presets.push_back(&bench::train_preset(name));
    } catch (const std::invalid_argument& error) {
      throw config::ConfigError(std::string("--presets: ") + error.what());
    }
  }
  std::vector<std::pair<std::string, train::PrecisionChoice>> precisions;
  for (const auto& name : arguments.precisions) {
    try {
      precisions.emplace_back(name, train::resolve_precision(name, torch::kCPU));
    } catch (const std::invalid_argument& error) {
      throw config::ConfigError(std::string("--precision: ") + error.what());
    }
    if (!precisions.back().second.warning.empty()) {
      fmt::print(stderr, "warning: {}\n", precisions.back().second.warning);
    }
    // A request that resolves to a precision already measured (bf16 falling back to fp32) would
    // measure the same thing twice.
    for (std::size_t index = 0; index + 1 < precisions.size(); ++index) {
      if (precisions[index].second.precision == precisions.back().second.precision) {
        precisions.pop_back();
        break;
      }
    }
  }
  if (arguments.vs_python && !std::filesystem::exists(peer_script())) {
    throw config::ConfigError("--vs-python: the peer " + peer_script().string() + " is missing");
  }
  const int threads = arguments.threads > 0 ? arguments.threads : run::available_cores();

  // Matrix-product peaks, each in a fresh process on the measurements' threads. Remeasured in
  // every round, so that each row's MFU divides by a peak taken minutes, not an hour, apart on a
  // machine whose speed drifts. Emulated bf16 is ~30x slower: a smaller product suffices.
  const bool native_bf16 = train::cpu_has_bf16_matrix_units();
  const auto peak = [&](torch::ScalarType dtype) {
    const auto size = dtype == torch::kBFloat16 && !native_bf16
                          ? std::min<std::int64_t>(arguments.matmul_size, 512)
                          : arguments.matmul_size;
    const auto result = run::run_in_child([&] {
      return fmt::format("{}", bench::measure_matmul_gflops(dtype, size, 5, threads));
    });
    if (result.exit_code != 0) throw std::runtime_error("matmul peak: " + result.output);
    return std::stod(result.output);
  };
  bool runs_bf16 = false;
  for (const auto& [requested, choice] : precisions) {
    runs_bf16 = runs_bf16 || choice.precision == train::Precision::BFloat16;
  }
  const double first_fp32_peak = peak(torch::kFloat);
  const double first_bf16_peak = peak(torch::kBFloat16);
  fmt::print("train benchmark: {} threads, {} warm-up step(s) then {} measured, {} round(s){}\n",
             threads, arguments.warmup,
             arguments.steps > 0 ? std::to_string(arguments.steps) : "the preset's default",
             arguments.rounds,
             arguments.vs_python ? ", attnlab and PyTorch eager alternately" : "");
  fmt::print("matmul peak (best of 5, remeasured every round): fp32 {:.1f} GFLOP/s ({}x{}), bf16 "
             "{:.1f} GFLOP/s{}\n\n",
             first_fp32_peak, arguments.matmul_size, arguments.matmul_size, first_bf16_peak,
             native_bf16 ? "" : " (no bf16 matrix instructions: emulated, at most 512x512)");
  fmt::print("{:<6} {:<7} {:<14} {:<5} {:>10} {:>9} {:>9} {:>8} {:>6}\n", "round", "preset",
             "implementation", "prec", "tokens/s", "step ms", "spread", "RSS MB", "MFU");

  std::vector<Row> rows;
  const auto record = [&](Row row) {
    const auto& m = row.measurement;
    fmt::print("{:<6} {:<7} {:<14} {:<5} {:>10.0f} {:>9.2f} {:>8.1f}% {:>8.0f} {:>5.1f}%\n",
               row.round, row.preset, row.implementation, row.precision, m.tokens_per_second(),
               1e3 * bench::median(m.step_seconds),
               100.0 * (run::percentile(m.step_seconds, 0.9) - run::percentile(m.step_seconds, 0.1)) /
                   bench::median(m.step_seconds),
               m.peak_rss_mb, 100.0 * row.mfu());
    std::fflush(stdout);
    rows.push_back(std::move(row));
    // Rewritten after every row, so an interrupted run keeps what it measured.
    std::filesystem::create_directories(arguments.output);
    run::write_file_atomic(arguments.output / "train.csv", csv(rows, threads));
  };
  std::map<std::string, double> flops_per_token;  // per preset, computed once
  for (const auto* preset : presets) {
    flops_per_token[preset->name] =
        model::training_flops_per_token(bench::preset_model(*preset), preset->length);
  }
  for (int round = 1; round <= arguments.rounds; ++round) {
    const double fp32_peak = round == 1 ? first_fp32_peak : peak(torch::kFloat);
    const double bf16_peak = round == 1 || !runs_bf16 ? first_bf16_peak : peak(torch::kBFloat16);
    for (const auto* preset : presets) {
      for (const auto& [requested, choice] : precisions) {
        const bool bf16 = choice.precision == train::Precision::BFloat16;
        record({round, preset->name, "attnlab", bf16 ? "bf16" : "fp32",
                measure_attnlab(arguments, *preset, choice.precision, threads),
                bf16 ? bf16_peak : fp32_peak, flops_per_token[preset->name]});
      }
      if (arguments.vs_python) {
        record({round, preset->name, "pytorch-eager", "fp32",
                measure_peer(arguments, *preset, threads), fp32_peak,
                flops_per_token[preset->name]});
      }
    }
  }

  // Per preset: medians over rounds, and each round's attnlab/peer ratio (same round, so the
  // machine's drift affects both sides alike) with its median.
  nlohmann::json summary = {{"threads", threads},
                            {"steps", arguments.steps},
                            {"warmup", arguments.warmup},
                            {"rounds", arguments.rounds},
                            {"matmul_size", arguments.matmul_size},
                            {"matmul_peak_gflops", {{"fp32", first_fp32_peak}, {"bf16", first_bf16_peak}}},
                            {"cpu_bf16_matrix_units", train::cpu_has_bf16_matrix_units()},
                            {"environment", run::environment_json(threads)},
                            {"presets", nlohmann::json::object()}};
  fmt::print("\n");
  for (const auto* preset : presets) {
    nlohmann::json entry = {{"flops_per_token", flops_per_token[preset->name]}};
    std::map<std::string, std::vector<double>> tokens_per_s, mfu;  // implementation/precision
    std::map<int, std::map<std::string, double>> by_round;
    for (const auto& row : rows) {
      if (row.preset != preset->name) continue;
      const std::string key = row.implementation + "/" + row.precision;
      tokens_per_s[key].push_back(row.measurement.tokens_per_second());
      mfu[key].push_back(row.mfu());
      by_round[row.round][key] = row.measurement.tokens_per_second();
    }
    for (const auto& [key, values] : tokens_per_s) {
      entry[key] = {{"tokens_per_s_median", bench::median(values)},
                    {"tokens_per_s_rounds", values},
                    {"mfu_median", bench::median(mfu[key])},
                    {"mfu_rounds", mfu[key]}};
    }
    const auto ratio_of = [&](const std::string& numerator, const std::string& denominator) {
      std::vector<double> ratios;
      for (const auto& [round, values] : by_round) {
        if (values.count(numerator) && values.count(denominator)) {
          ratios.push_back(values.at(numerator) / values.at(denominator));
        }
      }
      return ratios;
    };
    const auto report = [&](const std::string& name, const std::string& numerator,
                            const std::string& denominator) {
      const auto ratios = ratio_of(numerator, denominator);
      if (ratios.empty()) return;
      entry[name] = {{"median", bench::median(ratios)}, {"rounds", ratios}};
      fmt::print("{:<7} {} / {}: x{:.2f} (rounds:", preset->name, numerator, denominator,
                 bench::median(ratios));
      for (const double ratio : ratios) fmt::print(" {:.2f}", ratio);
      fmt::print(")\n");
    };
    report("attnlab_vs_pytorch_fp32", "attnlab/fp32", "pytorch-eager/fp32");
    report("bf16_vs_fp32", "attnlab/bf16", "attnlab/fp32");
    summary["presets"][preset->name] = entry;
  }
  run::write_file_atomic(arguments.output / "train.json", summary.dump(2) + "\n");
  fmt::print("\nwrote {} and {}\n", (arguments.output / "train.csv").string(),
             (arguments.output / "train.json").string());
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
