#include "analysis/report/report_page.h"

#include <cstdlib>
#include <stdexcept>

#include <fmt/core.h>

#include "base/atomic_file.h"
#include "base/progress.h"

namespace attnlab::report {
namespace {

namespace fs = std::filesystem;

// Where the page's code and its npm packages are: ATTNLAB_REPORT_WEB_DIR, else the source tree.
fs::path web_dir() {
  if (const char* dir = std::getenv("ATTNLAB_REPORT_WEB_DIR"); dir != nullptr && *dir != '\0') {
    return dir;
  }
  return fs::path(ATTNLAB_SOURCE_DIR) / "analysis" / "report" / "web";
}

void check_libraries_installed(const fs::path& web) {
  if (!fs::exists(web / "node_modules" / "vega" / "build" / "vega.min.js")) {
    throw attnlab::IoError("the report's JavaScript libraries are missing from " +
                           (web / "node_modules").string() +
                           ": run scripts/setup.sh (it runs npm ci there)");
  }
}

std::vector<std::string> builder_arguments(const fs::path& builder, const fs::path& out,
                                           bool figures) {
  std::vector<std::string> arguments = {builder.string(), "--data", "-", "--out", out.string()};
  if (figures) {
    arguments.push_back("--figures");
    arguments.push_back((out.parent_path() / "report-figures").string());
  }
  return arguments;
}

std::string summary_line(const fs::path& out, const nlohmann::json& data) {
  std::size_t maps = 0;
  for (const auto& run : data["runs"]) maps += run["maps"].is_null() ? 0 : 1;
  return fmt::format("report {}: {} run(s) with attention dumps, maps of {}; {:.1f} MB\n",
                     out.string(), data["runs"].size(), maps,
                     static_cast<double>(fs::file_size(out)) / 1e6);
}

}  // namespace

std::string build_report_page(const ReportPageRequest& request, const BuilderRunner& run_builder) {
  const auto web = web_dir();
  const auto builder = web / "build_report.mjs";
  check_libraries_installed(web);
  auto data_request = request.data;
  data_request.maps = parse_maps_mode(request.maps);
  const auto data = gather_report_data(data_request, attnlab::terminal_counter("maps"));
  for (const auto& skipped : data["skipped_dumps"]) {
    fmt::print(stderr, "warning: {}\n", skipped.get<std::string>());
  }
  const auto out = request.out.empty() ? request.data.dir / "report.html" : request.out;
  // Paths and CSV text are not always UTF-8 (a run folder's name is whatever bytes it is):
  // replace what is not, rather than fail.
  const int code =
      run_builder(builder_arguments(builder, out, request.figures),
                  data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  if (code != 0) {
    throw std::runtime_error(fmt::format("building the report failed ({} exited {})",
                                         builder.string(), code));
  }
  return summary_line(out, data);
}

}  // namespace attnlab::report
