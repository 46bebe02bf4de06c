// charlm: character-level language modelling on any UTF-8 text file (task.path). The text is
// split contiguously: the first 90% of its characters train, the next 5% validate, the last 5%
// test. The vocabulary is the set of characters in the file (index 0 for characters that only
// the held-out part has). Reported: bits per character (the mean loss in bits).
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include <torch/nn/functional/loss.h>

#include "experiments/tasks/example_stream.h"

namespace attnlab::tasks {
namespace {

// UTF-8 bytes -> code points; throws ConfigError naming the byte offset of bad input.
std::vector<std::uint32_t> decode_utf8(const std::string& bytes, const std::string& path) {
  std::vector<std::uint32_t> characters;
  characters.reserve(bytes.size());
  for (std::size_t i = 0; i < bytes.size();) {
    const auto lead = static_cast<unsigned char>(bytes[i]);
    const int extra = lead < 0x80 ? 0 : (lead >> 5) == 0x6 ? 1 : (lead >> 4) == 0xE ? 2
                    : (lead >> 3) == 0x1E ? 3 : -1;
    const bool truncated = extra > 0 && i + static_cast<std::size_t>(extra) >= bytes.size();
    if (extra < 0 || truncated) {
      throw config::ConfigError("task.path: " + path + " is not UTF-8 (byte offset " +
                                std::to_string(i) + ")");
    }
    std::uint32_t code = extra == 0 ? lead : lead & (0x3F >> extra);
    for (int k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(bytes[i + static_cast<std::size_t>(k)]);
      if ((next >> 6) != 0x2) {
        throw config::ConfigError("task.path: " + path + " is not UTF-8 (byte offset " +
                                  std::to_string(i + static_cast<std::size_t>(k)) + ")");
      }
      code = (code << 6) | (next & 0x3F);
    }
    characters.push_back(code);
    i += static_cast<std::size_t>(extra) + 1;
  }
  return characters;
}

class CharLmTask : public Task {
 public:
  explicit CharLmTask(const config::Config& config)
      : length_(config.get_int("task.length")),
        val_size_(config.get_int("task.val_examples")),
        test_size_(config.get_int("task.test_examples")),
        train_seed_(stream_seed(config, Split::Train)) {
    const auto path = config.get_string("task.path");
    std::ifstream file(path, std::ios::binary);
    if (!file) throw config::ConfigError("task.path: cannot read '" + path + "'");
    std::ostringstream bytes;
    bytes << file.rdbuf();
    const auto characters = decode_utf8(bytes.str(), path);
    const auto total = static_cast<std::int64_t>(characters.size());
    train_end_ = total * 90 / 100;
    val_end_ = total * 95 / 100;
    if (val_end_ - train_end_ < length_ + 1 || train_end_ < length_ + 1) {
      throw config::ConfigError("task.path: '" + path + "' has " + std::to_string(total) +
                                " characters, too few for windows of task.length = " +
                                std::to_string(length_) + " in every split");
    }
    std::map<std::uint32_t, std::int64_t> ids;
    for (std::int64_t i = 0; i < train_end_; ++i) ids.emplace(characters[i], 0);
    std::int64_t next = 1;  // 0: a character the training text never shows
    for (auto& [character, id] : ids) id = next++;
    vocab_ = next;
    tokens_.reserve(characters.size());
    for (auto character : characters) {
      const auto found = ids.find(character);
      tokens_.push_back(found == ids.end() ? 0 : found->second);
    }
  }

  std::int64_t vocab_size() const override { return vocab_; }
  std::int64_t sequence_length() const override { return length_; }
  std::vector<std::string> supported_archs() const override { return {"decoder"}; }
  std::int64_t split_size(Split split) const override {
    if (split == Split::Train) return -1;
    const auto region = split == Split::Val ? val_end_ - train_end_
                                            : static_cast<std::int64_t>(tokens_.size()) - val_end_;
    const auto windows = (region - 1) / length_;
    return std::min(windows, split == Split::Val ? val_size_ : test_size_);
  }

  Batch examples(Split split, std::int64_t first, std::int64_t count) const override {
    std::vector<TokenExample> batch;
    for (std::int64_t index = first; index < first + count; ++index) {
      std::int64_t start = 0;
      if (split == Split::Train) {
        std::mt19937_64 rng(mix64(train_seed_ ^ static_cast<std::uint64_t>(index)));
        std::uniform_int_distribution<std::int64_t> offset(0, train_end_ - length_ - 1);
        start = offset(rng);
      } else {
        // Consecutive, non-overlapping windows of the held-out text.
        start = (split == Split::Val ? train_end_ : val_end_) + index * length_;
      }
      std::vector<std::int64_t> window(tokens_.begin() + start,
                                       tokens_.begin() + start + length_ + 1);
      batch.push_back(next_token_example(window, /*first_scored=*/0));
    }
    return stack_examples(batch);
  }

  void add_metrics(const Batch& batch, const torch::Tensor& logits,
                   MetricSums& sums) const override {
    const auto loss = torch::nn::functional::cross_entropy(
        logits.reshape({-1, logits.size(-1)}), batch.targets.reshape({-1}),
        torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
    sums.add("bits_per_char", loss.item<double>() / std::log(2.0),
             static_cast<double>(batch.targets.numel()));
  }

 private:
  std::int64_t length_, val_size_, test_size_;
  std::uint64_t train_seed_;
  std::int64_t train_end_ = 0, val_end_ = 0, vocab_ = 0;
  std::vector<std::int64_t> tokens_;
};

}  // namespace

ATTNLAB_REGISTER(task_registry(),
                 {"charlm",
                  "character-level language modelling on a UTF-8 text file (bits per character)",
                  {{"path", std::string("/usr/share/common-licenses/GPL-3"),
                    "charlm: UTF-8 text file (split 90/5/5 contiguously)"}},
                  {},
                  {},
                  [](const config::Config& config) { return std::make_shared<CharLmTask>(config); }});

}  // namespace attnlab::tasks
