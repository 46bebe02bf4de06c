// B = batch, H = heads, Tq = query length, Tk = key length, D = head dim,
// Nq = queries in a block, L = keys in a segment; a tile is [B,H,Nq,L].
#include "variants/chunked_attention.h"

#include <limits>

#include <torch/csrc/autograd/custom_function.h>

#include "variants/softcap.h"

namespace attnlab::variants {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// What forward and backward share besides tensors; kept in the autograd context as a capsule.
struct TileContext : torch::CustomClassHolder {
  std::shared_ptr<Score> score;
  std::shared_ptr<Position> position;
  std::shared_ptr<const BlockLayout> layout;
  std::int64_t keep_largest = 0;
  double softcap = kInfinity;  // inf: none
  // The score's parameters when it is not a dot product (a dot score's tiles are plain matmuls).
  std::vector<torch::Tensor> parameters;
};

// Rows of x [B,H,Tq,...] for a query block: a view when the block is contiguous.
torch::Tensor block_rows(const torch::Tensor& x, const QueryBlock& block) {
  if (block.index.defined()) return x.index_select(2, block.index);
  return x.narrow(2, block.begin, block.end - block.begin);
}

// Writes rows of a block back into x [B,H,Tq,...].
void store_rows(torch::Tensor& x, const QueryBlock& block, const torch::Tensor& rows) {
  if (block.index.defined()) {
    x.index_copy_(2, block.index, rows);
  } else {
    auto target = x.narrow(2, block.begin, block.end - block.begin);
    if (!target.is_same(rows)) target.copy_(rows);
  }
}

// For each block, whether it is the first to see its queries; its running softmax state then
// starts from its first tile instead of being read back and rescaled.
std::vector<bool> first_visits(const BlockLayout& layout, std::int64_t query_length) {
  std::vector<char> seen(static_cast<std::size_t>(query_length), 0);
  std::vector<bool> first;
  for (const auto& block : layout.blocks) {
    std::vector<std::int64_t> rows;
    if (block.index.defined()) {
      const auto index = block.index.to(torch::kCPU).contiguous();  // [Nq]
      rows.assign(index.data_ptr<std::int64_t>(), index.data_ptr<std::int64_t>() + index.numel());
    } else {
      for (std::int64_t row = block.begin; row < block.end; ++row) rows.push_back(row);
    }
    bool fresh = true;
    for (const auto row : rows) {
      fresh = fresh && seen[static_cast<std::size_t>(row)] == 0;
      seen[static_cast<std::size_t>(row)] = 1;
    }
    first.push_back(fresh);
  }
  return first;
}

void add_rows(torch::Tensor& x, const QueryBlock& block, const torch::Tensor& rows) {
  if (block.index.defined()) {
    x.index_add_(2, block.index, rows);
  } else {
    x.narrow(2, block.begin, block.end - block.begin).add_(rows);
  }
}

// Keys of x [B,H,Tk,D] for a segment: [B,H,L,D].
torch::Tensor segment_rows(const torch::Tensor& x, const KeySegment& segment) {
  if (!segment.index.defined()) return x.narrow(2, segment.begin, segment.end - segment.begin);
  if (segment.index.size(0) == 1) return x.index_select(2, segment.index[0]);
  const auto index = segment.index.view({1, x.size(1), segment.length(), 1})
                         .expand({x.size(0), x.size(1), segment.length(), x.size(3)});
  return x.gather(2, index);
}

void add_segment_rows(torch::Tensor& x, const KeySegment& segment, const torch::Tensor& rows) {
  if (!segment.index.defined()) {
    x.narrow(2, segment.begin, segment.end - segment.begin).add_(rows);
  } else if (segment.index.size(0) == 1) {
    x.index_add_(2, segment.index[0], rows);
  } else {
    const auto index = segment.index.view({1, x.size(1), segment.length(), 1})
                           .expand({x.size(0), x.size(1), segment.length(), x.size(3)});
    x.scatter_add_(2, index, rows);
  }
}

// out [B,H,M,N] += a [B,H,M,K] @ b [B,H,K,N], in place: one batched GEMM that accumulates into
// out (often a slice of the gradient) instead of a product tensor and an addition.
void add_matmul(torch::Tensor& out, const torch::Tensor& a, const torch::Tensor& b) {
  if (out.stride(0) != out.size(1) * out.stride(1)) {
    out.add_(torch::matmul(a, b));
    return;
  }
  auto batched = out.view({-1, out.size(2), out.size(3)});  // [B*H,M,N]
  batched.baddbmm_(a.reshape({-1, a.size(2), a.size(3)}), b.reshape({-1, b.size(2), b.size(3)}));
}

// Computes tiles of scores with the position bias, the pattern's mask and the top-k threshold
// applied (-inf where a pair may not attend).
class TileScorer {
 public:
  TileScorer(const TileContext& context, const torch::Tensor& q, std::int64_t key_length)
      : context_(context),
        dot_(context.score->is_scaled_dot()),
        query_length_(q.size(2)),
        key_length_(key_length),
        // A dot score is scale * q·k: scaling q once (Tq x D) beats scaling every tile.
        q_(dot_ ? q * context.score->dot_scale() : q) {}  // [B,H,Tq,D]

