// Small, dependency-free SVG charts for papers: lines with a shaded band, scatter plots, and bars
// with error bars. Non-finite y values leave a gap in their line. Self-contained files (no scripts, fonts or external references).
#pragma once

#include <string>
#include <vector>

namespace attnlab::analysis {

struct LineSeries {
  std::string name;
  std::vector<double> x, y;
  std::vector<double> lower, upper;  // band (same length as y), or empty for none
  bool dashed = false;               // e.g. a threshold or a baseline
  bool markers = false;              // a dot per point and no line: a scatter plot
};

struct Bar {
  std::string label;
  double value = 0.0;
  double error = 0.0;  // half-width of the error bar (e.g. a 95% CI), 0 for none
};

std::string line_chart_svg(const std::string& title, const std::string& x_label,
                           const std::string& y_label, const std::vector<LineSeries>& series);
std::string bar_chart_svg(const std::string& title, const std::string& y_label,
                          const std::vector<Bar>& bars);

}  // namespace attnlab::analysis
