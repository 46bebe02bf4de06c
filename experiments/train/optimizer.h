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

AdamWSettings adamw_settings(const config::Config& config);  // the train.* keys
torch::optim::AdamW make_optimizer(model::TransformerImpl& model, const AdamWSettings& settings);
void set_learning_rate(torch::optim::AdamW& optimizer, double lr);

}  // namespace attnlab::train
