// Puts a model in eval mode (no dropout, so no random draws) while it lives and restores the mode
// it had, also when the work in between throws.
#pragma once

#include "experiments/model/transformer.h"

namespace attnlab::model {

class EvalMode {
 public:
  explicit EvalMode(Transformer& model) : model_(model), was_training_(model->is_training()) {
    model_->eval();
  }
  ~EvalMode() {
    if (was_training_) model_->train();
  }
  EvalMode(const EvalMode&) = delete;
  EvalMode& operator=(const EvalMode&) = delete;

 private:
  Transformer& model_;
  bool was_training_;
};

}  // namespace attnlab::model
