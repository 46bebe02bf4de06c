// Linear (kernel) attention without its map: for features φ(q), φ(k) of a kernel score,
//
//   out_i = φ(q_i)ᵀ S_i / φ(q_i)ᵀ z_i,   S_i = Σ_{j allowed} φ(k_j) v_jᵀ,   z_i = Σ φ(k_j)
//
// (or out_i = φ(q_i)ᵀ S_i without the denominator), equal to A·v for the materialised map of the
// normaliser `linear`. Bidirectional: the two sums over all keys, once. Causal: a chunked scan
// (as in Yang et al. 2024's chunkwise form): within a chunk of `chunk` queries the masked products
// φ(Q_c) φ(K_c)ᵀ V_c, across chunks the state S carried from the chunks before. Time and memory
// grow as T (T/chunk states of F x D, chunk x chunk products per chunk); autograd differentiates
// it. The denominator rides along as a column of ones appended to v.
//
// B = batch, H = heads, Tq = query length, Tk = key length, F = features, D = head dim.
#pragma once

#include <cstdint>

#include <torch/types.h>

namespace attnlab::variants {

// The least denominator of linear attention: a row whose products are all 0 (relu features can
// vanish) attends to nothing instead of dividing 0 by 0, and no other row is changed, unlike an
// ε added to every denominator.
constexpr double kLinearDenominatorFloor = 1e-30;
// Added to the mean square of the output norm that replaces the denominator when it is off.
constexpr double kLinearNormEpsilon = 1e-6;

// The queries per chunk of the causal scan for a requested `chunk`: at least 1, at most T.
std::int64_t scan_chunk(std::int64_t chunk, std::int64_t length);

// phi_q [B,H,Tq,F], phi_k [B,H,Tk,F], v [B,H,Tk,D] -> out [B,H,Tq,D]. Causal needs Tq = Tk.
torch::Tensor linear_attention(const torch::Tensor& phi_q, const torch::Tensor& phi_k,
                               const torch::Tensor& v, bool causal, std::int64_t chunk,
                               bool denominator);

}  // namespace attnlab::variants
