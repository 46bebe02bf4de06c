// The shared model: token embeddings (+ absolute positions) -> pre-LayerNorm blocks -> head.
// Decoder-only (causal LM), encoder-only (bidirectional; per-token or pooled classification) and
// encoder-decoder (a bidirectional encoder over the source; a causal decoder that cross-attends
// to it) use the same block code; attention is delegated to the configured variant.
//
// B = batch, T = target (or only) sequence length, S = source length, C = d_model,
// V = vocabulary, K = classes.
#pragma once

#include <string>
#include <vector>

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "experiments/model/multi_head_attention.h"

namespace attnlab::model {

// One entry of model.layer_variants: the preset a block's attention uses and its options (the
// run's variant.* with the preset's keys laid over them).
struct LayerVariant {
  std::string name;
  variants::VariantOptions options;
};

struct ModelSpec {
  std::string arch = "decoder";        // decoder | encoder | encoder_decoder
  std::int64_t vocab_size = 0;
  std::int64_t max_length = 0;         // longest sequence the position table covers
  std::int64_t max_source_length = 0;  // encoder_decoder: longest source sequence
  std::int64_t num_classes = 0;        // > 0: pooled sequence classification head
  std::string pooling = "mean";        // mean | cls (position 0: the task's classification token)
  std::int64_t d_model = 64;
  std::int64_t layers = 2;
  std::int64_t heads = 4;
  std::int64_t mlp_ratio = 4;
  double dropout = 0.0;
  std::string positions = "learned";   // learned | sinusoidal | none
  bool attention_only = false;         // no MLP sublayer (for circuit-style analyses)
  // "torch": the modules' own LibTorch defaults (Linear: Kaiming-uniform, bound 1/sqrt(fan_in);
  // Embedding: N(0, 1)). At small widths N(0, 0.02) leaves tiny models on plateaus that
  // PyTorch's defaults escape (mqar at d_model 64 stays at 25% accuracy for 1500 steps).
  std::string init = "torch";  // torch | gpt2
  double init_std = 0.02;      // gpt2 only
  variants::VariantOptions variant;
  // One per block, or empty: block i's attention modules (its self-attention, in both stacks of
  // an encoder-decoder, and its cross-attention) use layer_variants[i]; empty: all use `variant`.
  std::vector<LayerVariant> layer_variants;

  // The options and the preset name of block i's layer variant (`variant` and "" without one).
  const variants::VariantOptions& variant_for(std::int64_t block) const;
  std::string layer_variant_name(std::int64_t block) const;
  bool causal() const { return arch != "encoder"; }  // of the main (target) stack
  bool has_encoder() const { return arch == "encoder_decoder"; }
};

// Absolute positions added at the input: a learned table, a fixed sinusoidal one, or none.
class InputPositionsImpl : public torch::nn::Module {
 public:
  InputPositionsImpl(const std::string& kind, std::int64_t max_length, std::int64_t d_model);
  // x [B,T,C] -> x plus the first T positions
  torch::Tensor forward(const torch::Tensor& x);

 private:
  std::string kind_;
  std::int64_t max_length_;
  std::int64_t d_model_;
  torch::nn::Embedding learned_{nullptr};
  // Computed, not saved: a fixed table has no reason to be in a checkpoint, and this way a model
  // can be evaluated on sequences longer than it was trained on.
  torch::Tensor sinusoidal_;  // [length, C]
};
TORCH_MODULE(InputPositions);

class BlockImpl : public torch::nn::Module {
 public:
  // `first_site` numbers this block's attention modules (self, then cross) among all of the
  // model's attention modules, in forward order; `depth` is the block's index in its stack.
  BlockImpl(const ModelSpec& spec, std::int64_t first_site, std::int64_t depth, bool causal,
            bool cross);
  // x [B,T,C], memory [B,S,C] (cross-attention blocks only) -> [B,T,C]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& memory, AttentionTap* tap);
  std::vector<MultiHeadAttention> attention_modules() const;

 private:
  torch::nn::LayerNorm attention_norm_{nullptr};
  MultiHeadAttention attention_{nullptr};
  torch::nn::LayerNorm cross_norm_{nullptr};
  MultiHeadAttention cross_attention_{nullptr};
  torch::nn::LayerNorm mlp_norm_{nullptr};
  torch::nn::Sequential mlp_{nullptr};  // mlp_in_, GELU, mlp_out_
  torch::nn::Linear mlp_in_{nullptr};
  torch::nn::Linear mlp_out_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
};
TORCH_MODULE(Block);

class TransformerImpl : public torch::nn::Module {
 public:
  explicit TransformerImpl(const ModelSpec& spec);

  // tokens [B,T] int64 -> logits [B,T,V] (per-token) or [B,K] (classification). `source` [B,S]
  // holds the encoder's tokens for encoder-decoder models (undefined otherwise). With a tap, every
  // attention layer hands its probabilities to it (the recording path).
  torch::Tensor forward(const torch::Tensor& tokens, AttentionTap* tap = nullptr,
                        const torch::Tensor& source = {});

  const ModelSpec& spec() const { return spec_; }
  std::int64_t parameter_count() const;
  // Every attention module in forward order: encoder self-attention layers, then per decoder
  // (or only) block its self-attention and, for encoder-decoder, its cross-attention.
  std::vector<MultiHeadAttention> attention_layers() const;

 private:
  void initialise_weights();
  torch::Tensor encode(const torch::Tensor& source, AttentionTap* tap);  // [B,S] -> [B,S,C]

  ModelSpec spec_;
  torch::nn::Embedding token_embedding_{nullptr};
  InputPositions positions_{nullptr};
  InputPositions source_positions_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
  torch::nn::ModuleList encoder_blocks_{nullptr};
  torch::nn::LayerNorm encoder_norm_{nullptr};
  torch::nn::ModuleList blocks_{nullptr};
  torch::nn::LayerNorm final_norm_{nullptr};
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(Transformer);

// [length, C] fixed sine/cosine table (Vaswani et al. 2017).
torch::Tensor sinusoidal_table(std::int64_t length, std::int64_t d_model);

}  // namespace attnlab::model
