#include "analysis/report/csv_table.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace attnlab::report {
namespace {

// Splits one line into fields; quotes protect commas, a doubled quote inside quotes is a quote.
std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else if (c != '\r') {
      fields.back() += c;
    }
  }
  return fields;
}

}  // namespace

CsvTable CsvTable::read(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument(path.string() + ": cannot open");
  CsvTable table;
  table.path_ = path;
  std::string line;
  std::size_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.empty() || line == "\r") continue;
    auto fields = split_fields(line);
    if (table.header_.empty()) {
      table.header_ = std::move(fields);
      continue;
    }
    if (fields.size() != table.header_.size()) {
      throw std::invalid_argument(path.string() + ":" + std::to_string(line_number) + ": " +
                                  std::to_string(fields.size()) + " fields, the header has " +
                                  std::to_string(table.header_.size()));
    }
    table.rows_.push_back(std::move(fields));
    table.lines_.push_back(line_number);
  }
  if (table.header_.empty()) throw std::invalid_argument(path.string() + ": empty file");
  return table;
}

std::optional<std::size_t> CsvTable::column(const std::string& name) const {
  for (std::size_t i = 0; i < header_.size(); ++i) {
    if (header_[i] == name) return i;
  }
  return std::nullopt;
}

std::size_t CsvTable::require_column(const std::string& name) const {
  if (auto index = column(name)) return *index;
  throw std::invalid_argument(path_.string() + ": no column '" + name + "'");
}

double CsvTable::number(std::size_t row, std::size_t column) const {
  const std::string& text = rows_[row][column];
  if (text.empty() || text == "nan" || text == "NaN") return std::nan("");
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || errno == ERANGE) {
    throw std::invalid_argument(path_.string() + ":" + std::to_string(lines_[row]) + ": column '" +
                                header_[column] + "': '" + text + "' is not a number");
  }
  return value;
}

std::int64_t CsvTable::integer(std::size_t row, std::size_t column) const {
  const std::string& text = rows_[row][column];
  char* end = nullptr;
  errno = 0;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || end != text.c_str() + text.size() || errno == ERANGE) {
    throw std::invalid_argument(path_.string() + ":" + std::to_string(lines_[row]) + ": column '" +
                                header_[column] + "': '" + text + "' is not a whole number");
  }
  return value;
}

}  // namespace attnlab::report
