// induction: a random segment repeated (in-context copy), the task on which induction heads form
// (Olsson et al. 2022).
//   BOS s_1 .. s_L  s_1 .. s_L  ...   (task.repeats copies; inputs are the first L*R tokens)
// Scored on the repeats only (the first copy is unpredictable). With task.min_length = m > 0 each
// example draws its segment length l from [m, L] and repeats it until the L*R inputs are full: the
// repeat period then varies, so a head cannot find the earlier copy by position alone (with a
// fixed period, "attend L back" solves the task and imitates an induction head). Reported besides accuracy:
//   icl_score = mean loss over the last L/2 predictions - mean loss over the first L/2
// (Olsson's in-context-learning score: how much later tokens benefit from the context; negative
// when the model copies). Token 0 is BOS, 1 .. vocab-1 the content.
#include "experiments/tasks/example_stream.h"

#include <torch/nn/functional/loss.h>

#include <algorithm>

namespace attnlab::tasks {
namespace {

constexpr std::int64_t kBos = 0;

class InductionTask : public Task {
 public:
  explicit InductionTask(const config::Config& config)
      : vocab_(config.get_int("task.vocab")),
        length_(config.get_int("task.length")),
        repeats_(config.get_int("task.repeats")),
        min_length_(config.get_int("task.min_length")),
        streams_(config) {
    if (length_ < 2) throw config::ConfigError("task.length must be at least 2 for induction");
    if (min_length_ == 0) min_length_ = length_;
    if (min_length_ < 2 || min_length_ > length_) {
      throw config::ConfigError("task.min_length = " + std::to_string(min_length_) +
                                ": expected 0 (fixed length) or 2 .. task.length (" +
                                std::to_string(length_) + ")");
    }
  }

  std::int64_t vocab_size() const override { return vocab_; }
  std::int64_t sequence_length() const override { return length_ * repeats_; }
  std::vector<std::string> supported_archs() const override { return {"decoder"}; }
  std::int64_t split_size(Split split) const override {
    return streams_.size(split);
  }

  Batch examples(Split split, std::int64_t first, std::int64_t count) const override {
    std::vector<TokenExample> batch;
    for (std::int64_t index = first; index < first + count; ++index) {
      auto segment = streams_.draw(split, index, [this](std::mt19937_64& rng) {
        std::int64_t length = length_;
        if (min_length_ < length_) {
          length = std::uniform_int_distribution<std::int64_t>(min_length_, length_)(rng);
        }
        std::uniform_int_distribution<std::int64_t> token(1, vocab_ - 1);
        std::vector<std::int64_t> tokens(static_cast<std::size_t>(length));
        for (auto& value : tokens) value = token(rng);
        return tokens;
      });
      // BOS, then copies of the segment up to L*R inputs and one more token (the last target).
      const auto total = static_cast<std::size_t>(length_ * repeats_ + 1);
      std::vector<std::int64_t> sequence = {kBos};
      while (sequence.size() < total) {
        const auto take = std::min(segment.size(), total - sequence.size());
        sequence.insert(sequence.end(), segment.begin(), segment.begin() + take);
      }
      const auto first_scored = static_cast<std::int64_t>(segment.size());
      batch.push_back(next_token_example(sequence, first_scored));
    }
    return stack_examples(batch);
  }

  void add_metrics(const Batch& batch, const torch::Tensor& logits,
                   MetricSums& sums) const override {
    // Every position's next token is known from the inputs, scored or not.
    const auto next = torch::cat({batch.inputs.narrow(1, 1, batch.inputs.size(1) - 1),
                                  batch.targets.narrow(1, batch.targets.size(1) - 1, 1)},
                                 /*dim=*/1);  // [B,T]
    const auto losses = torch::nn::functional::cross_entropy(
                            logits.reshape({-1, logits.size(-1)}), next.reshape({-1}),
                            torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone))
                            .view_as(next);  // [B,T]
    const auto half = length_ / 2;
    const auto rows = static_cast<double>(next.size(0) * half);
    sums.add("loss_early", losses.narrow(1, 0, half).sum().item<double>(), rows);
    sums.add("loss_late", losses.narrow(1, next.size(1) - half, half).sum().item<double>(), rows);
  }

  void finish_metrics(std::map<std::string, double>& metrics) const override {
    if (metrics.count("loss_early") && metrics.count("loss_late")) {
      metrics["icl_score"] = metrics["loss_late"] - metrics["loss_early"];
    }
  }

 private:
  std::int64_t vocab_, length_, repeats_, min_length_;
  ExampleStreams streams_;
};

}  // namespace

ATTNLAB_REGISTER(task_registry(),
                 {"induction",
                  "a random segment repeated: predict the repeats in context (induction heads)",
                  {{"repeats", std::int64_t{2}, "induction: copies of the segment", 2.0},
                   {"min_length", std::int64_t{0},
                    "induction: shortest segment; each example draws its length from "
                    "[min_length, length] so the repeat period varies (0: always length)",
                    0.0}},
                  {},
                  {},
                  [](const config::Config& config) {
                    return std::make_shared<InductionTask>(config);
                  }});

}  // namespace attnlab::tasks
