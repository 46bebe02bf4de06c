// Subcommands of the `attnlab` binary. Each add_* registers one subcommand with its options and
// the function that runs it; main() only dispatches and maps errors to exit codes.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "experiments/sweep/sweep_runner.h"

namespace attnlab::cli {

// Options shared by every command that reads a config: --config FILE and trailing overrides.
struct ConfigArguments {
  std::filesystem::path config_file;
  std::vector<std::string> overrides;
};
void add_config_arguments(CLI::App& command, ConfigArguments& arguments);
// --launcher, --jobs, --retry-failed, --dry-run, --new, --wait (sweep, and train -m).
void add_sweep_options(CLI::App& command, sweep::SweepRequest& request);

void add_train_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_ablate_command(CLI::App& app);
void add_compare_command(CLI::App& app);
void add_analyze_command(CLI::App& app);
void add_config_command(CLI::App& app);
void add_info_command(CLI::App& app);
void add_variants_command(CLI::App& app);
void add_export_command(CLI::App& app);
void add_probe_command(CLI::App& app);
void add_sweep_command(CLI::App& app);
void add_report_command(CLI::App& app);

// `attnlab bench`: benchmarks as subcommands, each added from its own file through this group
// (created on first use), e.g. `attnlab bench attention`.
inline CLI::App& bench_command(CLI::App& app) {
  auto existing = app.get_subcommands([](CLI::App* sub) { return sub->get_name() == "bench"; });
  if (!existing.empty()) return *existing.front();
  auto* bench = app.add_subcommand("bench", "benchmarks (time and memory)");
  bench->require_subcommand(1);
  return *bench;
}
void add_bench_attention_command(CLI::App& app);
void add_bench_record_command(CLI::App& app);
void add_bench_analyze_command(CLI::App& app);
void add_bench_train_command(CLI::App& app);

}  // namespace attnlab::cli
