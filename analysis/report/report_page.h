// `attnlab report DIR`: one self-contained HTML page (DIR/report.html) for a sweep, a folder of
// runs, a run or an analysis output, and every chart of it as an SVG figure. The data comes from
// report_data.h; the page and the figures are made by web/build_report.mjs (Node, with the
// Vega-Lite libraries pinned in its package-lock.json and inlined into the page), found in
// ATTNLAB_REPORT_WEB_DIR or else in the source tree.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "analysis/report/report_data.h"

namespace attnlab::report {

struct ReportPageRequest {
  ReportRequest data;
  std::string maps = "selected";  // parse_maps_mode()
  std::filesystem::path out;      // empty: DIR/report.html
  bool figures = true;            // also every chart as SVG in report-figures/ next to the page
};

// Runs the page builder (node) with these arguments and `input` on its stdin; returns its exit
// code.
using BuilderRunner =
    std::function<int(const std::vector<std::string>& arguments, const std::string& input)>;

// Gathers the data (a counter of maps read on the terminal, a warning on stderr for each dump
// skipped), has `run_builder` write the page, and returns the summary line. Throws
// attnlab::IoError when the page's JavaScript libraries are not installed, what
// gather_report_data() throws for bad input (std::invalid_argument, dump::DumpError), and
// std::runtime_error when the builder fails.
std::string build_report_page(const ReportPageRequest& request, const BuilderRunner& run_builder);

}  // namespace attnlab::report
