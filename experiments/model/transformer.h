// The shared model: token embeddings (+ absolute positions) -> pre-LayerNorm blocks -> head.
// Decoder-only (causal LM) and encoder-only (bidirectional; per-token or pooled classification)
// use the same block code; attention is delegated to the configured variant.
//
// B = batch, T = sequence length, C = d_model, V = vocabulary, K = classes.
#pragma once

#include <string>

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "experiments/model/multi_head_attention.h"

namespace attnlab::model {

struct ModelSpec {
  std::string arch = "decoder";        // decoder | encoder
  std::int64_t vocab_size = 0;
  std::int64_t max_length = 0;         // longest sequence the position table covers
  std::int64_t num_classes = 0;        // > 0: pooled sequence classification head
  std::int64_t d_model = 64;
  std::int64_t layers = 2;
  std::int64_t heads = 4;
  std::int64_t mlp_ratio = 4;
  double dropout = 0.0;
  std::string positions = "learned";   // learned | sinusoidal | none
  bool attention_only = false;         // no MLP sublayer (for circuit-style analyses)
  double init_std = 0.02;
  variants::VariantOptions variant;

  bool causal() const { return arch == "decoder"; }
};

class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(const ModelSpec& spec, std::int64_t layer);
  torch::Tensor forward(const torch::Tensor& x, AttentionTap* tap);  // [B,T,C] -> [B,T,C]
  MultiHeadAttention attention() const { return attention_; }

 private:
  torch::nn::LayerNorm attention_norm_{nullptr};
  MultiHeadAttention attention_{nullptr};
  torch::nn::LayerNorm mlp_norm_{nullptr};
  torch::nn::Sequential mlp_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
};
TORCH_MODULE(Block);

class TransformerImpl : public torch::nn::Module {
 public:
  explicit TransformerImpl(const ModelSpec& spec);

  // tokens [B,T] int64 -> logits [B,T,V] (per-token) or [B,K] (classification)
  torch::Tensor forward(const torch::Tensor& tokens, AttentionTap* tap = nullptr);

  const ModelSpec& spec() const { return spec_; }
  std::int64_t parameter_count() const;
  std::vector<MultiHeadAttention> attention_layers() const;

 private:
  void initialise_weights();

  ModelSpec spec_;
  torch::nn::Embedding token_embedding_{nullptr};
  torch::nn::Embedding learned_positions_{nullptr};
  torch::Tensor sinusoidal_positions_;  // [max_length, C] buffer
  torch::nn::Dropout dropout_{nullptr};
  torch::nn::ModuleList blocks_{nullptr};
  torch::nn::LayerNorm final_norm_{nullptr};
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(Transformer);

// [length, C] fixed sine/cosine table (Vaswani et al. 2017).
torch::Tensor sinusoidal_table(std::int64_t length, std::int64_t d_model);

}  // namespace attnlab::model
