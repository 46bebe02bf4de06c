// model.pooling = "cls": a sequence-classification task with a classification token in front of
// every example, the way BERT and the Long Range Arena's CLS pooling classify. The token is a
// vocabulary entry of its own (the wrapped task's vocabulary size), so recorded maps, probes and
// exports see it like any other token, and the classification head reads its final hidden state
// (model/transformer.cpp) instead of the mean over positions.
#pragma once

#include <memory>

#include "experiments/tasks/task.h"

namespace attnlab::tasks {

// `task` with its inputs one token longer; `task` must classify sequences (num_classes() > 0).
std::shared_ptr<Task> with_cls_token(std::shared_ptr<const Task> task);

}  // namespace attnlab::tasks
