// A heatmap as a standalone SVG: one cell per value on a perceptually uniform scale (viridis),
// NaN cells grey, a colour bar with the scale's ends, optional values printed in the cells and a
// <title> tooltip per cell when the grid is small enough to keep the file light.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attnlab::analysis {

struct Heatmap {
  std::string title, x_label, y_label;
  std::int64_t rows = 0, columns = 0;
  std::vector<double> values;  // [rows * columns], row-major
  // Tick labels; empty: numeric (0-based index times `index_scale`), thinned to about 16 ticks.
  std::vector<std::string> row_labels, column_labels;
  double index_scale = 1;  // a pooled map's cell covers this many positions
  double low = 0, high = 1;
  bool annotate = false;  // print each value in its cell (small grids)
};

std::string heatmap_svg(const Heatmap& heatmap);

// Averages a [rows, columns] map into at most max_cells x max_cells blocks (a figure of a long
// sequence stays legible and small); `factor` receives the block edge (1 when nothing was pooled).
std::vector<double> pool_map(const std::vector<float>& map, std::int64_t rows,
                             std::int64_t columns, std::int64_t max_cells, std::int64_t& out_rows,
                             std::int64_t& out_columns, std::int64_t& factor);

}  // namespace attnlab::analysis
