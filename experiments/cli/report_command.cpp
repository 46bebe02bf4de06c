// attnlab report DIR: one self-contained HTML file (DIR/report.html) for a sweep, a folder of
// runs, a run or an analysis output, and every chart of it as an SVG figure. The data comes
// from analysis/report (C++); the page and the figures are made by
// analysis/report/web/build_report.mjs (Node, with the Vega-Lite libraries pinned in its
// package-lock.json and inlined into the page).
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>

#include <fmt/core.h>

#include "analysis/dump/hdf5_support.h"
#include "analysis/report/report_data.h"
#include "experiments/cli/commands.h"
#include "experiments/config/config.h"
#include "experiments/run/atomic_file.h"
#include "experiments/run/progress.h"
#include "experiments/sweep/job_process.h"

namespace attnlab::cli {
namespace {

namespace fs = std::filesystem;

struct ReportArguments {
  report::ReportRequest request;
  std::string maps = "selected";
  fs::path out;
  bool figures = true;
};

// Where the page's code and its npm packages are: ATTNLAB_REPORT_WEB_DIR, else the source tree.
fs::path web_dir() {
  if (const char* dir = std::getenv("ATTNLAB_REPORT_WEB_DIR"); dir != nullptr && *dir != '\0') {
    return dir;
  }
  return fs::path(ATTNLAB_SOURCE_DIR) / "analysis" / "report" / "web";
}

// Runs `node build_report.mjs ...` with `input` on its stdin (no temporary file to leave behind
// on Ctrl-C) and this process's stdout and stderr; returns its exit code.
int run_node(const std::vector<std::string>& arguments, const std::string& input) {
  const char* node = std::getenv("ATTNLAB_NODE");
  const std::string binary = node != nullptr && *node != '\0' ? node : "node";
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(binary.c_str()));
  for (const auto& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);
  int pipe_ends[2];
  if (::pipe(pipe_ends) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  std::fflush(stdout);
  const pid_t child = ::fork();
  if (child < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (child == 0) {
    ::dup2(pipe_ends[0], STDIN_FILENO);
    ::close(pipe_ends[0]);
    ::close(pipe_ends[1]);
    ::execvp(binary.c_str(), argv.data());
    std::fprintf(stderr, "error: cannot run %s: %s (Node.js is needed for reports: "
                 "scripts/setup.sh installs it)\n", binary.c_str(), std::strerror(errno));
    ::_exit(127);
  }
  ::close(pipe_ends[0]);
  // A builder that dies early closes the pipe: its exit code says why, not SIGPIPE.
  const auto previous = std::signal(SIGPIPE, SIG_IGN);
  for (std::size_t written = 0; written < input.size();) {
    const auto count = ::write(pipe_ends[1], input.data() + written, input.size() - written);
    if (count < 0 && errno == EINTR) continue;
    if (count <= 0) break;
    written += static_cast<std::size_t>(count);
  }
  ::close(pipe_ends[1]);
  std::signal(SIGPIPE, previous);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return sweep::exit_code_of(status);
}

void run_report(ReportArguments arguments) {
  const auto web = web_dir();
  const auto builder = web / "build_report.mjs";
  if (!fs::exists(web / "node_modules" / "vega" / "build" / "vega.min.js")) {
    throw run::IoError("the report's JavaScript libraries are missing from " +
                       (web / "node_modules").string() +
                       ": run scripts/setup.sh (it runs npm ci there)");
  }
  auto& request = arguments.request;
  request.attnlab_version = ATTNLAB_VERSION;
  nlohmann::json data;
  // Bad options and unreadable inputs are bad input: exit 2 with the file or option named.
  try {
    request.maps = report::parse_maps_mode(arguments.maps);
    data = report::gather_report_data(request, run::terminal_counter("maps"));
  } catch (const std::invalid_argument& error) {
    throw config::ConfigError(error.what());
  } catch (const dump::DumpError& error) {
    throw config::ConfigError(error.what());
  }
  for (const auto& skipped : data["skipped_dumps"]) {
    fmt::print(stderr, "warning: {}\n", skipped.get<std::string>());
  }

  const auto out = arguments.out.empty() ? request.dir / "report.html" : arguments.out;
  std::vector<std::string> node_arguments = {builder.string(), "--data", "-", "--out",
                                             out.string()};
  if (arguments.figures) {
    node_arguments.push_back("--figures");
    node_arguments.push_back((out.parent_path() / "report-figures").string());
  }
  // Paths and CSV text are not always UTF-8 (a run folder's name is whatever bytes it is):
  // replace what is not, rather than fail.
  const int code = run_node(
      node_arguments, data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  if (code != 0) {
    throw std::runtime_error(fmt::format("building the report failed ({} exited {})",
                                         builder.string(), code));
  }
  std::size_t maps = 0;
  for (const auto& run : data["runs"]) maps += run["maps"].is_null() ? 0 : 1;
  fmt::print("report {}: {} run(s) with attention dumps, maps of {}; {:.1f} MB\n", out.string(),
             data["runs"].size(), maps, static_cast<double>(fs::file_size(out)) / 1e6);
}

}  // namespace

void add_report_command(CLI::App& app) {
  auto arguments = std::make_shared<ReportArguments>();
  auto& request = arguments->request;
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
