// Additive score (Bahdanau et al. 2015), per head: s_ij = wᵀ tanh(W_q q_i + W_k k_j) with
// W_q, W_k [hidden x D] and w [hidden]. Unlike a dot product it needs the [B,H,Tq,Tk,hidden] tanh
// tensor, hidden times the memory of the scores; a custom autograd function computes it in query
// chunks of bounded size and recomputes them in backward instead of keeping them.
//
// B = batch, H = heads, Tq = query length, Tk = key length, D = head dim, A = hidden size.
#include <cmath>

#include <torch/csrc/autograd/custom_function.h>

#include "variants/parts.h"

namespace attnlab::variants {
namespace {

// Elements of one chunk of the [B,H,rows,Tk,A] tanh tensor (4 MB in fp32).
constexpr std::int64_t kChunkElements = std::int64_t{1} << 20;

std::int64_t chunk_rows(const torch::Tensor& projected_q, const torch::Tensor& projected_k) {
  const std::int64_t per_row =
      projected_q.size(0) * projected_q.size(1) * projected_k.size(2) * projected_q.size(3);
  return std::max<std::int64_t>(1, kChunkElements / std::max<std::int64_t>(1, per_row));
}

// tanh(a_i + b_j) for query rows [begin, end): [B,H,rows,Tk,A].
torch::Tensor hidden_chunk(const torch::Tensor& projected_q, const torch::Tensor& projected_k,
                           std::int64_t begin, std::int64_t end) {
  return torch::tanh(projected_q.slice(2, begin, end).unsqueeze(3) + projected_k.unsqueeze(2));
}

class AdditiveScoresFunction : public torch::autograd::Function<AdditiveScoresFunction> {
 public:
  // projected_q [B,H,Tq,A], projected_k [B,H,Tk,A], vector [H,A] -> scores [B,H,Tq,Tk]
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx,
                               const torch::Tensor& projected_q, const torch::Tensor& projected_k,
                               const torch::Tensor& vector) {
    const auto batch = projected_q.size(0), heads = projected_q.size(1);
    const auto query_length = projected_q.size(2), key_length = projected_k.size(2);
    const auto hidden = projected_q.size(3);
    auto scores = torch::empty({batch, heads, query_length, key_length}, projected_q.options());
    const auto weights = vector.view({1, heads, 1, hidden, 1});  // [1,H,1,A,1]
    const auto rows = chunk_rows(projected_q, projected_k);
    for (std::int64_t begin = 0; begin < query_length; begin += rows) {
      const auto end = std::min(begin + rows, query_length);
      auto hidden_values = hidden_chunk(projected_q, projected_k, begin, end);  // [B,H,r,Tk,A]
      scores.slice(2, begin, end).copy_(torch::matmul(hidden_values, weights).squeeze(-1));
    }
    ctx->save_for_backward({projected_q, projected_k, vector});
    return scores;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    torch::NoGradGuard no_grad;
    const auto saved = ctx->get_saved_variables();
    const auto &projected_q = saved[0], &projected_k = saved[1], &vector = saved[2];
    const auto grad_scores = grad_outputs[0];  // [B,H,Tq,Tk]
    const auto heads = projected_q.size(1), hidden = projected_q.size(3);
    auto grad_q = torch::empty_like(projected_q);  // [B,H,Tq,A]
    auto grad_k = torch::zeros_like(projected_k);  // [B,H,Tk,A]
    auto grad_vector = torch::zeros_like(vector);  // [H,A]
    const auto weights = vector.view({1, heads, 1, 1, hidden});  // [1,H,1,1,A]
    const auto rows = chunk_rows(projected_q, projected_k);
    for (std::int64_t begin = 0; begin < projected_q.size(2); begin += rows) {
      const auto end = std::min(begin + rows, projected_q.size(2));
      auto hidden_values = hidden_chunk(projected_q, projected_k, begin, end);  // [B,H,r,Tk,A]
      const auto grad_chunk = grad_scores.slice(2, begin, end).unsqueeze(-1);  // [B,H,r,Tk,1]
      grad_vector.add_((hidden_values * grad_chunk).sum({0, 2, 3}));
      // d tanh(x) = 1 - tanh(x)^2, computed in place on the chunk.
      auto grad_hidden = hidden_values.square_().neg_().add_(1.0).mul_(grad_chunk * weights);
      grad_q.slice(2, begin, end).copy_(grad_hidden.sum(3));
      grad_k.add_(grad_hidden.sum(2));
    }
    return {grad_q, grad_k, grad_vector};
  }
};

class AdditiveScore : public Score {
 public:
  AdditiveScore(const AttentionSite& site, std::int64_t hidden) {
    // nn.Linear's default initialisation, per head.
    const double query_bound = 1.0 / std::sqrt(static_cast<double>(site.head_dim));
    const double vector_bound = 1.0 / std::sqrt(static_cast<double>(hidden));
    query_projection_ = register_parameter(
        "query_projection",
        torch::empty({site.heads, site.head_dim, hidden}).uniform_(-query_bound, query_bound));
    key_projection_ = register_parameter(
        "key_projection",
        torch::empty({site.heads, site.head_dim, hidden}).uniform_(-query_bound, query_bound));
    vector_ = register_parameter(
        "vector", torch::empty({site.heads, hidden}).uniform_(-vector_bound, vector_bound));
  }

  torch::Tensor scores(const torch::Tensor& q, const torch::Tensor& k) override {
    auto projected_q = torch::matmul(q, query_projection_.unsqueeze(0));  // [B,H,Tq,A]
    auto projected_k = torch::matmul(k, key_projection_.unsqueeze(0));    // [B,H,Tk,A]
    return AdditiveScoresFunction::apply(projected_q, projected_k, vector_);  // [B,H,Tq,Tk]
  }

  // The whole [B,H,Tq,Tk,A] tanh tensor at once, under plain autograd.
  torch::Tensor reference_scores(const torch::Tensor& q, const torch::Tensor& k) const override {
    const auto query_projection = query_projection_.to(torch::kDouble);  // [H,D,A]
    const auto key_projection = key_projection_.to(torch::kDouble);      // [H,D,A]
    auto projected_q = torch::einsum("bhid,hda->bhia", {q, query_projection});  // [B,H,Tq,A]
    auto projected_k = torch::einsum("bhjd,hda->bhja", {k, key_projection});    // [B,H,Tk,A]
    auto sums = projected_q.unsqueeze(3) + projected_k.unsqueeze(2);           // [B,H,Tq,Tk,A]
    return torch::einsum("bhija,ha->bhij",
                         {torch::tanh(sums), vector_.to(torch::kDouble)});  // [B,H,Tq,Tk]
  }

 private:
  torch::Tensor query_projection_;  // [H,D,A]
  torch::Tensor key_projection_;    // [H,D,A]
  torch::Tensor vector_;            // [H,A]
};

}  // namespace

ATTNLAB_REGISTER(score_registry(),
                 {"additive",
                  "w·tanh(W_q q + W_k k) per head (Bahdanau et al. 2015); computed in chunks",
                  /*options=*/
                  {{"additive_hidden", std::int64_t{32},
                    "hidden size A of the additive score (its W_q, W_k are A x d_head per head)",
                    /*min=*/1.0}},
                  /*traits=*/{"logit_scores"}, /*requires_traits=*/{},
                  [](const VariantOptions& options, const AttentionSite& site) {
                    return std::make_shared<AdditiveScore>(site,
                                                           options.get_int("additive_hidden"));
                  }});

}  // namespace attnlab::variants
