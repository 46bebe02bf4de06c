// Sequence transduction tasks: map random content x_1..x_L to an output y_1..y_L.
//   copy:    y = x
//   reverse: y = x reversed
//   sort:    y = x sorted ascending
// As a decoder-only prefix task:  x_1 .. x_L  SEP  y_1 .. y_L  (scored on y only).
// As encoder-decoder seq2seq:     source x_1 .. x_L; decoder input SEP y_1 .. y_{L-1}; targets y.
// Token 0 is padding (unused here), 1 the separator (and the decoder's start token), 2 .. vocab-1
// the content.
#include <algorithm>

#include "experiments/tasks/example_stream.h"

namespace attnlab::tasks {
namespace {

constexpr std::int64_t kSeparator = 1;
constexpr std::int64_t kFirstContentToken = 2;

using Transform = std::vector<std::int64_t> (*)(std::vector<std::int64_t>);

class TransductionTask : public Task {
 public:
  TransductionTask(const config::Config& config, std::string name, Transform transform)
      : name_(std::move(name)),
        transform_(transform),
        seq2seq_(config.get_string("model.arch") == "encoder_decoder"),
        vocab_(config.get_int("task.vocab")),
        length_(config.get_int("task.length")),
        streams_(config) {
    if (vocab_ <= kFirstContentToken) {
      throw config::ConfigError("task.vocab = " + std::to_string(vocab_) + ": " + name_ +
                                " needs at least 3 tokens (padding, separator, content)");
    }
  }

  std::int64_t vocab_size() const override { return vocab_; }
  std::int64_t sequence_length() const override { return seq2seq_ ? length_ : 2 * length_; }
  std::int64_t source_length() const override { return seq2seq_ ? length_ : 0; }
  std::vector<std::string> supported_archs() const override {
    return {"decoder", "encoder_decoder"};
  }
  std::int64_t split_size(Split split) const override {
    return streams_.size(split);
  }

  Batch examples(Split split, std::int64_t first, std::int64_t count) const override {
    std::vector<TokenExample> batch;
    std::vector<std::vector<std::int64_t>> sources;
    batch.reserve(static_cast<std::size_t>(count));
    for (std::int64_t index = first; index < first + count; ++index) {
      auto content = streams_.draw(split, index, [this](std::mt19937_64& rng) {
        std::uniform_int_distribution<std::int64_t> token(kFirstContentToken, vocab_ - 1);
        std::vector<std::int64_t> tokens(static_cast<std::size_t>(length_));
        for (auto& value : tokens) value = token(rng);
        return tokens;
      });
      const auto output = transform_(content);
      std::vector<std::int64_t> sequence;
      if (seq2seq_) {
        sequence.push_back(kSeparator);
        sequence.insert(sequence.end(), output.begin(), output.end());
        batch.push_back(next_token_example(sequence, /*first_scored=*/0));
        sources.push_back(content);
      } else {
        sequence = content;
        sequence.push_back(kSeparator);
        sequence.insert(sequence.end(), output.begin(), output.end());
        batch.push_back(next_token_example(sequence, /*first_scored=*/length_));
      }
    }
    Batch stacked = stack_examples(batch);
    if (seq2seq_) stacked.source = stack_rows(sources);
    return stacked;
  }

 private:
  std::string name_;
  Transform transform_;
  bool seq2seq_;
  std::int64_t vocab_, length_;
  ExampleStreams streams_;
};

std::vector<std::int64_t> identity(std::vector<std::int64_t> tokens) { return tokens; }
std::vector<std::int64_t> reversed(std::vector<std::int64_t> tokens) {
  std::reverse(tokens.begin(), tokens.end());
  return tokens;
}
std::vector<std::int64_t> sorted(std::vector<std::int64_t> tokens) {
  std::sort(tokens.begin(), tokens.end());
  return tokens;
}

template <Transform transform>
TaskRegistry::Entry transduction(const char* name, const char* description) {
  return {name, description, {}, {}, {}, [name](const config::Config& config) {
            return std::make_shared<TransductionTask>(config, name, transform);
          }};
}

}  // namespace

ATTNLAB_REGISTER(task_registry(), transduction<identity>(
                                      "copy", "repeat random tokens after a separator"));
ATTNLAB_REGISTER(task_registry(), transduction<reversed>(
                                      "reverse", "write random tokens in reverse order"));
ATTNLAB_REGISTER(task_registry(), transduction<sorted>(
                                      "sort", "write random tokens in ascending order"));

}  // namespace attnlab::tasks