  bool dot() const { return dot_; }
  const torch::Tensor& q() const { return q_; }

  // q_rows [B,H,Nq,D] (from q()), k_rows [B,H,L,D]; threshold_rows [B,H,Nq] or undefined. With
  // a soft-cap and cap_slope given, *cap_slope [B,H,Nq,L] is the cap's derivative at each raw
  // score, for the backward pass's chain rule.
  torch::Tensor scores(const QueryBlock& block, const KeySegment& segment,
                       const torch::Tensor& q_rows, const torch::Tensor& k_rows,
                       const torch::Tensor& threshold_rows,
                       torch::Tensor* cap_slope = nullptr) const {
    torch::Tensor tile = dot_ ? torch::matmul(q_rows, k_rows.transpose(-2, -1))  // [B,H,Nq,L]
                              : context_.score->scores(q_rows, k_rows);
    if (caps_scores(context_.softcap)) tile = cap_in_place(tile, cap_slope);
    if (context_.position->adds_bias()) {
      const auto query_positions = block.positions(query_length_, key_length_).to(tile.device());
      const auto key_positions =
          segment_keys(segment).view({-1, segment.length()}).to(tile.device());  // [1|H,L]
      tile.add_(context_.position->bias_at(query_positions, key_positions,
                                           tile.options()));  // [1|H,Nq,L]
    }
    if (segment.allowed.defined()) tile.masked_fill_(segment.allowed.logical_not(), -kInfinity);
    if (threshold_rows.defined()) tile.masked_fill_(tile < threshold_rows.unsqueeze(-1), -kInfinity);
    return tile;
  }

 private:
  // tile -> c·tanh(tile / c), in place; d/dx c·tanh(x / c) = 1 - tanh^2(x / c) into *slope.
  torch::Tensor cap_in_place(torch::Tensor& tile, torch::Tensor* slope) const {
    const double cap = context_.softcap;
    auto squashed = tile.div_(cap).tanh_();  // [B,H,Nq,L]
    if (slope != nullptr) *slope = 1.0 - squashed.square();
    return squashed.mul_(cap);
  }

