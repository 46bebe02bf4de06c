// Row-major single-precision matrix products through oneDNN's sgemm, for the CPU fast paths
// (fused attention, the model's dense layers).
//
// Why oneDNN and not the BLAS LibTorch calls: OpenBLAS zeroes the output in a separate pass
// before every product with beta = 0 and was slower at this project's skinny shapes; measured
// on the dense layers' shapes (4096 rows, 128-768 columns), oneDNN's JIT kernels ran 10-25%
// faster. Called from inside a parallel region, oneDNN runs single-threaded (OpenMP does not
// nest), which is what the head-by-head attention wants.
#pragma once

#include <oneapi/dnnl/dnnl.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace attnlab::variants {

// C[m,n] = alpha op(A) op(B) + beta C, where op transposes when the flag is set; lda, ldb, ldc
// are row strides.
inline void sgemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n,
                  std::int64_t k, float alpha, const float* a, std::int64_t lda, const float* b,
                  std::int64_t ldb, float beta, float* c, std::int64_t ldc) {
  const auto status = dnnl_sgemm(transpose_a ? 'T' : 'N', transpose_b ? 'T' : 'N', m, n, k, alpha,
                                 a, lda, b, ldb, beta, c, ldc);
  if (status != dnnl_success) {
    throw std::runtime_error("oneDNN sgemm failed with status " + std::to_string(status));
  }
}

}  // namespace attnlab::variants
