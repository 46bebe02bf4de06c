#include "variants/linear_attention.h"

#include <torch/torch.h>

#include <algorithm>
#include <vector>

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

// One slice of heads: [B,h,Tq,F], [B,h,Tk,F], [B,h,Tk,D] -> [B,h,Tq,D].
torch::Tensor attend(const torch::Tensor& phi_q, const torch::Tensor& phi_k, const torch::Tensor& v,
                     bool causal, std::int64_t chunk, bool denominator) {
  const auto values = with_denominator_column(v, denominator);  // [B,h,Tk,E]
  if (causal) return divide(causal_scan(phi_q, phi_k, values, chunk), v.size(-1), denominator);
  const auto state = torch::matmul(phi_k.transpose(-2, -1), values);  // [B,h,F,E]
  return divide(torch::matmul(phi_q, state), v.size(-1), denominator);
}

// Heads per slice, so that a slice's largest tensor (features, chunk products or states) stays
// within 16 MiB of floats: glibc serves larger blocks by mmap (experiments/run/allocator_tuning),
// whose pages are faulted in anew at every call; at T = 16384 that tripled the scan's time.
std::int64_t heads_per_slice(const torch::Tensor& phi_q, const torch::Tensor& v,
                             std::int64_t chunk) {
  constexpr double kSliceFloats = 4.0 * 1024 * 1024;
  const double length = static_cast<double>(phi_q.size(2));
  const double features = static_cast<double>(phi_q.size(3));
  const double values = static_cast<double>(v.size(3) + 1);
  const double per_head = static_cast<double>(phi_q.size(0)) *
                          std::max({length * features, length * static_cast<double>(chunk),
                                    length / static_cast<double>(chunk) * features * values});
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(kSliceFloats / per_head));
}

}  // namespace

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
  chunk = std::max<std::int64_t>(1, std::min(chunk, phi_q.size(2)));
  const std::int64_t heads = phi_q.size(1), slice = heads_per_slice(query_features, values, chunk);
  std::vector<torch::Tensor> outs;
  for (std::int64_t first = 0; first < heads; first += slice) {
    const auto count = std::min(slice, heads - first);
    outs.push_back(attend(query_features.narrow(1, first, count),
                          key_features.narrow(1, first, count), values.narrow(1, first, count),
                          causal, chunk, denominator));
  }
  return torch::cat(outs, 1).to(v.scalar_type());  // [B,H,Tq,D]
}

}  // namespace attnlab::variants
