// Row-major single-precision matrix products for the CPU fast paths (fused attention, the model's
// dense layers): through oneDNN's sgemm where the build has it (ATTNLAB_ONEDNN), else through
// LibTorch's own product over views of the same memory.
//
// Why oneDNN and not the BLAS LibTorch calls: OpenBLAS zeroes the output in a separate pass
// before every product with beta = 0 and was slower at this project's skinny shapes; measured
// on the dense layers' shapes (4096 rows, 128-768 columns), oneDNN's JIT kernels ran 10-25%
// faster. Called from inside a parallel region, either runs single-threaded (OpenMP does not
// nest, nor do LibTorch's intra-op threads), which is what the head-by-head attention wants.
#pragma once

#include <cstdint>

namespace attnlab {

// C[m,n] = alpha op(A) op(B) + beta C, where op transposes when the flag is set; lda, ldb, ldc
// are row strides. With beta = 0, C's previous contents are ignored (NaN included).
void sgemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k,
           float alpha, const float* a, std::int64_t lda, const float* b, std::int64_t ldb,
           float beta, float* c, std::int64_t ldc);

// The same product through LibTorch's own addmm over views of the same memory: what sgemm() runs
// in a build without oneDNN (tests hold the two to each other).
void torch_sgemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n,
                 std::int64_t k, float alpha, const float* a, std::int64_t lda, const float* b,
                 std::int64_t ldb, float beta, float* c, std::int64_t ldc);

}  // namespace attnlab
