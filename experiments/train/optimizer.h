// AdamW as attnlab trains with it: decoupled weight decay on matrices (weights, embeddings) only,
// not on biases and LayerNorm gains (as in GPT-2 and nanoGPT).
#pragma once

#include <torch/optim/adamw.h>

#include "experiments/config/config.h"
#include "experiments/model/transformer.h"

namespace attnlab::train {

struct AdamWSettings {
  double lr = 3e-3;
  double beta1 = 0.9;
  double beta2 = 0.99;
  double eps = 1e-8;
  double weight_decay = 0.01;
};

// LibTorch's AdamW with the same state, options and arithmetic (checkpoints are interchangeable),
// whose step updates each CPU float parameter in one parallel pass over its memory. LibTorch's
// step spends nine tensor operations per parameter, each a pass over memory and a dispatch: on
// the tiny benchmark preset that was about a tenth of the step. Anything else (another device or
// dtype, amsgrad) takes LibTorch's step.
class FusedAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;
  torch::Tensor step(LossClosure closure = nullptr) override;

 private:
  // Whether every parameter with a gradient, the gradient and its state are CPU float contiguous.
  bool takes_fused_step() const;
};

AdamWSettings adamw_settings(const config::Config& config);  // the train.* keys
FusedAdamW make_optimizer(model::TransformerImpl& model, const AdamWSettings& settings);
void set_learning_rate(torch::optim::AdamW& optimizer, double lr);

}  // namespace attnlab::train
