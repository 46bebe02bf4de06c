#include "experiments/tasks/token_stream.h"

#include "base/read_file.h"
#include "experiments/tasks/example_stream.h"

namespace attnlab::tasks {

std::string read_task_file(const config::Config& config) {
  const auto path = config.get_string("task.path");
  auto text = attnlab::read_file(path);
  if (!text) throw config::ConfigError("task.path: cannot read '" + path + "'");
  return std::move(*text);
}

TokenStreamTask::TokenStreamTask(const config::Config& config)
    : length_(config.get_int("task.length")),
      val_size_(config.get_int("task.val_examples")),
      test_size_(config.get_int("task.test_examples")),
      train_seed_(stream_seed(config, Split::Train)),
      path_(config.get_string("task.path")) {}

void TokenStreamTask::set_tokens(std::vector<std::int64_t> tokens, const std::string& unit) {
  const auto total = static_cast<std::int64_t>(tokens.size());
  train_end_ = train_end(total);
  val_end_ = total * 95 / 100;
  if (val_end_ - train_end_ < length_ + 1 || train_end_ < length_ + 1) {
    throw config::ConfigError("task.path: '" + path_ + "' has " + std::to_string(total) + " " +
                              unit + ", too few for windows of task.length = " +
                              std::to_string(length_) + " in every split");
  }
  tokens_ = std::move(tokens);
}

std::int64_t TokenStreamTask::split_size(Split split) const {
  if (split == Split::Train) return -1;
  const auto region = split == Split::Val ? val_end_ - train_end_
                                          : static_cast<std::int64_t>(tokens_.size()) - val_end_;
  const auto windows = (region - 1) / length_;
  return std::min(windows, split == Split::Val ? val_size_ : test_size_);
}

Batch TokenStreamTask::examples(Split split, std::int64_t first, std::int64_t count) const {
  std::vector<TokenExample> batch;
  for (std::int64_t index = first; index < first + count; ++index) {
    std::int64_t start = 0;
    if (split == Split::Train) {
      std::mt19937_64 rng(mix64(train_seed_ ^ static_cast<std::uint64_t>(index)));
      std::uniform_int_distribution<std::int64_t> offset(0, train_end_ - length_ - 1);
      start = offset(rng);
    } else {
      start = (split == Split::Val ? train_end_ : val_end_) + index * length_;
    }
    std::vector<std::int64_t> window(tokens_.begin() + start,
                                     tokens_.begin() + start + length_ + 1);
    batch.push_back(next_token_example(window, /*first_scored=*/0));
  }
  return stack_examples(batch);
}

}  // namespace attnlab::tasks
