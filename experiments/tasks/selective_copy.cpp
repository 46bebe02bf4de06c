// selective_copy: copy the marked tokens in order, ignoring noise (Gu & Dao 2023, "selective
// copying"). task.length positions hold task.marked content tokens at random places among noise
// tokens; after a separator the model writes the content tokens in their order of appearance:
//   n c1 n n c2 n ... n c3  SEP  c1 c2 c3      (scored on the output only)
// Token 0 is padding (unused), 1 the separator, 2 the noise token, 3 .. vocab-1 the content.
#include <algorithm>

#include "experiments/tasks/example_stream.h"

namespace attnlab::tasks {
namespace {

constexpr std::int64_t kSeparator = 1;
constexpr std::int64_t kNoise = 2;
constexpr std::int64_t kFirstContentToken = 3;

class SelectiveCopyTask : public Task {
 public:
  explicit SelectiveCopyTask(const config::Config& config)
      : vocab_(config.get_int("task.vocab")),
        length_(config.get_int("task.length")),
        marked_(config.get_int("task.marked")),
        streams_(config) {
    if (marked_ > length_) {
      throw config::ConfigError("task.marked = " + std::to_string(marked_) +
                                " exceeds task.length = " + std::to_string(length_));
    }
    if (vocab_ <= kFirstContentToken) {
      throw config::ConfigError("task.vocab must exceed 3 for selective_copy (padding, "
                                "separator, noise, content)");
    }
  }

  std::int64_t vocab_size() const override { return vocab_; }
  std::int64_t sequence_length() const override { return length_ + marked_; }
  std::vector<std::string> supported_archs() const override { return {"decoder"}; }
  std::int64_t split_size(Split split) const override {
    return streams_.size(split);
  }

  Batch examples(Split split, std::int64_t first, std::int64_t count) const override {
    std::vector<TokenExample> batch;
    for (std::int64_t index = first; index < first + count; ++index) {
      auto prompt = streams_.draw(split, index, [this](std::mt19937_64& rng) { return draw(rng); });
      std::vector<std::int64_t> sequence = prompt;
      sequence.push_back(kSeparator);
      for (auto token : prompt) {
        if (token != kNoise) sequence.push_back(token);
      }
      batch.push_back(next_token_example(sequence, /*first_scored=*/length_));
    }
    return stack_examples(batch);
  }

 private:
  std::vector<std::int64_t> draw(std::mt19937_64& rng) const {
    std::vector<std::int64_t> prompt(static_cast<std::size_t>(length_), kNoise);
    std::vector<std::int64_t> positions(static_cast<std::size_t>(length_));
    for (std::int64_t i = 0; i < length_; ++i) positions[i] = i;
    std::shuffle(positions.begin(), positions.end(), rng);
    std::uniform_int_distribution<std::int64_t> token(kFirstContentToken, vocab_ - 1);
    for (std::int64_t i = 0; i < marked_; ++i) prompt[positions[i]] = token(rng);
    return prompt;
  }

  std::int64_t vocab_, length_, marked_;
  ExampleStreams streams_;
};

}  // namespace

ATTNLAB_REGISTER(task_registry(),
                 {"selective_copy",
                  "copy the content tokens scattered among noise, in order",
                  {{"marked", std::int64_t{8}, "selective_copy: content tokens among the noise", 1.0}},
                  {},
                  {},
                  [](const config::Config& config) {
                    return std::make_shared<SelectiveCopyTask>(config);
                  }});

}  // namespace attnlab::tasks
