#include "analysis/figures/heatmap_svg.h"

#include <algorithm>
#include <array>
#include <cmath>

#include <fmt/format.h>

#include "analysis/figures/svg_document.h"

namespace attnlab::analysis {
namespace {

// Viridis at five stops, linearly interpolated (close to matplotlib's at this resolution).
std::string viridis(double t) {
  static const std::array<std::array<double, 3>, 5> kStops = {{{68, 1, 84},
                                                               {59, 82, 139},
                                                               {33, 145, 140},
                                                               {94, 201, 98},
                                                               {253, 231, 37}}};
  t = std::clamp(t, 0.0, 1.0) * 4.0;
  const auto index = std::min<std::size_t>(3, static_cast<std::size_t>(t));
  const double fraction = t - static_cast<double>(index);
  std::array<int, 3> rgb{};
  for (std::size_t c = 0; c < 3; ++c) {
    rgb[c] = static_cast<int>(std::lround(kStops[index][c] +
                                          fraction * (kStops[index + 1][c] - kStops[index][c])));
  }
  return fmt::format("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2]);
}

// Which of `count` ticks get a label: all up to 40, else about 16 evenly spaced.
bool labelled(std::int64_t index, std::int64_t count) {
  if (count <= 40) return true;
  const std::int64_t every = (count + 15) / 16;
  return index % every == 0;
}

std::string tick(const std::vector<std::string>& labels, std::int64_t index, double scale) {
  if (!labels.empty()) return labels[static_cast<std::size_t>(index)];
  return fmt::format("{:.0f}", static_cast<double>(index) * scale);
}

}  // namespace

std::string heatmap_svg(const Heatmap& heatmap) {
  const auto longest = std::max<std::int64_t>(1, std::max(heatmap.rows, heatmap.columns));
  const double cell = std::clamp(480.0 / static_cast<double>(longest), 2.0, 56.0);
  std::size_t label_chars = 3;
  for (const auto& label : heatmap.row_labels) label_chars = std::max(label_chars, label.size());
  const double left = 40 + 7.0 * static_cast<double>(label_chars), top = 44;
  const double width = cell * static_cast<double>(heatmap.columns);
  const double height = cell * static_cast<double>(heatmap.rows);
  const double span = heatmap.high > heatmap.low ? heatmap.high - heatmap.low : 1.0;
  const bool tooltips = heatmap.rows * heatmap.columns <= 4096;

  // Wide enough for the title (about 8 px per character at 15 px), which a small grid is not.
  const double bar_x = left + width + 24;
  const double document_width =
      std::max(bar_x + 70, 8.0 * static_cast<double>(heatmap.title.size()) + 40);
  std::string body = fmt::format(
      "<text x=\"{:.1f}\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">{}</text>\n",
      document_width / 2, svg_escape(heatmap.title));
  for (std::int64_t row = 0; row < heatmap.rows; ++row) {
    for (std::int64_t column = 0; column < heatmap.columns; ++column) {
      const double value = heatmap.values[static_cast<std::size_t>(row * heatmap.columns + column)];
      const auto fill = std::isfinite(value) ? viridis((value - heatmap.low) / span) : "#bbbbbb";
      const double x = left + cell * static_cast<double>(column);
      const double y = top + cell * static_cast<double>(row);
      body += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.2f}\" height=\"{:.2f}\" "
                          "fill=\"{}\"",
                          x, y, cell + 0.05, cell + 0.05, fill);
      if (tooltips) {
        body += fmt::format("><title>{}, {}: {:.4g}</title></rect>\n",
                            tick(heatmap.row_labels, row, heatmap.index_scale),
                            tick(heatmap.column_labels, column, heatmap.index_scale), value);
      } else {
        body += "/>\n";
      }
      if (heatmap.annotate && std::isfinite(value)) {
        const bool light = (value - heatmap.low) / span < 0.6;  // white text on dark cells
        body += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"{:.0f}\" "
                            "text-anchor=\"middle\" fill=\"{}\">{:.2f}</text>\n",
                            x + cell / 2, y + cell / 2 + cell * 0.12, std::min(12.0, cell * 0.3),
                            light ? "white" : "black", value);
      }
    }
  }
  for (std::int64_t row = 0; row < heatmap.rows; ++row) {
    if (!labelled(row, heatmap.rows)) continue;
    body += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"10\" text-anchor=\"end\">{}"
                        "</text>\n",
                        left - 4, top + cell * (static_cast<double>(row) + 0.5) + 3.5,
                        svg_escape(tick(heatmap.row_labels, row, heatmap.index_scale)));
  }
  for (std::int64_t column = 0; column < heatmap.columns; ++column) {
    if (!labelled(column, heatmap.columns)) continue;
    const double x = left + cell * (static_cast<double>(column) + 0.5);
    body += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"10\" text-anchor=\"end\" "
                        "transform=\"rotate(-45 {:.1f} {:.1f})\">{}</text>\n",
                        x, top + height + 12, x, top + height + 12,
                        svg_escape(tick(heatmap.column_labels, column, heatmap.index_scale)));
  }
  // Below the rotated column labels (about 4.5 px of height per character at 45 degrees).
  std::size_t column_chars = 3;
  for (const auto& label : heatmap.column_labels) column_chars = std::max(column_chars, label.size());
  const double x_label_y = top + height + 28 + 4.5 * static_cast<double>(column_chars);
  body += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"12\" text-anchor=\"middle\">{}"
                      "</text>\n",
                      left + width / 2, x_label_y, svg_escape(heatmap.x_label));
  body += fmt::format("<text x=\"14\" y=\"{:.1f}\" font-size=\"12\" text-anchor=\"middle\" "
                      "transform=\"rotate(-90 14 {:.1f})\">{}</text>\n",
                      top + height / 2, top + height / 2, svg_escape(heatmap.y_label));
  // Colour bar: 20 steps from low (bottom) to high (top).
  const double bar_height = std::max(120.0, height);
  for (int step = 0; step < 20; ++step) {
    body += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"14\" height=\"{:.2f}\" "
                        "fill=\"{}\"/>\n",
                        bar_x, top + bar_height * (19 - step) / 20.0, bar_height / 20.0 + 0.05,
                        viridis((step + 0.5) / 20.0));
  }
  body += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"10\">{:.3g}</text>\n"
                      "<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"10\">{:.3g}</text>\n",
                      bar_x + 18, top + 8, heatmap.high, bar_x + 18, top + bar_height,
                      heatmap.low);
  return svg_document(document_width, std::max(top + bar_height + 30, x_label_y + 14), body);
}

std::vector<double> pool_map(const std::vector<float>& map, std::int64_t rows,
                             std::int64_t columns, std::int64_t max_cells, std::int64_t& out_rows,
                             std::int64_t& out_columns, std::int64_t& factor) {
  factor = std::max<std::int64_t>(1, (std::max(rows, columns) + max_cells - 1) / max_cells);
  out_rows = (rows + factor - 1) / factor;
  out_columns = (columns + factor - 1) / factor;
  std::vector<double> sums(static_cast<std::size_t>(out_rows * out_columns), 0.0);
  std::vector<std::int64_t> counts(sums.size(), 0);
  for (std::int64_t row = 0; row < rows; ++row) {
    for (std::int64_t column = 0; column < columns; ++column) {
      const auto cell = static_cast<std::size_t>((row / factor) * out_columns + column / factor);
      sums[cell] += map[static_cast<std::size_t>(row * columns + column)];
      ++counts[cell];
    }
  }
  for (std::size_t cell = 0; cell < sums.size(); ++cell) {
    sums[cell] /= static_cast<double>(counts[cell]);
  }
  return sums;
}

}  // namespace attnlab::analysis
