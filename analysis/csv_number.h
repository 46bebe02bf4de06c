// How the CSV files of compare, analyze and ablate print a number: the shortest text that reads
// back to the same double, and "nan" (what pandas reads as NaN) for a missing value.
#pragma once

#include <cmath>
#include <string>

#include <fmt/format.h>

namespace attnlab::analysis {

inline std::string csv_number(double value) {
  if (std::isnan(value)) return "nan";
  return fmt::format("{}", value);
}

}  // namespace attnlab::analysis
