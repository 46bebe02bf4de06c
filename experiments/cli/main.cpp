// attnlab: train, compare and analyse attention variants. Exit codes: 0 success, 1 runtime
// failure (I/O, a crash inside a run, failed sweep jobs), 2 bad input (config, overrides, files),
// 130 a sweep stopped by Ctrl-C.
#include <fmt/core.h>

#include "experiments/cli/commands.h"
#include "experiments/config/config.h"
#include "experiments/run/allocator_tuning.h"
#include "base/atomic_file.h"
#include "experiments/train/checkpoint.h"

int main(int argc, char** argv) {
  attnlab::run::keep_freed_memory();
  CLI::App app{"attnlab: a research harness for attention variants"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(ATTNLAB_VERSION));
  attnlab::cli::add_train_command(app);
  attnlab::cli::add_eval_command(app);
  attnlab::cli::add_ablate_command(app);
  attnlab::cli::add_export_command(app);
  attnlab::cli::add_probe_command(app);
  attnlab::cli::add_sweep_command(app);
  attnlab::cli::add_compare_command(app);
  attnlab::cli::add_analyze_command(app);
  attnlab::cli::add_report_command(app);
  attnlab::cli::add_config_command(app);
  attnlab::cli::add_variants_command(app);
  attnlab::cli::add_info_command(app);
  attnlab::cli::add_bench_attention_command(app);
  attnlab::cli::add_bench_record_command(app);
  attnlab::cli::add_bench_analyze_command(app);
  attnlab::cli::add_bench_train_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == 0 ? 0 : 2;
  } catch (const attnlab::config::ConfigError& error) {
    fmt::print(stderr, "error: {}\n", error.what());
    return 2;
  } catch (const attnlab::train::CheckpointError& error) {
    fmt::print(stderr, "error: {}\n", error.what());
    return 2;
  } catch (const attnlab::sweep::SweepInterrupted& error) {
    fmt::print(stderr, "{}\n", error.what());
    return 130;
  } catch (const attnlab::IoError& error) {
    fmt::print(stderr, "error: {}\n", error.what());
    return 1;
  } catch (const std::exception& error) {
    fmt::print(stderr, "error: {}\n", error.what());
    return 1;
  }
  return 0;
}
