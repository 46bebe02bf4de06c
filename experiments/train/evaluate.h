// Evaluation of a model on a task split: loss, token accuracy and sequence accuracy.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <torch/types.h>

#include "experiments/model/transformer.h"
#include "experiments/tasks/task.h"

namespace attnlab::train {

struct EvalMetrics {
  double loss = 0.0;               // mean cross-entropy per scored target (nats)
  double accuracy = 0.0;           // scored targets predicted right
  double sequence_accuracy = 0.0;  // sequences with every scored target right
  std::int64_t examples = 0;
  std::map<std::string, double> extra;  // task-specific (per-slice accuracy, bits per char, ...)
};

// Runs every example of `split` (val/test) in batches, without gradients, in eval mode (the
// model's training mode is restored afterwards); with `max_examples` > 0 only the split's first
// `max_examples` examples.
EvalMetrics evaluate(model::Transformer& model, const tasks::Task& task, tasks::Split split,
                     std::int64_t batch_size, const torch::Device& device,
                     std::int64_t max_examples = 0);

}  // namespace attnlab::train
