#include "analysis/figures/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "analysis/figures/svg_document.h"

namespace attnlab::analysis {
namespace {

constexpr const char* kDashes = " stroke-dasharray=\"6 4\"";
// The palette has 8 colours: series 8 to 15 repeat them dashed, so that up to 16 stay apart.
constexpr std::size_t kPaletteSize = 8;

struct Frame {
  double left = 70, top = 40, width = 520, height = 300;
  double x_min = 0, x_max = 1, y_min = 0, y_max = 1;
  double px(double x) const { return left + (x - x_min) / (x_max - x_min) * width; }
  double py(double y) const { return top + height - (y - y_min) / (y_max - y_min) * height; }
};

void widen(double& low, double& high) {
  if (!(high > low)) {
    low -= 0.5;
    high += 0.5;
  }
}

std::string axes(const Frame& frame, const std::string& title, const std::string& x_label,
                 const std::string& y_label, bool x_ticks) {
  std::string svg = fmt::format(
      "<text x=\"{}\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">{}</text>\n",
      frame.left + frame.width / 2, svg_escape(title));
  svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" "
                     "stroke=\"#444\"/>\n",
                     frame.left, frame.top, frame.width, frame.height);
  for (int tick = 0; tick <= 4; ++tick) {
    const double y = frame.y_min + (frame.y_max - frame.y_min) * tick / 4.0;
    svg += fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#ddd\"/>"
                       "<text x=\"{}\" y=\"{:.1f}\" font-size=\"11\" text-anchor=\"end\">{:.3g}</text>\n",
                       frame.left, frame.left + frame.width, frame.py(y), frame.py(y),
                       frame.left - 6, frame.py(y) + 4, y);
    if (x_ticks) {
      const double x = frame.x_min + (frame.x_max - frame.x_min) * tick / 4.0;
      svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" font-size=\"11\" "
                         "text-anchor=\"middle\">{:.4g}</text>\n",
                         frame.px(x), frame.top + frame.height + 16, x);
    }
  }
  svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\">{}</text>\n",
                     frame.left + frame.width / 2, frame.top + frame.height + 36, svg_escape(x_label));
  svg += fmt::format("<text x=\"16\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\" "
                     "transform=\"rotate(-90 16 {})\">{}</text>\n",
                     frame.top + frame.height / 2, frame.top + frame.height / 2, svg_escape(y_label));
  return svg;
}

// A series as one path; a point with a non-finite coordinate leaves a gap.
std::string line_path(const Frame& frame, const LineSeries& line, const std::string& colour,
                      bool dashed) {
  std::string points;
  bool drawing = false;
  for (std::size_t i = 0; i < line.x.size(); ++i) {
    if (!std::isfinite(line.x[i]) || !std::isfinite(line.y[i])) {
      drawing = false;
      continue;
    }
    points += fmt::format("{}{:.1f},{:.1f} ", drawing ? "L" : "M", frame.px(line.x[i]),
                          frame.py(line.y[i]));
    drawing = true;
  }
  return fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{}/>\n", points,
                     colour, dashed ? kDashes : "");
}

// A series as dots, each with its coordinates as a tooltip.
std::string dots(const Frame& frame, const LineSeries& line, const std::string& colour) {
  std::string svg;
  for (std::size_t i = 0; i < line.x.size(); ++i) {
    if (!std::isfinite(line.x[i]) || !std::isfinite(line.y[i])) continue;
    svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"5\" fill=\"{}\" "
                        "fill-opacity=\"0.7\"><title>{}: ({:.4g}, {:.4g})</title></circle>\n",
                        frame.px(line.x[i]), frame.py(line.y[i]), colour, svg_escape(line.name),
                        line.x[i], line.y[i]);
  }
  return svg;
}

}  // namespace

