#include "variants/linear_attention.h"

#include <torch/torch.h>

#include <algorithm>

#include "variants/full_precision.h"

namespace attnlab::variants {
namespace {

// v [B,H,T,D] -> [B,H,T,D+1] with a column of ones, whose attended value is the denominator.
torch::Tensor with_denominator_column(const torch::Tensor& v, bool denominator) {
  if (!denominator) return v;
  return torch::cat({v, torch::ones_like(v.narrow(-1, 0, 1))}, -1);
}

// The attended [B,H,Tq,D(+1)] -> out [B,H,Tq,D].
torch::Tensor divide(const torch::Tensor& attended, std::int64_t head_dim, bool denominator) {
  if (!denominator) return attended;
  return attended.narrow(-1, 0, head_dim) /
         attended.narrow(-1, head_dim, 1).clamp_min(kLinearDenominatorFloor);
}

// [B,H,T,X] -> [B,H,N,C,X], zero-padded to N * C positions; padded keys weigh nothing.
torch::Tensor into_chunks(const torch::Tensor& x, std::int64_t chunk) {
  const std::int64_t length = x.size(2);
  const std::int64_t chunks = (length + chunk - 1) / chunk;
  const auto padded = torch::constant_pad_nd(x, {0, 0, 0, chunks * chunk - length});
  return padded.reshape({x.size(0), x.size(1), chunks, chunk, x.size(3)});
}

// The causal scan over chunks: [B,H,T,F], [B,H,T,F], [B,H,T,E] -> [B,H,T,E].
torch::Tensor causal_scan(const torch::Tensor& phi_q, const torch::Tensor& phi_k,
                          const torch::Tensor& values, std::int64_t chunk) {
  const std::int64_t length = phi_q.size(2);
  const auto q = into_chunks(phi_q, chunk), k = into_chunks(phi_k, chunk);  // [B,H,N,C,F]
  const auto v = into_chunks(values, chunk);                                // [B,H,N,C,E]
  const auto per_chunk = torch::matmul(k.transpose(-2, -1), v);             // [B,H,N,F,E]
  // The state each chunk starts from: the sum over the chunks before it (shifted, not subtracted,
  // so that no rounding of later chunks reaches earlier ones).
  const auto summed = per_chunk.cumsum(2);
  const auto before = torch::cat(
      {torch::zeros_like(summed.narrow(2, 0, 1)), summed.narrow(2, 0, summed.size(2) - 1)}, 2);
  const auto causal = torch::ones({chunk, chunk}, torch::TensorOptions(torch::kBool).device(q.device()))
                          .tril();  // [C,C]
  const auto within = torch::matmul(q, k.transpose(-2, -1)).masked_fill(causal.logical_not(), 0.0);
  const auto attended = torch::matmul(q, before) + torch::matmul(within, v);  // [B,H,N,C,E]
  return attended.reshape({values.size(0), values.size(1), -1, values.size(3)})
      .narrow(2, 0, length);
}

// [B,H,Tq,F], [B,H,Tk,F], [B,H,Tk,D] -> [B,H,Tq,D].
torch::Tensor attend(const torch::Tensor& phi_q, const torch::Tensor& phi_k, const torch::Tensor& v,
                     bool causal, std::int64_t chunk, bool denominator) {
  const auto values = with_denominator_column(v, denominator);  // [B,H,Tk,E]
  if (causal) return divide(causal_scan(phi_q, phi_k, values, chunk), v.size(-1), denominator);
  const auto state = torch::matmul(phi_k.transpose(-2, -1), values);  // [B,H,F,E]
  return divide(torch::matmul(phi_q, state), v.size(-1), denominator);
}

}  // namespace

std::int64_t scan_chunk(std::int64_t chunk, std::int64_t length) {
  return std::max<std::int64_t>(1, std::min(chunk, length));
}

torch::Tensor linear_attention(const torch::Tensor& phi_q, const torch::Tensor& phi_k,
                               const torch::Tensor& v, bool causal, std::int64_t chunk,
                               bool denominator) {
  TORCH_CHECK(!causal || phi_q.size(2) == phi_k.size(2),
              "causal linear attention needs as many queries as keys");
  if (phi_q.size(2) == 0 || phi_k.size(2) == 0) return torch::zeros_like(v.narrow(2, 0, phi_q.size(2)));
  // States in float32 whatever the inputs (bf16 under autocast); the output in the inputs' dtype.
  FullPrecisionScope full_precision(v.device().type());
  const auto query_features = at_least_float32(phi_q), key_features = at_least_float32(phi_k);
  const auto values = at_least_float32(v);
  return attend(query_features, key_features, values, causal, scan_chunk(chunk, phi_q.size(2)),
                denominator)
      .to(v.scalar_type());  // [B,H,Tq,D]
}

}  // namespace attnlab::variants
