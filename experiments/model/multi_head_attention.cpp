#include "experiments/model/multi_head_attention.h"

#include "experiments/model/linear_kernel.h"

namespace attnlab::model {

MultiHeadAttentionImpl::MultiHeadAttentionImpl(std::int64_t d_model,
                                               const variants::VariantOptions& variant,
                                               const variants::AttentionSite& site)
    : site_(site) {
  if (site.cross) {
    query_ = register_module("query", torch::nn::Linear(d_model, d_model));
    key_value_ = register_module("key_value", torch::nn::Linear(d_model, 2 * d_model));
  } else {
    query_key_value_ = register_module("query_key_value", torch::nn::Linear(d_model, 3 * d_model));
  }
  output_ = register_module("output", torch::nn::Linear(d_model, d_model));
  variant_ = register_module("variant", variants::AttentionVariant(variant, site));
}

torch::Tensor MultiHeadAttentionImpl::split_heads(const torch::Tensor& x) const {
  const auto batch = x.size(0), length = x.size(1);
  return x.view({batch, length, site_.heads, site_.head_dim}).transpose(1, 2);  // [B,H,T,D]
}

torch::Tensor MultiHeadAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& memory,
                                              AttentionTap* tap) {
  const auto batch = x.size(0), length = x.size(1);
  torch::Tensor q, k, v;
  if (site_.cross) {
    q = split_heads(apply_linear(query_, x));
    auto key_value = apply_linear(key_value_, memory).chunk(2, /*dim=*/-1);  // 2 x [B,S,C]
    k = split_heads(key_value[0]);
    v = split_heads(key_value[1]);
  } else {
    auto qkv = apply_linear(query_key_value_, x).chunk(3, /*dim=*/-1);  // 3 x [B,T,C]
    q = split_heads(qkv[0]);
    k = split_heads(qkv[1]);
    v = split_heads(qkv[2]);
  }
  const bool record = tap != nullptr;
  variants::AttentionOutput attended = variant_->forward(q, k, v, /*need_probs=*/record);
  torch::Tensor heads_out = attended.out;  // [B,H,T,D]
  if (head_gate_.defined()) heads_out = heads_out * head_gate_.view({-1, site_.heads, 1, 1});
  if (record) {
    tap->captures.push_back(
        {site_.layer, site_.cross ? "cross" : "self", attended.probs.detach(), v.detach()});
  }
  auto merged = heads_out.transpose(1, 2).reshape({batch, length, site_.heads * site_.head_dim});
  return apply_linear(output_, merged);  // [B,T,C]
}

}  // namespace attnlab::model
