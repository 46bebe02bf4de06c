#include "variants/fused_attention.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include "base/sgemm.h"

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
  std::int64_t batch, heads, queries, keys, dim;
};

Shape shape_of(const torch::Tensor& q, const torch::Tensor& k) {
  return {q.size(0), q.size(1), q.size(2), k.size(2), q.size(3)};
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

torch::Tensor forward_heads(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                            double scale, const AdditiveMask& mask, const KeyRanges& ranges,
                            torch::Tensor& probs) {
  const Shape s = shape_of(q, k);
  const auto layout = probability_layout(ranges, s.heads, s.queries);
  auto out = torch::empty({s.batch, s.queries, s.heads, s.dim}, q.options());  // [B,T,H,D]
  probs = torch::empty({s.batch * layout.head_start.back()}, q.options());
  const auto queries = head_matrices(q), keys = head_matrices(k), values = head_matrices(v);
  float* out_data = out.data_ptr<float>();
  float* probs_data = probs.data_ptr<float>();
  const float* table_data = mask.table.defined() ? mask.table.data_ptr<float>() : nullptr;
  const std::int64_t table_heads = mask.table.defined() ? mask.table.size(0) : 1;
  const bool* empty_data = mask.empty.defined() ? mask.empty.data_ptr<bool>() : nullptr;
  const std::int64_t out_row = s.heads * s.dim;

  at::parallel_for(0, s.batch * s.heads, 1, [&](std::int64_t begin, std::int64_t end) {
    std::vector<float> scores(static_cast<std::size_t>(kFusedRowBlock * s.keys));
    for (std::int64_t index = begin; index < end; ++index) {
      const std::int64_t b = index / s.heads, h = index % s.heads;
      const std::int64_t table_head = h % table_heads;
      float* o = out_data + b * s.queries * out_row + h * s.dim;
      for (std::int64_t block = 0; block < layout.blocks; ++block) {
        const Block blk = block_of(ranges, h, block, s.queries);
        if (blk.keys == 0) {
          for (std::int64_t row = 0; row < blk.rows; ++row) {
            std::fill(o + (blk.first + row) * out_row, o + (blk.first + row) * out_row + s.dim, 0.0F);
          }
          continue;
        }
        float beta = 0.0F;
        if (table_data != nullptr) {
          for (std::int64_t row = 0; row < blk.rows; ++row) {
            std::memcpy(scores.data() + row * blk.keys,
                        table_data + (table_head * s.queries + blk.first + row) * s.keys + blk.key_begin,
                        static_cast<std::size_t>(blk.keys) * sizeof(float));
          }
          beta = 1.0F;
        }
        sgemm(false, true, blk.rows, blk.keys, s.dim, static_cast<float>(scale),
              queries.at(b, h) + blk.first * queries.row_stride, queries.row_stride,
              keys.at(b, h) + blk.key_begin * keys.row_stride, keys.row_stride, beta,
              scores.data(), blk.keys);
        float* p = probs_data + layout.at(b, h, block, ranges.heads);
        auto p_view = matrix_view(p, blk.rows, blk.keys);
        at::_softmax_out(p_view, matrix_view(scores.data(), blk.rows, blk.keys), 1, false);
        for (std::int64_t row = 0; row < blk.rows; ++row) {
          if (empty_data != nullptr && empty_data[table_head * s.queries + blk.first + row]) {
            std::fill(p + row * blk.keys, p + (row + 1) * blk.keys, 0.0F);  // not softmax's NaN
          }
        }
        sgemm(false, false, blk.rows, s.dim, blk.keys, 1.0F, p, blk.keys,
              values.at(b, h) + blk.key_begin * values.row_stride, values.row_stride, 0.0F,
              o + blk.first * out_row, out_row);
      }
    }
  });
  return out.transpose(1, 2);  // [B,H,T,D] view
}

std::vector<torch::Tensor> backward_heads(const torch::Tensor& q, const torch::Tensor& k,
                                          const torch::Tensor& v, const torch::Tensor& probs,
                                          const torch::Tensor& grad_out, double scale,
                                          const KeyRanges& ranges) {
  const Shape s = shape_of(q, k);
  const auto layout = probability_layout(ranges, s.heads, s.queries);
  auto grad_q = torch::empty({s.batch, s.queries, s.heads, s.dim}, q.options());
  // dK and dV accumulate over query blocks.
  auto grad_k = torch::zeros({s.batch, s.keys, s.heads, s.dim}, q.options());
  auto grad_v = torch::zeros({s.batch, s.keys, s.heads, s.dim}, q.options());
  const auto queries = head_matrices(q), keys = head_matrices(k), values = head_matrices(v);
  const auto grads = head_matrices(grad_out);
  const float* probs_data = probs.data_ptr<float>();
  const std::int64_t row_stride = s.heads * s.dim;
  float* grad_q_data = grad_q.data_ptr<float>();
  float* grad_k_data = grad_k.data_ptr<float>();
  float* grad_v_data = grad_v.data_ptr<float>();

  at::parallel_for(0, s.batch * s.heads, 1, [&](std::int64_t begin, std::int64_t end) {
    const auto scratch = static_cast<std::size_t>(kFusedRowBlock * s.keys);
    std::vector<float> grad_probs(scratch), grad_scores(scratch);
    for (std::int64_t index = begin; index < end; ++index) {
      const std::int64_t b = index / s.heads, h = index % s.heads;
      float* d_q = grad_q_data + b * s.queries * row_stride + h * s.dim;
      float* d_k = grad_k_data + b * s.keys * row_stride + h * s.dim;
      float* d_v = grad_v_data + b * s.keys * row_stride + h * s.dim;
      for (std::int64_t block = 0; block < layout.blocks; ++block) {
        const Block blk = block_of(ranges, h, block, s.queries);
        if (blk.keys == 0) {
          for (std::int64_t row = 0; row < blk.rows; ++row) {
            float* target = d_q + (blk.first + row) * row_stride;
            std::fill(target, target + s.dim, 0.0F);
          }
          continue;
        }
        // The block's probabilities, [rows, keys] contiguous.
        const float* p = probs_data + layout.at(b, h, block, ranges.heads);
        const float* d_out = grads.at(b, h) + blk.first * grads.row_stride;
        // dV += P^T dO;  dP = dO V^T;  dS = P * (dP - rowsum(dP * P));  dQ = s dS K;  dK += s dS^T Q
        sgemm(true, false, blk.keys, s.dim, blk.rows, 1.0F, p, blk.keys, d_out, grads.row_stride,
              1.0F, d_v + blk.key_begin * row_stride, row_stride);
        sgemm(false, true, blk.rows, blk.keys, s.dim, 1.0F, d_out, grads.row_stride,
              values.at(b, h) + blk.key_begin * values.row_stride, values.row_stride, 0.0F,
              grad_probs.data(), blk.keys);
        auto grad_scores_view = matrix_view(grad_scores.data(), blk.rows, blk.keys);
        // The probabilities are only read; the view is non-const because from_blob's is.
        at::_softmax_backward_data_out(grad_scores_view,
                                       matrix_view(grad_probs.data(), blk.rows, blk.keys),
                                       matrix_view(const_cast<float*>(p), blk.rows, blk.keys), 1,
                                       torch::kFloat);
        sgemm(false, false, blk.rows, s.dim, blk.keys, static_cast<float>(scale),
              grad_scores.data(), blk.keys, keys.at(b, h) + blk.key_begin * keys.row_stride,
              keys.row_stride, 0.0F, d_q + blk.first * row_stride, row_stride);
        sgemm(true, false, blk.keys, s.dim, blk.rows, static_cast<float>(scale),
              grad_scores.data(), blk.keys, queries.at(b, h) + blk.first * queries.row_stride,
              queries.row_stride, 1.0F, d_k + blk.key_begin * row_stride, row_stride);
      }
    }
  });
  return {grad_q.transpose(1, 2), grad_k.transpose(1, 2), grad_v.transpose(1, 2)};
}

class FusedDotAttention : public torch::autograd::Function<FusedDotAttention> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* context, const torch::Tensor& q,
                               const torch::Tensor& k, const torch::Tensor& v, double scale,
                               const AdditiveMask& mask) {
    const auto q_in = unit_inner_stride(q), k_in = unit_inner_stride(k),
               v_in = unit_inner_stride(v);
    const KeyRanges ranges = ranges_of(mask, q.size(2), k.size(2));
    torch::Tensor probs;
    auto out = forward_heads(q_in, k_in, v_in, scale, mask, ranges, probs);
    context->save_for_backward({q_in, k_in, v_in, probs});
    context->saved_data["scale"] = scale;
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
    auto grads = backward_heads(saved[0], saved[1], saved[2], saved[3], grad_out,
                                context->saved_data["scale"].toDouble(), ranges);
    return {grads[0], grads[1], grads[2], torch::Tensor(), torch::Tensor()};
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
                                  const torch::Tensor& v, double scale, const AdditiveMask& mask) {
  return FusedDotAttention::apply(q, k, v, scale, mask);
}

}  // namespace attnlab::variants