std::string line_chart_svg(const std::string& title, const std::string& x_label,
                           const std::string& y_label, const std::vector<LineSeries>& series) {
  Frame frame;
  frame.x_min = frame.y_min = std::numeric_limits<double>::infinity();
  frame.x_max = frame.y_max = -std::numeric_limits<double>::infinity();
  for (const auto& line : series) {
    for (std::size_t i = 0; i < line.x.size(); ++i) {
      if (!std::isfinite(line.x[i]) || !std::isfinite(line.y[i])) continue;
      frame.x_min = std::min(frame.x_min, line.x[i]);
      frame.x_max = std::max(frame.x_max, line.x[i]);
      const double low = line.lower.empty() ? line.y[i] : line.lower[i];
      const double high = line.upper.empty() ? line.y[i] : line.upper[i];
      frame.y_min = std::min(frame.y_min, low);
      frame.y_max = std::max(frame.y_max, high);
    }
  }
  if (!std::isfinite(frame.x_min)) frame.x_min = 0, frame.x_max = 1, frame.y_min = 0, frame.y_max = 1;
  widen(frame.x_min, frame.x_max);
  widen(frame.y_min, frame.y_max);
  std::string body = axes(frame, title, x_label, y_label, /*x_ticks=*/true);
  double legend_width = 200;
  for (std::size_t index = 0; index < series.size(); ++index) {
    const auto& line = series[index];
    if (!line.lower.empty() && line.x.size() > 1) {
      std::string points;
      for (std::size_t i = 0; i < line.x.size(); ++i) {
        points += fmt::format("{:.1f},{:.1f} ", frame.px(line.x[i]), frame.py(line.upper[i]));
      }
      for (std::size_t i = line.x.size(); i-- > 0;) {
        points += fmt::format("{:.1f},{:.1f} ", frame.px(line.x[i]), frame.py(line.lower[i]));
      }
      body += fmt::format("<polygon points=\"{}\" fill=\"{}\" fill-opacity=\"0.2\"/>\n", points,
                          svg_colour(index));
    }
    const bool dashed = line.dashed || (index / kPaletteSize) % 2 == 1;
    if (line.markers) {
      body += dots(frame, line, svg_colour(index));
    } else {
      body += line_path(frame, line, svg_colour(index), dashed);
    }
    const double legend_y = frame.top + 14 + 16.0 * static_cast<double>(index);
    body += fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" "
                        "stroke-width=\"3\"{}/><text x=\"{}\" y=\"{:.1f}\" font-size=\"11\">{}</text>\n",
                        frame.left + frame.width + 8, frame.left + frame.width + 24, legend_y - 4,
                        legend_y - 4, svg_colour(index), dashed ? kDashes : "",
                        frame.left + frame.width + 28, legend_y, svg_escape(line.name));
    legend_width = std::max(legend_width, 40.0 + 6.5 * static_cast<double>(line.name.size()));
  }
  const double legend_bottom = frame.top + 14 + 16.0 * static_cast<double>(series.size());
  return svg_document(frame.left + frame.width + legend_width,
                      std::max(frame.top + frame.height + 50, legend_bottom), body);
}

std::string bar_chart_svg(const std::string& title, const std::string& y_label,
                          const std::vector<Bar>& bars) {
  Frame frame;
  frame.y_min = 0.0;
  frame.y_max = 0.0;
  for (const auto& bar : bars) {
    frame.y_min = std::min(frame.y_min, bar.value - bar.error);
    frame.y_max = std::max(frame.y_max, bar.value + bar.error);
  }
  widen(frame.y_min, frame.y_max);
  std::string body = axes(frame, title, "", y_label, /*x_ticks=*/false);
  const double slot = frame.width / static_cast<double>(std::max<std::size_t>(1, bars.size()));
  for (std::size_t index = 0; index < bars.size(); ++index) {
    const auto& bar = bars[index];
    const double x = frame.left + slot * static_cast<double>(index) + slot * 0.15;
    const double top = frame.py(std::max(0.0, bar.value)), base = frame.py(std::min(0.0, bar.value));
    body += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" "
                        "fill=\"{}\"><title>{}: {:.4g} ± {:.3g}</title></rect>\n",
                        x, top, slot * 0.7, base - top, svg_colour(index), svg_escape(bar.label),
                        bar.value, bar.error);
    if (bar.error > 0) {
      const double centre = x + slot * 0.35;
      body += fmt::format("<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1:.1f}\" y2=\"{2:.1f}\" "
                          "stroke=\"black\"/><line x1=\"{3:.1f}\" x2=\"{4:.1f}\" y1=\"{1:.1f}\" "
                          "y2=\"{1:.1f}\" stroke=\"black\"/><line x1=\"{3:.1f}\" x2=\"{4:.1f}\" "
                          "y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"black\"/>\n",
                          centre, frame.py(bar.value + bar.error), frame.py(bar.value - bar.error),
                          centre - 5, centre + 5);
    }
    body += fmt::format("<text x=\"{:.1f}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\" "
                        "transform=\"rotate(-35 {:.1f} {})\">{}</text>\n",
                        x + slot * 0.35, frame.top + frame.height + 14, x + slot * 0.35,
                        frame.top + frame.height + 14, svg_escape(bar.label));
  }
  return svg_document(frame.left + frame.width + 30, frame.top + frame.height + 110, body);
}

}  // namespace attnlab::analysis
