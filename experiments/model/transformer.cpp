#include "experiments/model/transformer.h"

#include <cmath>

#include <torch/utils.h>

namespace attnlab::model {

torch::Tensor sinusoidal_table(std::int64_t length, std::int64_t d_model) {
  auto positions = torch::arange(length, torch::kFloat).unsqueeze(1);              // [T,1]
  auto even = torch::arange(0, d_model, 2, torch::kFloat);                          // [C/2]
  auto frequencies = torch::exp(even * (-std::log(10000.0) / static_cast<double>(d_model)));
  auto angles = positions * frequencies.unsqueeze(0);                               // [T,C/2]
  auto table = torch::zeros({length, d_model});
  table.index_put_({torch::indexing::Slice(), torch::indexing::Slice(0, d_model, 2)},
                   torch::sin(angles));
  table.index_put_({torch::indexing::Slice(), torch::indexing::Slice(1, d_model, 2)},
                   torch::cos(angles.index({torch::indexing::Slice(),
                                            torch::indexing::Slice(0, d_model / 2)})));
  return table;
}

BlockImpl::BlockImpl(const ModelSpec& spec, std::int64_t layer) {
  variants::AttentionSite site;
  site.layer = layer;
  site.heads = spec.heads;
  site.head_dim = spec.d_model / spec.heads;
  site.causal = spec.causal();
  attention_norm_ = register_module(
      "attention_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({spec.d_model})));
  attention_ = register_module("attention", MultiHeadAttention(spec.d_model, spec.variant, site));
  if (!spec.attention_only) {
    mlp_norm_ = register_module("mlp_norm",
                                torch::nn::LayerNorm(torch::nn::LayerNormOptions({spec.d_model})));
    const auto hidden = spec.mlp_ratio * spec.d_model;
    mlp_ = register_module("mlp", torch::nn::Sequential(torch::nn::Linear(spec.d_model, hidden),
                                                        torch::nn::GELU(),
                                                        torch::nn::Linear(hidden, spec.d_model)));
  }
  dropout_ = register_module("dropout", torch::nn::Dropout(spec.dropout));
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, AttentionTap* tap) {
  auto hidden = x + dropout_->forward(attention_->forward(attention_norm_->forward(x), {}, tap));
  if (mlp_) hidden = hidden + dropout_->forward(mlp_->forward(mlp_norm_->forward(hidden)));
  return hidden;
}

TransformerImpl::TransformerImpl(const ModelSpec& spec) : spec_(spec) {
  token_embedding_ =
      register_module("token_embedding", torch::nn::Embedding(spec.vocab_size, spec.d_model));
  if (spec.positions == "learned") {
    learned_positions_ = register_module("learned_positions",
                                         torch::nn::Embedding(spec.max_length, spec.d_model));
  } else if (spec.positions == "sinusoidal") {
    sinusoidal_positions_ = register_buffer("sinusoidal_positions",
                                            sinusoidal_table(spec.max_length, spec.d_model));
  }
  dropout_ = register_module("dropout", torch::nn::Dropout(spec.dropout));
  blocks_ = register_module("blocks", torch::nn::ModuleList());
  for (std::int64_t layer = 0; layer < spec.layers; ++layer) blocks_->push_back(Block(spec, layer));
  final_norm_ = register_module("final_norm",
                                torch::nn::LayerNorm(torch::nn::LayerNormOptions({spec.d_model})));
  const auto outputs = spec.num_classes > 0 ? spec.num_classes : spec.vocab_size;
  head_ = register_module("head", torch::nn::Linear(spec.d_model, outputs));
  initialise_weights();
}

void TransformerImpl::initialise_weights() {
  torch::NoGradGuard no_grad;
  // GPT-2 initialisation: N(0, 0.02); residual output projections scaled by 1/sqrt(2 * layers)
  // so the residual stream's variance does not grow with depth.
  const double residual_std = spec_.init_std / std::sqrt(2.0 * static_cast<double>(spec_.layers));
  for (auto& named : named_parameters()) {
    const std::string& name = named.key();
    torch::Tensor& parameter = named.value();
    const bool is_norm = name.find("norm") != std::string::npos;
    if (is_norm) continue;  // LayerNorm keeps weight 1, bias 0
    if (name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0) {
      parameter.zero_();
    } else if (name.find("attention.output.weight") != std::string::npos ||
               name.find("mlp.2.weight") != std::string::npos) {
      parameter.normal_(0.0, residual_std);
    } else {
      parameter.normal_(0.0, spec_.init_std);
    }
  }
}

torch::Tensor TransformerImpl::forward(const torch::Tensor& tokens, AttentionTap* tap) {
  const auto length = tokens.size(1);
  TORCH_CHECK(length <= spec_.max_length, "sequence length ", length,
              " exceeds the model's max_length ", spec_.max_length);
  auto x = token_embedding_->forward(tokens);  // [B,T,C]
  if (learned_positions_) {
    x = x + learned_positions_->weight.narrow(0, 0, length);
  } else if (sinusoidal_positions_.defined()) {
    x = x + sinusoidal_positions_.narrow(0, 0, length);
  }
  x = dropout_->forward(x);
  for (const auto& block : *blocks_) x = block->as<Block>()->forward(x, tap);
  x = final_norm_->forward(x);
  if (spec_.num_classes > 0) x = x.mean(/*dim=*/1);  // [B,C]: pool over tokens
  return head_->forward(x);
}

std::int64_t TransformerImpl::parameter_count() const {
  std::int64_t count = 0;
  for (const auto& parameter : parameters()) count += parameter.numel();
  return count;
}

std::vector<MultiHeadAttention> TransformerImpl::attention_layers() const {
  std::vector<MultiHeadAttention> layers;
  for (const auto& block : *blocks_) layers.push_back(block->as<Block>()->attention());
  return layers;
}

}  // namespace attnlab::model
