#include "experiments/tasks/cls_token.h"

#include <stdexcept>

namespace attnlab::tasks {
namespace {

class ClsTokenTask : public Task {
 public:
  explicit ClsTokenTask(std::shared_ptr<const Task> task) : task_(std::move(task)) {
    if (task_->num_classes() <= 0) {
      throw std::invalid_argument("a classification token needs a sequence-classification task");
    }
  }

  std::int64_t vocab_size() const override { return task_->vocab_size() + 1; }
  std::int64_t sequence_length() const override { return task_->sequence_length() + 1; }
  std::int64_t source_length() const override { return task_->source_length(); }
  std::int64_t num_classes() const override { return task_->num_classes(); }
  std::vector<std::string> supported_archs() const override { return task_->supported_archs(); }
  std::int64_t split_size(Split split) const override { return task_->split_size(split); }

  Batch examples(Split split, std::int64_t first, std::int64_t count) const override {
    auto batch = task_->examples(split, first, count);
    const auto cls = torch::full({batch.inputs.size(0), 1}, cls_token(), batch.inputs.options());
    batch.inputs = torch::cat({cls, batch.inputs}, /*dim=*/1);
    return batch;
  }

  // The wrapped task's metrics read its own tokens, without the classification token.
  void add_metrics(const Batch& batch, const torch::Tensor& logits,
                   MetricSums& sums) const override {
    Batch own = batch;
    own.inputs = batch.inputs.slice(/*dim=*/1, /*start=*/1);
    task_->add_metrics(own, logits, sums);
  }
  void finish_metrics(std::map<std::string, double>& metrics) const override {
    task_->finish_metrics(metrics);
  }

  std::vector<std::int64_t> encode(const std::string& text) const override {
    return task_->encode(text);
  }
  std::vector<std::int64_t> framed(std::vector<std::int64_t> tokens) const override {
    tokens = task_->framed(std::move(tokens));
    tokens.insert(tokens.begin(), cls_token());
    return tokens;
  }
  std::string token_text(std::int64_t token) const override {
    return token == cls_token() ? "[CLS]" : task_->token_text(token);
  }
  std::int64_t padding_token() const override { return task_->padding_token(); }
  std::string vocabulary() const override { return task_->vocabulary(); }

 private:
  std::int64_t cls_token() const { return task_->vocab_size(); }

  std::shared_ptr<const Task> task_;
};

}  // namespace

std::shared_ptr<Task> with_cls_token(std::shared_ptr<const Task> task) {
  return std::make_shared<ClsTokenTask>(std::move(task));
}

}  // namespace attnlab::tasks
