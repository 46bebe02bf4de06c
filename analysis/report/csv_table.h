// Reading the CSV files attnlab writes (compare, analyze, ablate, bench) back for the report:
// a header line, then rows; fields may be quoted as RFC 4180 says ("a, b" and "" for a quote).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace attnlab::report {

class CsvTable {
 public:
  // Throws std::invalid_argument naming the file (and line) when it cannot be read, is empty, or
  // a row has more or fewer fields than the header.
  static CsvTable read(const std::filesystem::path& path);

  const std::vector<std::string>& header() const { return header_; }
  std::size_t rows() const { return rows_.size(); }
  // The column's index; nullopt when the header lacks it.
  std::optional<std::size_t> column(const std::string& name) const;
  // Throws std::invalid_argument naming the file and column when absent.
  std::size_t require_column(const std::string& name) const;
  const std::string& field(std::size_t row, std::size_t column) const {
    return rows_[row][column];
  }
  // The field as a number: NaN for "nan" or an empty field; throws std::invalid_argument naming
  // the file, line and column for anything else that is not a number.
  double number(std::size_t row, std::size_t column) const;
  // The field as a whole number (steps, layers, heads); throws std::invalid_argument naming the
  // file, line and column for anything else, "nan" and empty included.
  std::int64_t integer(std::size_t row, std::size_t column) const;

 private:
  std::filesystem::path path_;
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<std::size_t> lines_;  // line number of each row, for messages
};

}  // namespace attnlab::report
