#include "experiments/train/evaluate.h"

#include <algorithm>

#include <torch/utils.h>

#include "experiments/model/eval_mode.h"
#include "experiments/train/objective.h"

namespace attnlab::train {

EvalMetrics evaluate(model::Transformer& model, const tasks::Task& task, tasks::Split split,
                     std::int64_t batch_size, const torch::Device& device,
                     std::int64_t max_examples) {
  torch::NoGradGuard no_grad;
  const model::EvalMode eval_mode(model);  // restored also when a batch throws
  const std::int64_t size = task.split_size(split);
  const std::int64_t total = max_examples > 0 ? std::min(max_examples, size) : size;
  auto loss_sum = torch::zeros({}, torch::kDouble);
  auto correct = torch::zeros({}, torch::kLong), scored = torch::zeros({}, torch::kLong);
  auto sequences_correct = torch::zeros({}, torch::kLong), sequences = torch::zeros({}, torch::kLong);
  tasks::MetricSums task_metrics;
  for (std::int64_t first = 0; first < total; first += batch_size) {
    const auto count = std::min(batch_size, total - first);
    tasks::Batch batch = task.examples(split, first, count);
    auto logits = model->forward(batch.inputs.to(device), /*tap=*/nullptr,
                                 batch.source.defined() ? batch.source.to(device) : batch.source);
    auto result = objective(logits, batch.targets.to(device));
    task.add_metrics(batch, logits.to(torch::kCPU), task_metrics);
    loss_sum += result.loss_sum.to(torch::kCPU, torch::kDouble);
    correct += result.correct.cpu();
    scored += result.scored.cpu();
    sequences_correct += result.sequences_correct.cpu();
    sequences += result.sequences.cpu();
  }
  EvalMetrics metrics;
  const double scored_count = std::max<double>(1.0, static_cast<double>(scored.item<std::int64_t>()));
  const double sequence_count = std::max<double>(1.0, static_cast<double>(sequences.item<std::int64_t>()));
  metrics.loss = loss_sum.item<double>() / scored_count;
  metrics.accuracy = static_cast<double>(correct.item<std::int64_t>()) / scored_count;
  metrics.sequence_accuracy =
      static_cast<double>(sequences_correct.item<std::int64_t>()) / sequence_count;
  metrics.examples = total;
  metrics.extra = task_metrics.means();
  task.finish_metrics(metrics.extra);
  return metrics;
}

}  // namespace attnlab::train
