// attnlab report DIR: one self-contained HTML file (DIR/report.html) for a sweep, a folder of
// runs, a run or an analysis output, and every chart of it as an SVG figure
// (analysis/report/report_page.h); this command runs the page builder, Node.
#include <csignal>
#include <cstdlib>
#include <stdexcept>

#include <fmt/core.h>

#include "analysis/report/report_page.h"
#include "base/forked_child.h"
#include "dump/hdf5_support.h"
#include "experiments/cli/bad_input.h"
#include "experiments/cli/commands.h"

namespace attnlab::cli {
namespace {

// Runs `node build_report.mjs ...` with `input` on its stdin (no temporary file to leave behind
// on Ctrl-C) and this process's stdout and stderr; returns its exit code.
int run_node(const std::vector<std::string>& arguments, const std::string& input) {
  const char* node = std::getenv("ATTNLAB_NODE");
  const std::string binary = node != nullptr && *node != '\0' ? node : "node";
  std::vector<std::string> argv = {binary};
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  attnlab::Pipe pipe;
  const pid_t child = attnlab::start_program(
      argv, {/*input=*/pipe.read_end()}, [&](const std::string& reason) {
        return "error: cannot run " + binary + ": " + reason +
               " (Node.js is needed for reports: scripts/setup.sh installs it)\n";
      });
  pipe.close_read();
  // A builder that dies early closes the pipe: its exit code says why, not SIGPIPE.
  const auto previous = std::signal(SIGPIPE, SIG_IGN);
  attnlab::write_all(pipe.write_end(), input);
  pipe.close_write();
  std::signal(SIGPIPE, previous);
  return attnlab::wait_child(child).shell_code();
}

void run_report(report::ReportPageRequest request) {
  request.data.attnlab_version = ATTNLAB_VERSION;
  // Bad options and unreadable inputs are bad input: exit 2 with the file or option named.
  const auto summary = as_bad_input<std::invalid_argument, dump::DumpError>(
      [&] { return report::build_report_page(request, run_node); });
  fmt::print("{}", summary);
}

}  // namespace

void add_report_command(CLI::App& app) {
  auto arguments = std::make_shared<report::ReportPageRequest>();
  auto& request = arguments->data;
  auto* command = app.add_subcommand(
      "report",
      "a self-contained HTML report (charts, head grids, attention explorer) of a sweep, a run, "
      "a folder of runs or an analysis output, plus every chart as SVG");
  command->add_option("dir", request.dir, "sweep, run, folder of runs, or analyze output folder")
      ->required();
  command->add_option("--out", arguments->out, "the HTML file (default: DIR/report.html); "
                                               "figures go to report-figures/ beside it");
  command->add_option("--maps", arguments->maps,
                      "attention maps to embed for the explorer: none, selected (default: the "
                      "--snapshot ones) or all snapshots");
  command->add_option("--snapshot", request.snapshots,
                      "snapshots whose maps are embedded: last (default), first, all, an index "
                      "(negative from the end), or a comma list");
  command->add_option("--samples", request.samples, "probe samples per snapshot (default 2)");
  command->add_option("--map-size", request.map_size,
                      "longest side stored; longer maps are stored as block means (default 256)");
  command->add_option("--max-map-mb", request.max_map_mb,
                      "refuse (exit 2) when the embedded maps would take more than this many MB "
                      "of the page (8-bit, base64; default 100, at most 300)");
  command->add_option("--with", request.with_runs,
                      "more runs (folders or attention.h5 files) for the explorer, e.g. the same "
                      "model with another variant");
  command->add_option("--bench", request.bench_csv,
                      "a bench attention CSV (default: DIR/attention.csv or "
                      "DIR/bench/attention.csv when present)");
  command->add_flag("!--no-figures", arguments->figures, "skip the SVG figures");
  command->callback([arguments] { run_report(*arguments); });
}

}  // namespace attnlab::cli
