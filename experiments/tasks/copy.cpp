// copy: random tokens, a separator, then the same tokens again. Scored on the copied half only.
//   x_1 .. x_L  SEP  x_1 .. x_L      (inputs: the first 2L tokens; targets: the next token)
// Token 0 is padding (unused here), 1 the separator, 2 .. vocab-1 the content.
#include "experiments/tasks/example_stream.h"

namespace attnlab::tasks {
namespace {

constexpr std::int64_t kSeparator = 1;
constexpr std::int64_t kFirstContentToken = 2;

class CopyTask : public Task {
 public:
  explicit CopyTask(const config::Config& config)
      : vocab_(config.get_int("task.vocab")),
        length_(config.get_int("task.length")),
        val_size_(config.get_int("task.val_examples")),
        test_size_(config.get_int("task.test_examples")),
        train_seed_(stream_seed(config, Split::Train)),
        val_seed_(stream_seed(config, Split::Val)),
        test_seed_(stream_seed(config, Split::Test)) {
    if (vocab_ <= kFirstContentToken) {
      throw config::ConfigError("task.vocab = " + std::to_string(vocab_) +
                                ": copy needs at least 3 tokens (padding, separator, content)");
    }
  }

  std::int64_t vocab_size() const override { return vocab_; }
  std::int64_t sequence_length() const override { return 2 * length_; }
  std::vector<std::string> supported_archs() const override { return {"decoder"}; }
  std::int64_t split_size(Split split) const override {
    return split == Split::Val ? val_size_ : split == Split::Test ? test_size_ : -1;
  }

  Batch examples(Split split, std::int64_t first, std::int64_t count) const override {
    const std::uint64_t seed =
        split == Split::Train ? train_seed_ : split == Split::Val ? val_seed_ : test_seed_;
    std::vector<TokenExample> batch;
    batch.reserve(static_cast<std::size_t>(count));
    for (std::int64_t index = first; index < first + count; ++index) {
      auto content = draw_example(seed, split, index, [this](std::mt19937_64& rng) {
        std::uniform_int_distribution<std::int64_t> token(kFirstContentToken, vocab_ - 1);
        std::vector<std::int64_t> tokens(static_cast<std::size_t>(length_));
        for (auto& value : tokens) value = token(rng);
        return tokens;
      });
      std::vector<std::int64_t> sequence(content);
      sequence.push_back(kSeparator);
      sequence.insert(sequence.end(), content.begin(), content.end());
      batch.push_back(next_token_example(sequence, /*first_scored=*/length_));
    }
    return stack_examples(batch);
  }

 private:
  std::int64_t vocab_, length_, val_size_, test_size_;
  std::uint64_t train_seed_, val_seed_, test_seed_;
};

}  // namespace

ATTNLAB_REGISTER(task_registry(),
                 {"copy", "copy random tokens after a separator (scored on the copy)", {}, {}, {},
                  [](const config::Config& config) { return std::make_shared<CopyTask>(config); }});

}  // namespace attnlab::tasks
