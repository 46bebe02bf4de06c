#include "experiments/train/metrics_log.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/atomic_file.h"

namespace attnlab::train {
namespace {

// Shortest text that reads back to the same double, so logs are exact and diffable.
std::string exact(double value) { return fmt::format("{}", value); }

std::string csv_line(const MetricsRow& row) {
  return fmt::format("{},{},{},{},{},{},{},{}\n", row.step, row.split, exact(row.loss),
                     exact(row.accuracy), exact(row.sequence_accuracy), exact(row.lr),
                     row.tokens_per_second ? exact(*row.tokens_per_second) : "",
                     exact(row.elapsed_seconds));
}

std::string json_line(const MetricsRow& row) {
  // Ordered like the CSV columns, so both files read the same.
  nlohmann::ordered_json object = {{"step", row.step},
                                   {"split", row.split},
                                   {"loss", row.loss},
                                   {"accuracy", row.accuracy},
                                   {"sequence_accuracy", row.sequence_accuracy},
                                   {"lr", row.lr}};
  object["tokens_per_s"] =
      row.tokens_per_second ? nlohmann::ordered_json(*row.tokens_per_second) : nullptr;
  object["elapsed_s"] = row.elapsed_seconds;
  for (const auto& [name, value] : row.extra) object[name] = value;
  return object.dump() + "\n";
}

std::string csv_header() {
  std::string header;
  for (const auto& column : MetricsLog::columns()) header += (header.empty() ? "" : ",") + column;
  return header + "\n";
}

}  // namespace

const std::vector<std::string>& MetricsLog::columns() {
  static const std::vector<std::string> names = {
      "step", "split", "loss", "accuracy", "sequence_accuracy", "lr", "tokens_per_s", "elapsed_s"};
  return names;
}

std::vector<MetricsRow> MetricsLog::read_jsonl(const std::filesystem::path& jsonl) {
  std::vector<MetricsRow> rows;
  std::ifstream input(jsonl);
  std::string line;
  while (std::getline(input, line)) {
    if (line.empty()) continue;
    // A line cut short by a kill is not a row; it is dropped (and rewritten away on resume).
    const auto object = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (object.is_discarded() || !object.contains("step")) continue;
    MetricsRow row;
    row.step = object["step"].get<std::int64_t>();
    row.split = object["split"].get<std::string>();
    // JSON has no NaN: a diverged loss is written as null and reads back as NaN.
    const auto number = [&object](const char* name) {
      const auto& value = object[name];
      return value.is_null() ? std::numeric_limits<double>::quiet_NaN() : value.get<double>();
    };
    row.loss = number("loss");
    row.accuracy = number("accuracy");
    row.sequence_accuracy = number("sequence_accuracy");
    row.lr = number("lr");
    row.elapsed_seconds = number("elapsed_s");
    if (!object["tokens_per_s"].is_null()) row.tokens_per_second = object["tokens_per_s"].get<double>();
    for (const auto& [name, value] : object.items()) {
      const bool known = std::find(columns().begin(), columns().end(), name) != columns().end();
      if (!known && value.is_number()) row.extra[name] = value.get<double>();
    }
    rows.push_back(row);
  }
  return rows;
}

MetricsLog::MetricsLog(std::filesystem::path jsonl, std::filesystem::path csv,
                       std::int64_t keep_through_step) {
  std::string kept_jsonl;
  std::string kept_csv = csv_header();
  for (const auto& row : read_jsonl(jsonl)) {
    if (row.step > keep_through_step) continue;
    kept_jsonl += json_line(row);
    kept_csv += csv_line(row);
  }
  attnlab::write_file_atomic(jsonl, kept_jsonl);
  attnlab::write_file_atomic(csv, kept_csv);
  jsonl_.open(jsonl, std::ios::app);
  csv_.open(csv, std::ios::app);
  if (!jsonl_ || !csv_) throw attnlab::IoError("cannot open metrics files in " + jsonl.parent_path().string());
}

void MetricsLog::append(const MetricsRow& row) {
  jsonl_ << json_line(row);
  csv_ << csv_line(row);
  flush();
}

void MetricsLog::flush() {
  jsonl_.flush();
  csv_.flush();
  if (!jsonl_ || !csv_) throw attnlab::IoError("cannot write metrics (disk full?)");
}

}  // namespace attnlab::train
