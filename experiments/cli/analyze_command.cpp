// attnlab analyze DUMP.h5: per-head specialisation of a run from its attention dump
// (analysis/heads/dump_analysis.h). Writes heads.csv, classes.csv, similarity.csv, analysis.h5
// and figures/*.svg and prints a grid of head labels, when each formed, the groups of redundant
// heads and the throughput.
#include <fmt/core.h>

#include <stdexcept>

#include "analysis/heads/dump_analysis.h"
#include "experiments/cli/bad_input.h"
#include "experiments/cli/commands.h"

namespace attnlab::cli {
namespace {

void run_analyze(const heads::AnalyzeRequest& request) {
  // A bad file or --snapshot is bad input; the messages name the file and, for a failed read,
  // the dataset.
  const auto analysis = as_bad_input<dump::DumpError, std::out_of_range>([&] {
    return heads::analyse_dump(request, [](const std::string& text) { fmt::print("{}", text); });
  });
  fmt::print("{}", heads::analysis_summary(analysis));
  const auto written = heads::write_dump_analysis(analysis, request.out);
  for (const auto& path : written.files) fmt::print("written {}\n", path.string());
  if (written.figures > 0) {
    fmt::print("written {} figures in {}\n", written.figures, written.figure_dir.string());
  }
}

}  // namespace

void add_analyze_command(CLI::App& app) {
  auto request = std::make_shared<heads::AnalyzeRequest>();
  auto* command = app.add_subcommand(
      "analyze", "per-head specialisation from an attention dump: scores, labels, formation steps");
  command->add_option("dump", request->dump, "attention dump (a run's attention.h5)")->required();
  command->add_option("--out", request->out,
                      "output folder for heads.csv, classes.csv, similarity.csv, analysis.h5 and "
                      "figures/ (default: <run>/analysis)");
  command->add_option("--snapshot", request->snapshot,
                      "all (default), last, or a snapshot index (negative: from the end)");
  command->add_flag("!--no-figures", request->figures, "skip the SVG figures");
  command->callback([request] { run_analyze(*request); });
}

}  // namespace attnlab::cli
