#include "experiments/model/multi_head_attention.h"

#include "experiments/model/linear_kernel.h"

namespace attnlab::model {

MultiHeadAttentionImpl::MultiHeadAttentionImpl(std::int64_t d_model,
                                               const variants::VariantOptions& variant,
                                               const variants::AttentionSite& site)
    : site_(site) {
  site_.d_model = d_model;
  // Built first, registered last: the variant says how many key/value heads to project, and the
  // registration order is the parameter order that checkpoints and exports have always had.
  variants::AttentionVariant attention_variant(variant, site_);
  site_ = attention_variant->site();
  const auto kv_width = 2 * site_.kv_heads * site_.head_dim;  // keys and values: G heads each
  if (site.cross) {
    query_ = register_module("query", torch::nn::Linear(d_model, d_model));
    key_value_ = register_module("key_value", torch::nn::Linear(d_model, kv_width));
  } else {
    query_key_value_ =
        register_module("query_key_value", torch::nn::Linear(d_model, d_model + kv_width));
  }
  output_ = register_module("output", torch::nn::Linear(d_model, d_model));
  variant_ = register_module("variant", attention_variant);
}

torch::Tensor MultiHeadAttentionImpl::split_heads(const torch::Tensor& x,
                                                  std::int64_t heads) const {
  const auto batch = x.size(0), length = x.size(1);
  return x.view({batch, length, heads, site_.head_dim}).transpose(1, 2);  // [B,heads,T,D]
}

torch::Tensor MultiHeadAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& memory,
                                              AttentionTap* tap) {
  const auto batch = x.size(0), length = x.size(1);
  const auto model_width = site_.heads * site_.head_dim, kv_width = site_.kv_heads * site_.head_dim;
  torch::Tensor q, k, v;  // [B,H,T,D], [B,G,S,D], [B,G,S,D]
  if (site_.cross) {
    q = split_heads(apply_linear(query_, x), site_.heads);
    auto key_value = apply_linear(key_value_, memory).split(kv_width, /*dim=*/-1);  // 2 x [B,S,G*D]
    k = split_heads(key_value[0], site_.kv_heads);
    v = split_heads(key_value[1], site_.kv_heads);
  } else {
    auto qkv = apply_linear(query_key_value_, x)
                   .split_with_sizes({model_width, kv_width, kv_width}, /*dim=*/-1);
    q = split_heads(qkv[0], site_.heads);
    k = split_heads(qkv[1], site_.kv_heads);
    v = split_heads(qkv[2], site_.kv_heads);
  }
  const bool record = tap != nullptr;
  variants::AttentionOutput attended = variant_->forward(
      q, k, v, /*need_probs=*/record, variant_->uses_gate_input() ? x : torch::Tensor());
  torch::Tensor heads_out = attended.out;  // [B,H,T,D]
  if (head_gate_.defined()) heads_out = heads_out * head_gate_.view({-1, site_.heads, 1, 1});
  if (record) {
    tap->captures.push_back({site_.layer, site_.cross ? "cross" : "self", attended.probs.detach(),
                             variants::expand_kv_heads(v, site_.heads).detach(),
                             variant_->map_kind()});
  }
  auto merged = heads_out.transpose(1, 2).reshape({batch, length, site_.heads * site_.head_dim});
  return apply_linear(output_, merged);  // [B,T,C]
}

}  // namespace attnlab::model
