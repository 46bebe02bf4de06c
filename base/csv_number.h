// How attnlab's CSV files print a number: the shortest text that reads back to the same double,
// and "nan" (what pandas reads as NaN) for a missing value; and free text (an error message),
// quoted as RFC 4180 says when it holds a comma, quote or line break.
#pragma once

#include <cmath>
#include <string>

#include <fmt/format.h>

namespace attnlab {

inline std::string csv_number(double value) {
  if (std::isnan(value)) return "nan";
  return fmt::format("{}", value);
}

inline std::string csv_text(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (const char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

}  // namespace attnlab
