#include "variants/fused_attention.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include "base/sgemm.h"
#include "variants/softcap.h"

namespace attnlab::variants {
namespace {

// One head's [rows, D] matrix inside a [B,H,T,D]-shaped tensor with unit stride along D.
struct HeadMatrices {
  const float* data;
  std::int64_t batch_stride, head_stride, row_stride;
  const float* at(std::int64_t batch, std::int64_t head) const {
    return data + batch * batch_stride + head * head_stride;
  }
};

HeadMatrices head_matrices(const torch::Tensor& x) {
  return {x.data_ptr<float>(), x.stride(0), x.stride(1), x.stride(2)};
}

// A [rows, cols] float tensor over memory this code owns (no autograd, no copy).
torch::Tensor matrix_view(float* data, std::int64_t rows, std::int64_t cols) {
  return torch::from_blob(data, {rows, cols}, torch::TensorOptions().dtype(torch::kFloat));
}

struct Shape {
  std::int64_t batch, heads, kv_heads, queries, keys, dim;
  std::int64_t group() const { return heads / kv_heads; }  // query heads per key/value head
};

Shape shape_of(const torch::Tensor& q, const torch::Tensor& k) {
  return {q.size(0), q.size(1), k.size(1), q.size(2), k.size(2), q.size(3)};
}

// Unit stride along D is all the matrix products need; anything else is copied once.
torch::Tensor unit_inner_stride(const torch::Tensor& x) {
  return x.stride(3) == 1 && x.stride(2) >= x.size(3) ? x : x.contiguous();
}

// Query rows are handled in blocks of kFusedRowBlock; each block multiplies only the keys its mask
// can reach (KeyRanges), so a causal head computes a little over half of the T x S scores and a
// local one a band.
struct KeyRanges {
  std::int64_t heads = 1;       // ranges are given per mask head (h % heads)
  std::vector<std::int64_t> begin, end;  // [heads x row blocks]
  std::int64_t blocks(std::int64_t queries) const {
    return (queries + kFusedRowBlock - 1) / kFusedRowBlock;
  }
};

KeyRanges full_ranges(std::int64_t queries, std::int64_t keys) {
  KeyRanges ranges;
  const auto blocks = ranges.blocks(queries);
  ranges.begin.assign(static_cast<std::size_t>(blocks), 0);
  ranges.end.assign(static_cast<std::size_t>(blocks), keys);
  return ranges;
}

// The first and one-past-last allowed key of each row block, from allowed [1|H,T,S].
KeyRanges allowed_ranges(const torch::Tensor& allowed, std::int64_t heads) {
  const auto queries = allowed.size(1), keys = allowed.size(2);
  KeyRanges ranges;
  ranges.heads = heads;
  const auto expanded = allowed.expand({heads, queries, keys}).contiguous();
  const auto* data = expanded.data_ptr<bool>();
  for (std::int64_t head = 0; head < heads; ++head) {
    for (std::int64_t first = 0; first < queries; first += kFusedRowBlock) {
      std::int64_t begin = keys, end = 0;
      for (std::int64_t row = first; row < std::min(queries, first + kFusedRowBlock); ++row) {
        const bool* allowed_row = data + (head * queries + row) * keys;
        for (std::int64_t key = 0; key < keys; ++key) {
          if (allowed_row[key]) {
            begin = std::min(begin, key);
            end = std::max(end, key + 1);
          }
        }
      }
      ranges.begin.push_back(begin < end ? begin : 0);
      ranges.end.push_back(begin < end ? end : 0);
    }
  }
  return ranges;
}

// The key ranges of a mask's row blocks (every key for a mask without a table).
KeyRanges ranges_of(const AdditiveMask& mask, std::int64_t queries, std::int64_t keys) {
  return mask.key_begin.empty() ? full_ranges(queries, keys)
                                : KeyRanges{mask.range_heads, mask.key_begin, mask.key_end};
}

struct Block {
  std::int64_t first, rows, key_begin, keys;  // keys = 0: no query in the block sees any key
};

Block block_of(const KeyRanges& ranges, std::int64_t head, std::int64_t block,
               std::int64_t queries) {
  const auto index = static_cast<std::size_t>((head % ranges.heads) * ranges.blocks(queries) + block);
  const std::int64_t first = block * kFusedRowBlock;
  return {first, std::min(kFusedRowBlock, queries - first), ranges.begin[index],
          ranges.end[index] - ranges.begin[index]};
}

// The probabilities kept for the backward pass hold only what the blocks compute: each block's
// [rows, keys] matrix, contiguous, block after block, head after head. Nothing is spent on the
// masked-out part (37.5% of a causal head at T = 256), the softmax writes its output in place, and
// the backward pass reads a block as one matrix.
struct ProbabilityLayout {
  std::int64_t blocks = 0;
  std::vector<std::int64_t> block_start;  // [range heads x blocks]: offset within its head
  std::vector<std::int64_t> head_start;   // [H + 1]: offset of head h within one batch entry
  std::int64_t at(std::int64_t batch, std::int64_t head, std::int64_t block,
                  std::int64_t range_heads) const {
    return batch * head_start.back() + head_start[static_cast<std::size_t>(head)] +
           block_start[static_cast<std::size_t>((head % range_heads) * blocks + block)];
  }
};

ProbabilityLayout probability_layout(const KeyRanges& ranges, std::int64_t heads,
                                     std::int64_t queries) {
  ProbabilityLayout layout;
  layout.blocks = ranges.blocks(queries);
  std::vector<std::int64_t> head_size;
  for (std::int64_t range_head = 0; range_head < ranges.heads; ++range_head) {
    std::int64_t size = 0;
    for (std::int64_t block = 0; block < layout.blocks; ++block) {
      const Block blk = block_of(ranges, range_head, block, queries);
      layout.block_start.push_back(size);
      size += blk.rows * blk.keys;
    }
    head_size.push_back(size);
  }
  layout.head_start.push_back(0);
  for (std::int64_t head = 0; head < heads; ++head) {
    layout.head_start.push_back(layout.head_start.back() +
                                head_size[static_cast<std::size_t>(head % ranges.heads)]);
  }
  return layout;
}

// What turns a block's q·k products into probabilities besides the mask: the score's scale, the
// soft-cap and the sink logits.
struct Normalisation {
  float scale;
  double softcap;            // inf: none
  const float* sink_logits;  // [H], or nullptr without a sink
  bool capped() const { return caps_scores(softcap); }
};

// The mask's table as raw pointers, per table head (h % table heads).
struct MaskTable {
  const float* table = nullptr;  // [1|H,T,S], or nullptr when every key is allowed and no bias
  const bool* empty = nullptr;   // [1|H,T], or nullptr when every row sees some key
  std::int64_t heads = 1;
};

MaskTable mask_table(const AdditiveMask& mask) {
  MaskTable table;
  if (mask.table.defined()) {
    table.table = mask.table.data_ptr<float>();
    table.heads = mask.table.size(0);
  }
  if (mask.empty.defined()) table.empty = mask.empty.data_ptr<bool>();
  return table;
}

// One head's operands for a block: its query rows, and the key/value head it reads.
struct HeadOperands {
  const float* q;  // the block's first query row
  const float* k;  // the block's first key
  std::int64_t q_stride, k_stride;
};

HeadOperands block_operands(const HeadMatrices& queries, const HeadMatrices& keys,
                            const Shape& s, std::int64_t b, std::int64_t h, const Block& blk) {
  return {queries.at(b, h) + blk.first * queries.row_stride,
          keys.at(b, h / s.group()) + blk.key_begin * keys.row_stride, queries.row_stride,
          keys.row_stride};
}

// scores [rows, keys] (row stride `stride`) = cap(scale q k^T) + table. Without a cap the table is
// added by the product itself (beta = 1); a cap must bite on the raw scores, before the bias.
void block_scores(const HeadOperands& operands, const Normalisation& normalisation,
                  const float* table, std::int64_t table_stride, const Block& blk, std::int64_t dim,
                  float* scores, std::int64_t stride) {
  const bool capped = normalisation.capped();
  if (table != nullptr && !capped) {
    for (std::int64_t row = 0; row < blk.rows; ++row) {
      std::memcpy(scores + row * stride, table + row * table_stride,
                  static_cast<std::size_t>(blk.keys) * sizeof(float));
    }
  }
  const float alpha = capped ? static_cast<float>(normalisation.scale / normalisation.softcap)
                             : normalisation.scale;
  sgemm(false, true, blk.rows, blk.keys, dim, alpha, operands.q, operands.q_stride, operands.k,
        operands.k_stride, table != nullptr && !capped ? 1.0F : 0.0F, scores, stride);
  if (!capped) return;
  torch::from_blob(scores, {blk.rows, blk.keys}, {stride, 1}, torch::kFloat).tanh_();
  const auto cap = static_cast<float>(normalisation.softcap);
  for (std::int64_t row = 0; row < blk.rows; ++row) {
    float* score_row = scores + row * stride;
    const float* table_row = table != nullptr ? table + row * table_stride : nullptr;
    for (std::int64_t key = 0; key < blk.keys; ++key) {
      score_row[key] = cap * score_row[key] + (table_row != nullptr ? table_row[key] : 0.0F);
    }
  }
}

// p [rows, keys] = softmax of the block's scores; with a sink the softmax runs over one more
// column holding the sink logit, which is then dropped (its share goes to sink_probs [rows]).
void block_softmax(float* scores, float* with_sink, const float* sink_logit, const Block& blk,
                   float* p, float* sink_probs) {
  if (sink_logit == nullptr) {
    auto p_view = matrix_view(p, blk.rows, blk.keys);
    at::_softmax_out(p_view, matrix_view(scores, blk.rows, blk.keys), 1, false);
    return;
  }
  const std::int64_t stride = blk.keys + 1;
  for (std::int64_t row = 0; row < blk.rows; ++row) scores[row * stride + blk.keys] = *sink_logit;
  auto with_sink_view = matrix_view(with_sink, blk.rows, stride);
  at::_softmax_out(with_sink_view, matrix_view(scores, blk.rows, stride), 1, false);
  for (std::int64_t row = 0; row < blk.rows; ++row) {
    std::memcpy(p + row * blk.keys, with_sink + row * stride,
                static_cast<std::size_t>(blk.keys) * sizeof(float));
    sink_probs[row] = with_sink[row * stride + blk.keys];
  }
}

// The kernels' inputs and outputs, as raw pointers shared by the threads.
struct ForwardBuffers {
  HeadMatrices queries, keys, values;
  MaskTable mask;
  float* out;         // [B,T,H,D]
  float* probs;       // ProbabilityLayout
  float* sink_probs;  // [B,H,T], or nullptr without a sink
};

// One (batch, head): its blocks' probabilities and outputs.
void forward_head(const ForwardBuffers& buffers, const Shape& s, const KeyRanges& ranges,
                  const ProbabilityLayout& layout, const Normalisation& normalisation,
                  std::int64_t b, std::int64_t h, std::vector<float>& scores,
                  std::vector<float>& with_sink) {
  const std::int64_t table_head = h % buffers.mask.heads, out_row = s.heads * s.dim;
  const float* sink_logit =
      normalisation.sink_logits != nullptr ? normalisation.sink_logits + h : nullptr;
  float* o = buffers.out + b * s.queries * out_row + h * s.dim;
  for (std::int64_t block = 0; block < layout.blocks; ++block) {
    const Block blk = block_of(ranges, h, block, s.queries);
    if (blk.keys == 0) {  // a sink, if any, keeps these rows' whole mass (sink_probs start at 1)
      for (std::int64_t row = blk.first; row < blk.first + blk.rows; ++row) {
        std::fill(o + row * out_row, o + row * out_row + s.dim, 0.0F);
      }
      continue;
    }
    const float* table = buffers.mask.table != nullptr
        ? buffers.mask.table + (table_head * s.queries + blk.first) * s.keys + blk.key_begin
        : nullptr;
    block_scores(block_operands(buffers.queries, buffers.keys, s, b, h, blk), normalisation, table,
                 s.keys, blk, s.dim, scores.data(), blk.keys + (sink_logit != nullptr ? 1 : 0));
    float* p = buffers.probs + layout.at(b, h, block, ranges.heads);
    float* sink_probs = buffers.sink_probs != nullptr
        ? buffers.sink_probs + (b * s.heads + h) * s.queries + blk.first
        : nullptr;
    block_softmax(scores.data(), with_sink.data(), sink_logit, blk, p, sink_probs);
    const bool* empty = buffers.mask.empty != nullptr
        ? buffers.mask.empty + table_head * s.queries + blk.first
        : nullptr;
    for (std::int64_t row = 0; empty != nullptr && row < blk.rows; ++row) {
      if (empty[row]) std::fill(p + row * blk.keys, p + (row + 1) * blk.keys, 0.0F);  // not NaN
    }
    sgemm(false, false, blk.rows, s.dim, blk.keys, 1.0F, p, blk.keys,
          buffers.values.at(b, h / s.group()) + blk.key_begin * buffers.values.row_stride,
          buffers.values.row_stride, 0.0F, o + blk.first * out_row, out_row);
  }
}

torch::Tensor forward_heads(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                            const Normalisation& normalisation, const AdditiveMask& mask,
                            const KeyRanges& ranges, torch::Tensor& probs,
                            torch::Tensor& sink_probs) {
  const Shape s = shape_of(q, k);
  const auto layout = probability_layout(ranges, s.heads, s.queries);
  auto out = torch::empty({s.batch, s.queries, s.heads, s.dim}, q.options());  // [B,T,H,D]
  probs = torch::empty({s.batch * layout.head_start.back()}, q.options());
  if (normalisation.sink_logits != nullptr) {
    sink_probs = torch::ones({s.batch, s.heads, s.queries}, q.options());  // [B,H,T]
  }
  const ForwardBuffers buffers{head_matrices(q), head_matrices(k), head_matrices(v),
                               mask_table(mask), out.data_ptr<float>(), probs.data_ptr<float>(),
                               sink_probs.defined() ? sink_probs.data_ptr<float>() : nullptr};
  at::parallel_for(0, s.batch * s.heads, 1, [&](std::int64_t begin, std::int64_t end) {
    const auto scratch = static_cast<std::size_t>(kFusedRowBlock * (s.keys + 1));
    std::vector<float> scores(scratch), with_sink(normalisation.sink_logits ? scratch : 0);
    for (std::int64_t index = begin; index < end; ++index) {
      forward_head(buffers, s, ranges, layout, normalisation, index / s.heads, index % s.heads,
                   scores, with_sink);
    }
  });
  return out.transpose(1, 2);  // [B,H,T,D] view
}

// grad_scores [rows, keys] *= d cap(x)/dx = 1 - tanh^2(scale q k^T / c). The tanh is recomputed
// (one more q·k product per block) rather than kept from the forward pass: keeping it would double
// what the fused path holds for the backward pass (fused_kept_probabilities, which the memory
// estimate reads), for a product that the backward's four others outweigh. `raw` is scratch.
void apply_cap_slope(const HeadOperands& operands, const Normalisation& normalisation,
                     const Block& blk, std::int64_t dim, float* raw, float* grad_scores) {
  sgemm(false, true, blk.rows, blk.keys, dim,
        static_cast<float>(normalisation.scale / normalisation.softcap), operands.q,
        operands.q_stride, operands.k, operands.k_stride, 0.0F, raw, blk.keys);
  matrix_view(raw, blk.rows, blk.keys).tanh_();
  for (std::int64_t index = 0; index < blk.rows * blk.keys; ++index) {
    grad_scores[index] *= 1.0F - raw[index] * raw[index];
  }
}

// The block's share of d L / d sink: sum over rows of p_sink * sum_j p_j dP_j (negated by the
// caller), since d p_j / d sink = -p_j p_sink.
double block_sink_gradient(const float* p, const float* grad_probs, const float* sink_probs,
                           const Block& blk) {
  double total = 0.0;
  for (std::int64_t row = 0; row < blk.rows; ++row) {
    double weighted = 0.0;
    for (std::int64_t key = 0; key < blk.keys; ++key) {
      weighted += static_cast<double>(p[row * blk.keys + key]) * grad_probs[row * blk.keys + key];
    }
    total += sink_probs[row] * weighted;
  }
  return total;
}

struct BackwardBuffers {
  HeadMatrices queries, keys, values, grads;
  const float* probs;       // ProbabilityLayout
  const float* sink_probs;  // [B,H,T], or nullptr without a sink
  // Per query head, [B,T,H,D] and [B,S,H,D]: a group's heads never write the same memory.
  float *grad_q, *grad_k, *grad_v;
  double* grad_sink;  // [B,H], or nullptr without a sink
};

// One (batch, head): dV += P^T dO;  dP = dO V^T;  dS = P * (dP - rowsum(dP * P)) (the sink only
// makes P's rows sum to less than 1);  dS *= cap';  dQ = s dS K;  dK += s dS^T Q.
void backward_head(const BackwardBuffers& buffers, const Shape& s, const KeyRanges& ranges,
                   const ProbabilityLayout& layout, const Normalisation& normalisation,
                   std::int64_t b, std::int64_t h, std::vector<float>& grad_probs,
                   std::vector<float>& grad_scores) {
  const std::int64_t row_stride = s.heads * s.dim;
  float* d_q = buffers.grad_q + b * s.queries * row_stride + h * s.dim;
  float* d_k = buffers.grad_k + b * s.keys * row_stride + h * s.dim;
  float* d_v = buffers.grad_v + b * s.keys * row_stride + h * s.dim;
  double sink_gradient = 0.0;
  for (std::int64_t block = 0; block < layout.blocks; ++block) {
    const Block blk = block_of(ranges, h, block, s.queries);
    if (blk.keys == 0) {
      for (std::int64_t row = blk.first; row < blk.first + blk.rows; ++row) {
        std::fill(d_q + row * row_stride, d_q + row * row_stride + s.dim, 0.0F);
      }
      continue;
    }
    const float* p = buffers.probs + layout.at(b, h, block, ranges.heads);  // [rows, keys]
    const float* d_out = buffers.grads.at(b, h) + blk.first * buffers.grads.row_stride;
    const auto operands = block_operands(buffers.queries, buffers.keys, s, b, h, blk);
    sgemm(true, false, blk.keys, s.dim, blk.rows, 1.0F, p, blk.keys, d_out,
          buffers.grads.row_stride, 1.0F, d_v + blk.key_begin * row_stride, row_stride);
    sgemm(false, true, blk.rows, blk.keys, s.dim, 1.0F, d_out, buffers.grads.row_stride,
          buffers.values.at(b, h / s.group()) + blk.key_begin * buffers.values.row_stride,
          buffers.values.row_stride, 0.0F, grad_probs.data(), blk.keys);
    if (buffers.sink_probs != nullptr) {
      sink_gradient += block_sink_gradient(
          p, grad_probs.data(), buffers.sink_probs + (b * s.heads + h) * s.queries + blk.first,
          blk);
    }
    // The probabilities are only read; the view is non-const because from_blob's is.
    auto grad_scores_view = matrix_view(grad_scores.data(), blk.rows, blk.keys);
    at::_softmax_backward_data_out(grad_scores_view,
                                   matrix_view(grad_probs.data(), blk.rows, blk.keys),
                                   matrix_view(const_cast<float*>(p), blk.rows, blk.keys), 1,
                                   torch::kFloat);
    if (normalisation.capped()) {  // dP is spent: its scratch holds the recomputed scores
      apply_cap_slope(operands, normalisation, blk, s.dim, grad_probs.data(), grad_scores.data());
    }
    sgemm(false, false, blk.rows, s.dim, blk.keys, normalisation.scale, grad_scores.data(),
          blk.keys, operands.k, operands.k_stride, 0.0F, d_q + blk.first * row_stride,
          row_stride);
    sgemm(true, false, blk.keys, s.dim, blk.rows, normalisation.scale, grad_scores.data(),
          blk.keys, operands.q, operands.q_stride, 1.0F, d_k + blk.key_begin * row_stride,
          row_stride);
  }
  if (buffers.grad_sink != nullptr) buffers.grad_sink[b * s.heads + h] = -sink_gradient;
}

// Per query head [B,S,H,D] -> per key/value head [B,G,S,D]: the sum over each group.
torch::Tensor sum_over_groups(const torch::Tensor& per_query_head, const Shape& s) {
  if (s.kv_heads == s.heads) return per_query_head.transpose(1, 2);
  return per_query_head.view({s.batch, s.keys, s.kv_heads, s.group(), s.dim})
      .sum(/*dim=*/3)
      .transpose(1, 2);
}

// dQ, dK, dV and, with a sink, d sink [H]. Every (batch, query head) runs in parallel, as in the
// forward pass; dK and dV are first kept per query head (the memory of the outputs) and summed
// over each group after, so that heads sharing a key/value head never write the same memory and
// a single key/value head (B = 1, G = 1) does not leave the threads idle.
std::vector<torch::Tensor> backward_heads(const torch::Tensor& q, const torch::Tensor& k,
                                          const torch::Tensor& v, const torch::Tensor& probs,
                                          const torch::Tensor& sink_probs,
                                          const torch::Tensor& grad_out,
                                          const Normalisation& normalisation,
                                          const KeyRanges& ranges) {
  const Shape s = shape_of(q, k);
  const auto layout = probability_layout(ranges, s.heads, s.queries);
  auto grad_q = torch::empty({s.batch, s.queries, s.heads, s.dim}, q.options());
  // dK and dV accumulate over query blocks.
  auto grad_k = torch::zeros({s.batch, s.keys, s.heads, s.dim}, q.options());
  auto grad_v = torch::zeros({s.batch, s.keys, s.heads, s.dim}, q.options());
  torch::Tensor grad_sink;
  if (sink_probs.defined()) grad_sink = torch::empty({s.batch, s.heads}, torch::kDouble);
  const BackwardBuffers buffers{
      head_matrices(q), head_matrices(k), head_matrices(v), head_matrices(grad_out),
      probs.data_ptr<float>(), sink_probs.defined() ? sink_probs.data_ptr<float>() : nullptr,
      grad_q.data_ptr<float>(), grad_k.data_ptr<float>(), grad_v.data_ptr<float>(),
      grad_sink.defined() ? grad_sink.data_ptr<double>() : nullptr};
  at::parallel_for(0, s.batch * s.heads, 1, [&](std::int64_t begin, std::int64_t end) {
    const auto scratch = static_cast<std::size_t>(kFusedRowBlock * s.keys);
    std::vector<float> grad_probs(scratch), grad_scores(scratch);
    for (std::int64_t index = begin; index < end; ++index) {
      backward_head(buffers, s, ranges, layout, normalisation, index / s.heads, index % s.heads,
                    grad_probs, grad_scores);
    }
  });
  return {grad_q.transpose(1, 2), sum_over_groups(grad_k, s), sum_over_groups(grad_v, s),
          grad_sink.defined() ? grad_sink.sum(/*dim=*/0).to(q.scalar_type()) : torch::Tensor()};
}

class FusedDotAttention : public torch::autograd::Function<FusedDotAttention> {
 public:
  // sinks: the sink logits [H] float, or nothing; an input so that autograd routes its gradient
  // here (an undefined tensor cannot be a custom function's input).
  static torch::Tensor forward(torch::autograd::AutogradContext* context, const torch::Tensor& q,
                               const torch::Tensor& k, const torch::Tensor& v,
                               at::TensorList sinks, double scale, double softcap,
                               const AdditiveMask& mask) {
    const auto q_in = unit_inner_stride(q), k_in = unit_inner_stride(k),
               v_in = unit_inner_stride(v);
    const KeyRanges ranges = ranges_of(mask, q.size(2), k.size(2));
    const auto sink_logits = sinks.empty() ? torch::Tensor() : sinks.front().contiguous();
    const Normalisation normalisation{
        static_cast<float>(scale), softcap,
        sink_logits.defined() ? sink_logits.data_ptr<float>() : nullptr};
    torch::Tensor probs, sink_probs;
    auto out = forward_heads(q_in, k_in, v_in, normalisation, mask, ranges, probs, sink_probs);
    context->save_for_backward({q_in, k_in, v_in, probs, sink_probs});
    context->saved_data["scale"] = scale;
    context->saved_data["softcap"] = softcap;
    context->saved_data["range_heads"] = ranges.heads;
    context->saved_data["key_begin"] = ranges.begin;
    context->saved_data["key_end"] = ranges.end;
    return out;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* context,
                                               torch::autograd::tensor_list grad_outputs) {
    const auto saved = context->get_saved_variables();
    const auto grad_out = unit_inner_stride(grad_outputs[0]);
    const KeyRanges ranges{context->saved_data["range_heads"].toInt(),
                           context->saved_data["key_begin"].toIntVector(),
                           context->saved_data["key_end"].toIntVector()};
    const Normalisation normalisation{
        static_cast<float>(context->saved_data["scale"].toDouble()),
        context->saved_data["softcap"].toDouble(), /*sink_logits=*/nullptr};
    auto grads = backward_heads(saved[0], saved[1], saved[2], saved[3], saved[4], grad_out,
                                normalisation, ranges);
    torch::autograd::tensor_list result = {grads[0], grads[1], grads[2]};
    if (grads[3].defined()) result.push_back(grads[3]);  // the sink logits'
    result.resize(result.size() + 3);                    // scale, softcap and mask: none
    return result;
  }
};

}  // namespace

AdditiveMask make_additive_mask(const torch::Tensor& allowed, const torch::Tensor& bias) {
  AdditiveMask mask;
  if (!allowed.defined() && !bias.defined()) return mask;
  torch::NoGradGuard no_grad;
  torch::Tensor table = bias.defined() ? bias.to(torch::kFloat) : torch::zeros(allowed.sizes());
  if (allowed.defined()) {
    const auto disallowed = allowed.logical_not().to(table.device());
    table = table.masked_fill(disallowed, -std::numeric_limits<float>::infinity());
    const auto empty = allowed.any(/*dim=*/-1).logical_not();  // [1|H, T]
    if (empty.any().item<bool>()) {
      mask.empty = empty.expand({table.size(0), empty.size(1)}).contiguous();  // per table head
    }
    const auto ranges = allowed_ranges(allowed.to(torch::kCPU), table.size(0));
    mask.range_heads = ranges.heads;
    mask.key_begin = ranges.begin;
    mask.key_end = ranges.end;
  }
  mask.table = table.contiguous();
  return mask;
}

bool fused_attention_supports(const torch::Tensor& q, const torch::Tensor& k,
                              const torch::Tensor& v) {
  for (const auto* x : {&q, &k, &v}) {
    if (!fused_attention_supports(x->options()) || x->dim() != 4) return false;
  }
  return true;
}

bool fused_attention_supports(const torch::TensorOptions& inputs) {
  return inputs.device().is_cpu() && inputs.dtype() == torch::kFloat;
}

std::int64_t fused_kept_probabilities(const AdditiveMask& mask, std::int64_t heads,
                                      std::int64_t queries, std::int64_t keys) {
  return probability_layout(ranges_of(mask, queries, keys), heads, queries).head_start.back();
}

torch::Tensor fused_dot_attention(const torch::Tensor& q, const torch::Tensor& k,
                                  const torch::Tensor& v, double scale, const AdditiveMask& mask,
                                  double softcap, const torch::Tensor& sink_logits) {
  TORCH_CHECK(k.size(1) == v.size(1) && q.size(1) % k.size(1) == 0,
              "fused_dot_attention: key/value heads must divide the query heads");
  std::vector<torch::Tensor> sinks;  // [H] float, or none
  if (sink_logits.defined()) sinks.push_back(sink_logits.to(torch::kFloat));
  return FusedDotAttention::apply(q, k, v, at::TensorList(sinks), scale, softcap, mask);
}

}  // namespace attnlab::variants
