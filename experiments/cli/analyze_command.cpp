// attnlab analyze DUMP.h5: per-head specialisation of a run from its attention dump. Writes
// heads.csv, classes.csv, similarity.csv, analysis.h5 and figures/*.svg (each atomically) and
// prints a grid of head labels, when each formed, the groups of redundant heads and the
// throughput.
#include <fmt/core.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <stdexcept>

#include "analysis/dump/dump_reader.h"
#include "analysis/heads/analysis_file.h"
#include "analysis/heads/head_analysis.h"
#include "analysis/heads/head_figures.h"
#include "analysis/heads/head_report.h"
#include "analysis/heads/head_similarity.h"
#include "analysis/run_outputs.h"
#include "experiments/cli/commands.h"
#include "experiments/config/config.h"
#include "experiments/run/atomic_file.h"
#include "experiments/run/progress.h"

namespace attnlab::cli {
namespace {

struct AnalyzeArguments {
  std::filesystem::path dump;
  std::filesystem::path out;
  std::string snapshot = "all";
  bool figures = true;
};

void run_analyze(const AnalyzeArguments& arguments) {
  heads::HeadAnalysis analysis;
  std::optional<heads::HeadSimilarity> similarity;
  std::vector<heads::Figure> figures;
  std::vector<dump::LayerInfo> layers;
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t bytes = 0;
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
    analysis = heads::analyse_heads(reader, snapshots, run::terminal_counter("heads"));
    if (reader.has_maps()) {
      similarity = heads::head_similarity(reader, snapshots.back(),
                                          run::terminal_counter("similarity, samples"));
    }
    if (arguments.figures) {
      figures = heads::head_figures(analysis, similarity ? &*similarity : nullptr, reader);
    }
    bytes = reader.map_bytes_read();
  } catch (const dump::DumpError& error) {
    throw config::ConfigError(error.what());
  } catch (const std::out_of_range& error) {
    throw config::ConfigError(error.what());
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("{}", heads::summary_text(analysis, layers));
  if (similarity) fmt::print("{}", heads::similarity_text(*similarity));
  if (bytes > 0) {
    fmt::print("read {:.1f} MB of stored maps in {:.2f} s ({:.1f} MB/s, similarity included)\n",
               static_cast<double>(bytes) / 1e6, seconds,
               static_cast<double>(bytes) / 1e6 / seconds);
  }

  const auto out =
      arguments.out.empty() ? arguments.dump.parent_path() / analysis::kAnalysisFolder
                           : arguments.out;
  const auto figure_dir = out / "figures";
  std::error_code error;
  std::filesystem::create_directories(figures.empty() ? out : figure_dir, error);
  if (error) throw run::IoError("cannot create " + out.string() + ": " + error.message());
  std::vector<std::filesystem::path> written = {out / heads::kHeadsFile, out / heads::kClassesFile};
  run::write_file_atomic(written[0], heads::heads_csv(analysis));
  run::write_file_atomic(written[1], heads::classes_csv(analysis));
  if (similarity) {
    written.push_back(out / heads::kSimilarityFile);
    run::write_file_atomic(written.back(), heads::similarity_csv(*similarity));
  }
  // HDF5 writes the file itself: into a temporary next to it, then fsync and rename.
  written.push_back(out / heads::kAnalysisFile);
  const auto temporary = run::temporary_path_for(written.back());
  try {
    heads::write_analysis_file(temporary, analysis, similarity ? &*similarity : nullptr, layers,
                               arguments.dump);
  } catch (const dump::DumpError& failure) {
    std::filesystem::remove(temporary, error);
    throw run::IoError(failure.what());
  }
  run::commit_file(temporary, written.back());
  for (const auto& figure : figures) run::write_file_atomic(figure_dir / figure.file, figure.svg);
  for (const auto& path : written) fmt::print("written {}\n", path.string());
  if (!figures.empty()) {
    fmt::print("written {} figures in {}\n", figures.size(), figure_dir.string());
  }
}

}  // namespace

void add_analyze_command(CLI::App& app) {
  auto arguments = std::make_shared<AnalyzeArguments>();
  auto* command = app.add_subcommand(
      "analyze", "per-head specialisation from an attention dump: scores, labels, formation steps");
  command->add_option("dump", arguments->dump, "attention dump (a run's attention.h5)")->required();
  command->add_option("--out", arguments->out,
                      "output folder for heads.csv, classes.csv, similarity.csv, analysis.h5 and "
                      "figures/ (default: <run>/analysis)");
  command->add_option("--snapshot", arguments->snapshot,
                      "all (default), last, or a snapshot index (negative: from the end)");
  command->add_flag("!--no-figures", arguments->figures, "skip the SVG figures");
  command->callback([arguments] { run_analyze(*arguments); });
}

}  // namespace attnlab::cli
