// Language modelling on one long token stream read from a file (charlm, wordlm). The stream is
// split contiguously: the first 90% of its tokens train, the next 5% validate, the last 5% test.
// Training windows of task.length + 1 tokens start anywhere in the training part (drawn from the
// run's seed); validation and test windows are consecutive and do not overlap.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "experiments/tasks/task.h"

namespace attnlab::tasks {

// The options the text tasks share (charlm, wordlm).
inline constexpr const char* kPathDoc =
    "charlm, wordlm: UTF-8 text file (split 90/5/5 contiguously; relative to the working "
    "directory)";
inline constexpr const char* kVocabularyDoc =
    "charlm, wordlm: vocabulary file, <unk> first (empty: built from the training text; every "
    "command after training reads the run's own vocabulary.txt)";

// The file task.path names, whole. Throws config::ConfigError naming task.path when it cannot be
// read.
std::string read_task_file(const config::Config& config);

class TokenStreamTask : public Task {
 public:
  std::int64_t sequence_length() const override { return length_; }
  std::vector<std::string> supported_archs() const override { return {"decoder"}; }
  std::int64_t split_size(Split split) const override;
  Batch examples(Split split, std::int64_t first, std::int64_t count) const override;

 protected:
  explicit TokenStreamTask(const config::Config& config);
  // Where the training part ends, for a stream of `total` tokens (tokenizers count from it).
  static std::int64_t train_end(std::int64_t total) { return total * 90 / 100; }
  // Sets the stream; throws config::ConfigError naming task.path (`unit`: what a token is, e.g.
  // "words") when a split is too short for one window.
  void set_tokens(std::vector<std::int64_t> tokens, const std::string& unit);

 private:
  std::int64_t length_, val_size_, test_size_;
  std::uint64_t train_seed_;
  std::string path_;
  std::int64_t train_end_ = 0, val_end_ = 0;
  std::vector<std::int64_t> tokens_;
};

}  // namespace attnlab::tasks
