// attnlab analyze DUMP.h5: per-head specialisation of a run from its attention dump; writes
// heads.csv and classes.csv (atomically) and prints a grid of head labels and when each formed.
#include <fmt/core.h>

#include <stdexcept>

#include "analysis/dump/dump_reader.h"
#include "analysis/heads/head_analysis.h"
#include "analysis/heads/head_report.h"
#include "experiments/cli/commands.h"
#include "experiments/config/config.h"
#include "experiments/run/atomic_file.h"

namespace attnlab::cli {
namespace {

struct AnalyzeArguments {
  std::filesystem::path dump;
  std::filesystem::path out;
  std::string snapshot = "all";
};

void run_analyze(const AnalyzeArguments& arguments) {
  heads::HeadAnalysis analysis;
  std::vector<dump::LayerInfo> layers;
  // A bad file or --snapshot is bad input (exit 2, via ConfigError); the messages name the file
  // and, for a failed read, the dataset.
  try {
    const dump::DumpReader reader(arguments.dump);
    std::vector<std::int64_t> snapshots;
    try {
      snapshots = heads::select_snapshots(arguments.snapshot, reader.snapshots());
    } catch (const std::invalid_argument& error) {
      throw config::ConfigError(arguments.dump.string() + ": " + error.what());
    }
    layers = reader.layers();
    fmt::print("attention dump {}: {} layers, {} samples, {} of {} snapshots (steps {}..{})\n",
               arguments.dump.string(), layers.size(), reader.samples(), snapshots.size(),
               reader.snapshots(), reader.steps()[static_cast<std::size_t>(snapshots.front())],
               reader.steps()[static_cast<std::size_t>(snapshots.back())]);
    if (!reader.has_maps()) {
      fmt::print("recorded without maps: scores from the file's statistics only\n");
    }
    analysis = heads::analyse_heads(reader, snapshots);
  } catch (const dump::DumpError& error) {
    throw config::ConfigError(error.what());
  } catch (const std::out_of_range& error) {
    throw config::ConfigError(error.what());
  }
  fmt::print("{}", heads::summary_text(analysis, layers));

  const auto out =
      arguments.out.empty() ? arguments.dump.parent_path() / "analysis" : arguments.out;
  std::error_code error;
  std::filesystem::create_directories(out, error);
  if (error) throw run::IoError("cannot create " + out.string() + ": " + error.message());
  run::write_file_atomic(out / heads::kHeadsFile, heads::heads_csv(analysis));
  run::write_file_atomic(out / heads::kClassesFile, heads::classes_csv(analysis));
  fmt::print("written {}\nwritten {}\n", (out / heads::kHeadsFile).string(),
             (out / heads::kClassesFile).string());
}

}  // namespace

void add_analyze_command(CLI::App& app) {
  auto arguments = std::make_shared<AnalyzeArguments>();
  auto* command = app.add_subcommand(
      "analyze", "per-head specialisation from an attention dump: scores, labels, formation steps");
  command->add_option("dump", arguments->dump, "attention dump (a run's attention.h5)")->required();
  command->add_option("--out", arguments->out,
                      "output folder for heads.csv and classes.csv (default: <run>/analysis)");
  command->add_option("--snapshot", arguments->snapshot,
                      "all (default), last, or a snapshot index (negative: from the end)");
  command->callback([arguments] { run_analyze(*arguments); });
}

}  // namespace attnlab::cli
