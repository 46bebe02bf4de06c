// metrics.jsonl and metrics.csv: one row per logged step and split, readable by pandas
// (pd.read_json(path, lines=True) / pd.read_csv(path)). Rows are flushed as they are written; on
// resume, rows after the checkpoint's step are dropped so a resumed run's files equal an
// uninterrupted run's.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace attnlab::train {

struct MetricsRow {
  std::int64_t step = 0;
  std::string split;  // train | val | test
  double loss = 0.0;
  double accuracy = 0.0;
  double sequence_accuracy = 0.0;
  double lr = 0.0;
  std::optional<double> tokens_per_second;  // train rows only
  double elapsed_seconds = 0.0;
  std::map<std::string, double> extra;  // task metrics of val rows (metrics.jsonl only)
};

class MetricsLog {
 public:
  static const std::vector<std::string>& columns();

  // Opens (creating if needed) both files; keeps only rows with step <= keep_through_step
  // (rewritten atomically) so that a resumed run continues exactly after its checkpoint.
  MetricsLog(std::filesystem::path jsonl, std::filesystem::path csv,
             std::int64_t keep_through_step);
  void append(const MetricsRow& row);
  void flush();

  // Reads rows back (for tests, compare and eval).
  static std::vector<MetricsRow> read_jsonl(const std::filesystem::path& jsonl);

 private:
  std::ofstream jsonl_;
  std::ofstream csv_;
};

}  // namespace attnlab::train
