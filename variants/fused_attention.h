// Dot-product attention on the CPU, one head at a time: the training fast path for variants whose
// scores are `scale * q·k`, optionally soft-capped, plus a fixed additive mask (causal or sparse
// patterns, ALiBi), normalised by a softmax whose denominator may hold a sink logit per head, with
// key/value heads optionally shared by groups of query heads.
//
// Why: LibTorch's batched matmul on the CPU calls BLAS once per head, and each of those small
// calls wakes and synchronises BLAS's own threads; around it, the plain path materialises
// the scores several times (scale, bias, mask, softmax, mask again) and copies q, k, v and the
// output between the [B,T,H,D] and [B,H,T,D] layouts. Here the heads are split across LibTorch's
// threads, each head's products are single-threaded oneDNN calls on strided views (no layout
// copies), and a head's mask, softmax and products run kFusedRowBlock query rows at a time, over
// only the keys those rows may see, while the block is in cache. The probabilities of those keys
// are kept for the backward pass (the plain path keeps all of them).
//
// B = batch, H = heads, G = key/value heads, T = query length, S = key length, D = head dim.
#pragma once

#include <limits>
#include <vector>

#include <torch/types.h>

namespace attnlab::variants {

// Query rows per block. 64 rather than 32: half the calls into oneDNN and the softmax per head,
// for 1/9 more scores on a causal head at T = 256 (the medium training preset's steps took 2-5%
// less time in three alternating rounds); 128 was no faster.
constexpr std::int64_t kFusedRowBlock = 64;

// Scores, mask and bias folded into one additive table: the bias where a key is allowed, -inf
// where it is not. `empty_rows` lists, per table head, the queries with no allowed key (their
// probabilities are set to zero, as the plain path does, instead of NaN).
struct AdditiveMask {
  torch::Tensor table;   // [1|H, T, S] float; undefined when every key is allowed and no bias
  torch::Tensor empty;   // [1|H, T] bool: rows with no allowed key (undefined when none)
  // Per table head and block of kFusedRowBlock query rows, the allowed keys' span [begin, end):
  // the only keys the block's products visit. Empty when every key is allowed.
  std::int64_t range_heads = 1;
  std::vector<std::int64_t> key_begin, key_end;
};

// allowed [1|H,T,S] bool or undefined; bias [1|H,T,S] float or undefined.
AdditiveMask make_additive_mask(const torch::Tensor& allowed, const torch::Tensor& bias);

// Whether fused_dot_attention() takes these inputs: CPU float32, unit stride along D.
bool fused_attention_supports(const torch::Tensor& q, const torch::Tensor& k,
                              const torch::Tensor& v);
// Whether inputs of this device and dtype can take the fused path (CPU float32).
bool fused_attention_supports(const torch::TensorOptions& inputs);

// Probabilities the fused path keeps for the backward pass per batch entry, for `heads` heads of
// `queries` rows over the keys `mask` lets them reach (its memory; the cost estimate reads it).
std::int64_t fused_kept_probabilities(const AdditiveMask& mask, std::int64_t heads,
                                      std::int64_t queries, std::int64_t keys);

// softmax(cap(scale * q k^T) + mask) v, differentiable in q, k, v and sink_logits. q [B,H,T,D],
// k and v [B,G,S,D] with G dividing H: query head h reads key/value head h / (H / G), without a
// copy per query head. Any strides with unit stride along D (e.g. views of a fused QKV
// projection) -> [B,H,T,D], a view of a [B,T,H,D] tensor so that merging the heads back costs no
// copy. softcap: the c of softcap.h (inf: none), applied before the mask's bias. sink_logits [H]
// (undefined: none): one logit per head that joins each row's denominator and takes no value.
torch::Tensor fused_dot_attention(const torch::Tensor& q, const torch::Tensor& k,
                                  const torch::Tensor& v, double scale, const AdditiveMask& mask,
                                  double softcap = std::numeric_limits<double>::infinity(),
                                  const torch::Tensor& sink_logits = {});

}  // namespace attnlab::variants
