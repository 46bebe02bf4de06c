// A run directory: results/<experiment>/<YYYYmmdd-HHMMSS>-<config hash>/ holding config.toml,
// metrics.jsonl/csv, checkpoints/, train.log, summary.json and, for a task that builds its
// vocabulary from data, vocabulary.txt.
#pragma once

#include <filesystem>
#include <string>

#include "experiments/config/config.h"

namespace attnlab::run {

class RunDir {
 public:
  // Creates a fresh directory for `config` (a numeric suffix avoids collisions with a run of the
  // same config started in the same second) and writes config.toml atomically.
  static RunDir create(const config::Config& config);
  // Creates (or reuses, when resuming) exactly `path`, e.g. a sweep job's directory.
  static RunDir at(const std::filesystem::path& path, const config::Config& config);
  // An existing run, for --resume and eval: its config.toml must exist.
  static RunDir open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path config_file() const { return path_ / "config.toml"; }
  std::filesystem::path checkpoints() const { return path_ / "checkpoints"; }
  std::filesystem::path metrics_jsonl() const { return path_ / "metrics.jsonl"; }
  std::filesystem::path metrics_csv() const { return path_ / "metrics.csv"; }
  std::filesystem::path log_file() const { return path_ / "train.log"; }
  std::filesystem::path summary() const { return path_ / "summary.json"; }
  // The vocabulary a task built from its data (tasks::Task::vocabulary), kept from the start.
  std::filesystem::path vocabulary_file() const { return path_ / "vocabulary.txt"; }

 private:
  explicit RunDir(std::filesystem::path path) : path_(std::move(path)) {}
  std::filesystem::path path_;
};

std::string timestamp_now();  // YYYYmmdd-HHMMSS, local time

}  // namespace attnlab::run
