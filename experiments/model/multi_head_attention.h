// Multi-head attention: projections and head bookkeeping around an attention variant. It never
// names a concrete variant; the variant is built from options by the registries.
//
// B = batch, T = query length, S = key length (T for self-attention), C = d_model, H = heads,
// D = head dim (C / H).
#pragma once

#include <string>
#include <vector>

#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "variants/attention_variant.h"

namespace attnlab::model {

// What one attention layer hands to a recorder when probabilities are requested.
struct AttentionCapture {
  std::int64_t layer = 0;
  std::string kind;      // "self" or "cross"
  torch::Tensor probs;   // the map [B,H,T,S], of map_kind
  torch::Tensor values;  // [B,H,S,D] (for output norms of heads; shared kv heads repeated)
  variants::MapKind map_kind = variants::MapKind::Distribution;
};

// Collects captures during one forward pass. Null means "no recording": the fast path.
struct AttentionTap {
  std::vector<AttentionCapture> captures;
};

class MultiHeadAttentionImpl : public torch::nn::Module {
 public:
  MultiHeadAttentionImpl(std::int64_t d_model, const variants::VariantOptions& variant,
                         const variants::AttentionSite& site);

  // x [B,T,C]; memory [B,S,C] for cross-attention (undefined for self-attention) -> [B,T,C]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& memory = {},
                        AttentionTap* tap = nullptr);

  // A multiplier per head output [H], or per example and head [B,H] (Michel et al. 2019 head
  // gates; per-example gates give per-example importances in one pass); undefined = all ones.
  void set_head_gate(torch::Tensor gate) { head_gate_ = std::move(gate); }
  torch::nn::Linear output_projection() const { return output_; }
  std::int64_t heads() const { return site_.heads; }
  const variants::AttentionSite& site() const { return site_; }
  // The variant's allowed mask [1|H,Tq,Tk] bool (undefined: every key): the recorder counts each
  // query's allowed keys from it, since a masked key and a key given zero weight look alike.
  torch::Tensor allowed(std::int64_t query_length, std::int64_t key_length) {
    return variant_->allowed(query_length, key_length);
  }

 private:
  // [B,T,heads*D] -> [B,heads,T,D]
  torch::Tensor split_heads(const torch::Tensor& x, std::int64_t heads) const;

  variants::AttentionSite site_;
  torch::nn::Linear query_key_value_{nullptr};  // self-attention: one fused projection
  torch::nn::Linear query_{nullptr};            // cross-attention: queries from x ...
  torch::nn::Linear key_value_{nullptr};        // ... keys and values from memory
  torch::nn::Linear output_{nullptr};
  variants::AttentionVariant variant_{nullptr};
  torch::Tensor head_gate_;
};
TORCH_MODULE(MultiHeadAttention);

}  // namespace attnlab::model