  const TileContext& context_;
  bool dot_;
  std::int64_t query_length_, key_length_;
  torch::Tensor q_;
};

// Each query's k-th largest allowed score [B,H,Tq] (-inf when it has fewer than k allowed keys),
// streamed over the tiles so only [B,H,Tq,k] is kept.
torch::Tensor kth_largest_scores(const TileContext& context, const TileScorer& scorer,
                                 const torch::Tensor& k) {
  const auto& q = scorer.q();
  const std::int64_t keep = context.keep_largest;
  auto largest = torch::full({q.size(0), q.size(1), q.size(2), keep}, -kInfinity,
                             q.options());  // [B,H,Tq,k]
  for (const auto& block : context.layout->blocks) {
    const auto q_rows = block_rows(q, block);  // [B,H,Nq,D]
    auto rows = block_rows(largest, block);     // [B,H,Nq,k]
    torch::Tensor running = rows;
    for (const auto& segment : block.keys) {
      auto tile = scorer.scores(block, segment, q_rows, segment_rows(k, segment), {});
      running = std::get<0>(torch::cat({running, tile}, /*dim=*/-1).topk(keep, /*dim=*/-1));
    }
    if (block.index.defined()) {
      store_rows(largest, block, running);
    } else {
      rows.copy_(running);
    }
  }
  return largest.select(-1, keep - 1).contiguous();
}

// Each row's online-softmax state before its first tile, [B,H,Tq] each: with a sink, its logit
// sigma_h as the max and exp(sigma_h - sigma_h) = 1 as the sum, so the sink joins every row's
// denominator; without, nothing yet (max -inf, sum 0).
std::pair<torch::Tensor, torch::Tensor> initial_state(const torch::Tensor& q,
                                                      const torch::Tensor& sink_logits) {
  const auto batch = q.size(0), heads = q.size(1), query_length = q.size(2);
  if (!sink_logits.defined()) {
    return {torch::full({batch, heads, query_length}, -kInfinity, q.options()),
            torch::zeros({batch, heads, query_length}, q.options())};
  }
  return {sink_logits.view({1, heads, 1}).expand({batch, heads, query_length}).clone(),
          torch::ones({batch, heads, query_length}, q.options())};
}

// d L / d sigma_h = -sum over rows of p_sink * sum_j p_j dP_j, since d p_j / d sigma = -p_j p_sink;
// sum_j p_j dP_j = dout · out is the softmax backward's delta, and p_sink = exp(sigma - lse).
torch::Tensor sink_gradient(const torch::Tensor& sink_logits, const torch::Tensor& log_sum_exp,
                            const torch::Tensor& delta) {
  const auto sink_probs = (sink_logits.view({1, -1, 1}) - log_sum_exp).exp_();  // [B,H,Tq]
  return -(sink_probs * delta).sum(torch::IntArrayRef{0, 2});                      // [H]
}

class ChunkedAttentionFunction : public torch::autograd::Function<ChunkedAttentionFunction> {
 public:
  // sinks (the sink logits [H], or nothing) and the score's parameters: inputs so that autograd
  // routes their gradients here (an undefined tensor cannot be a custom function's input).
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                const torch::Tensor& q, const torch::Tensor& k,
                                                const torch::Tensor& v, at::TensorList sinks,
                                                at::TensorList score_parameters,
                                                const c10::intrusive_ptr<TileContext>& context) {
    (void)score_parameters;
    const auto sink_logits = sinks.empty() ? torch::Tensor() : sinks.front();  // [H]
    const TileScorer scorer(*context, q, k.size(2));
    const auto threshold = context->keep_largest > 0 ? kth_largest_scores(*context, scorer, k)
                                                     : torch::Tensor();  // [B,H,Tq]
    const auto query_length = q.size(2);
    auto [running_max, running_sum] = initial_state(q, sink_logits);  // [B,H,Tq] each
    auto accumulated = torch::zeros({q.size(0), q.size(1), query_length, v.size(3)}, q.options());
    // The running max is kept at or above the lowest finite value: a row with nothing allowed yet
    // then shifts its -inf scores by a finite amount and exp() stays 0 instead of NaN.
    const double lowest = std::numeric_limits<float>::lowest();
    // A sink's state is there before any tile, so no block starts afresh.
    const auto fresh = sink_logits.defined()
                           ? std::vector<bool>(context->layout->blocks.size(), false)
                           : first_visits(*context->layout, query_length);
    for (std::size_t b = 0; b < context->layout->blocks.size(); ++b) {
      const auto& block = context->layout->blocks[b];
      const auto q_rows = block_rows(scorer.q(), block);  // [B,H,Nq,D]
      const auto threshold_rows = threshold.defined() ? block_rows(threshold, block)
                                                      : torch::Tensor();  // [B,H,Nq]
      torch::Tensor max_rows, sum_rows, out_rows;  // [B,H,Nq], [B,H,Nq], [B,H,Nq,D]
      if (!fresh[b]) {
        max_rows = block_rows(running_max, block).clamp_min(lowest);
        sum_rows = block_rows(running_sum, block);
        out_rows = block_rows(accumulated, block);
      }
      for (const auto& segment : block.keys) {
        auto tile = scorer.scores(block, segment, q_rows, segment_rows(k, segment),
                                  threshold_rows);  // [B,H,Nq,L]
        const auto v_rows = segment_rows(v, segment);  // [B,H,L,D]
        if (!max_rows.defined()) {  // the block's first tile starts the state
          max_rows = tile.amax(/*dim=*/-1).clamp_min_(lowest);
          auto probs = tile.sub_(max_rows.unsqueeze(-1)).exp_();  // [B,H,Nq,L]
          sum_rows = probs.sum(-1);
          out_rows = torch::matmul(probs, v_rows);
          continue;
        }
        const auto new_max = torch::maximum(max_rows, tile.amax(/*dim=*/-1));  // [B,H,Nq]
        auto probs = tile.sub_(new_max.unsqueeze(-1)).exp_();                 // [B,H,Nq,L]
        const auto correction = (max_rows - new_max).exp_();                  // [B,H,Nq]
        sum_rows.mul_(correction).add_(probs.sum(-1));
        out_rows.mul_(correction.unsqueeze(-1));
        add_matmul(out_rows, probs, v_rows);
        max_rows = new_max;
      }
      if (!max_rows.defined()) continue;
      store_rows(running_max, block, max_rows);
      store_rows(running_sum, block, sum_rows);
      store_rows(accumulated, block, out_rows);
    }
    const auto empty = running_sum.eq(0);  // queries that may attend to nothing
    auto out = accumulated / running_sum.masked_fill(empty, 1.0).unsqueeze(-1);  // [B,H,Tq,D]
    // log-sum-exp per query; +inf for empty rows so that backward's exp(s - lse) is 0 there.
    auto log_sum_exp = (running_max + running_sum.log()).masked_fill(empty, kInfinity);
    ctx->saved_data["context"] = c10::IValue::make_capsule(context);
    ctx->save_for_backward({q, k, v, out, log_sum_exp,
                            threshold.defined() ? threshold : torch::Tensor(), sink_logits});
    return {out};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    torch::NoGradGuard no_grad;
    const auto context = c10::static_intrusive_pointer_cast<TileContext>(
        ctx->saved_data["context"].toCapsule());
    const auto saved = ctx->get_saved_variables();
    const auto &q = saved[0], &k = saved[1], &v = saved[2], &out = saved[3];
    const auto &log_sum_exp = saved[4], &threshold = saved[5], &sink_logits = saved[6];
    const auto grad_out = grad_outputs[0].contiguous();  // [B,H,Tq,D]
    const TileScorer scorer(*context, q, k.size(2));
    // softmax backward: ds = p * (dp - rowsum(dout * out)).
    const auto delta = (grad_out * out).sum(-1);  // [B,H,Tq]
    auto grad_q = torch::zeros_like(q), grad_k = torch::zeros_like(k), grad_v = torch::zeros_like(v);
    const auto& parameters = context->parameters;
    std::vector<torch::Tensor> grad_parameters;
    for (const auto& parameter : parameters) grad_parameters.push_back(torch::zeros_like(parameter));
    for (const auto& block : context->layout->blocks) {
      const auto q_rows = block_rows(scorer.q(), block);              // [B,H,Nq,D]
      const auto grad_out_rows = block_rows(grad_out, block);         // [B,H,Nq,D]
      const auto lse_rows = block_rows(log_sum_exp, block).unsqueeze(-1);  // [B,H,Nq,1]
      const auto delta_rows = block_rows(delta, block).unsqueeze(-1);      // [B,H,Nq,1]
      const auto threshold_rows =
          threshold.defined() ? block_rows(threshold, block) : torch::Tensor();  // [B,H,Nq]
      auto grad_q_rows = torch::zeros_like(q_rows);  // [B,H,Nq,D]
      for (const auto& segment : block.keys) {
        const auto k_rows = segment_rows(k, segment);  // [B,H,L,D]
        const auto v_rows = segment_rows(v, segment);  // [B,H,L,D]
        torch::Tensor cap_slope;  // [B,H,Nq,L], defined with a soft-cap
        auto probs = scorer.scores(block, segment, q_rows, k_rows, threshold_rows, &cap_slope)
                         .sub_(lse_rows)
                         .exp_();  // [B,H,Nq,L]
        if (segment.index.defined()) {
          add_segment_rows(grad_v, segment, torch::matmul(probs.transpose(-2, -1), grad_out_rows));
        } else {
          auto grad_v_rows = grad_v.narrow(2, segment.begin, segment.length());  // [B,H,L,D]
          add_matmul(grad_v_rows, probs.transpose(-2, -1), grad_out_rows);
        }
        auto grad_scores = torch::matmul(grad_out_rows, v_rows.transpose(-2, -1))
                               .sub_(delta_rows)
                               .mul_(probs);  // [B,H,Nq,L]
        if (cap_slope.defined()) grad_scores.mul_(cap_slope);  // through the cap to the raw scores
        if (scorer.dot()) {
          add_matmul(grad_q_rows, grad_scores, k_rows);
          if (segment.index.defined()) {
            add_segment_rows(grad_k, segment, torch::matmul(grad_scores.transpose(-2, -1), q_rows));
          } else {
            auto grad_k_rows = grad_k.narrow(2, segment.begin, segment.length());  // [B,H,L,D]
            add_matmul(grad_k_rows, grad_scores.transpose(-2, -1), q_rows);
          }
        } else {
          auto grads = context->score->tile_gradients(q_rows, k_rows, grad_scores);
          grad_q_rows.add_(grads.q);
          add_segment_rows(grad_k, segment, grads.k);
          for (std::size_t i = 0; i < grads.parameters.size(); ++i) {
            if (grads.parameters[i].defined()) grad_parameters[i].add_(grads.parameters[i]);
          }
        }
      }
      add_rows(grad_q, block, grad_q_rows);
    }
    // Scores were computed from q * scale (dot scores), so dq carries the scale once more.
    if (scorer.dot()) grad_q.mul_(context->score->dot_scale());
    torch::autograd::variable_list grads = {grad_q, grad_k, grad_v};
    if (sink_logits.defined()) grads.push_back(sink_gradient(sink_logits, log_sum_exp, delta));
    for (std::size_t i = 0; i < parameters.size(); ++i) {
      grads.push_back(parameters[i].requires_grad() ? grad_parameters[i] : torch::Tensor());
    }
    grads.emplace_back();  // the context
    return grads;
  }
};

}  // namespace

torch::Tensor chunked_attention(const torch::Tensor& q, const torch::Tensor& k,
                                const torch::Tensor& v, const std::shared_ptr<Score>& score,
                                const std::shared_ptr<Position>& position,
                                const std::shared_ptr<const BlockLayout>& layout,
                                std::int64_t keep_largest, double softcap,
                                const torch::Tensor& sink_logits) {
  auto context = c10::make_intrusive<TileContext>();
  context->softcap = softcap;
  context->score = score;
  context->position = position;
  context->layout = layout;
  context->keep_largest = keep_largest;
  // Scores other than a dot product pass their parameters so that their gradients flow.
  if (!score->is_scaled_dot()) context->parameters = score->parameters();
  std::vector<torch::Tensor> sinks;  // [H], or none
  if (sink_logits.defined()) sinks.push_back(sink_logits.to(q.scalar_type()));
  return ChunkedAttentionFunction::apply(q.contiguous(), k.contiguous(), v.contiguous(),
                                         at::TensorList(sinks),
                                         at::TensorList(context->parameters), context)[0];
}

}  // namespace attnlab::variants
