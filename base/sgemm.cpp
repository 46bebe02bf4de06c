#include "base/sgemm.h"

#include <ATen/ATen.h>
#ifdef ATTNLAB_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#endif

#include <stdexcept>
#include <string>

namespace attnlab {

void torch_sgemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n,
                 std::int64_t k, float alpha, const float* a, std::int64_t lda, const float* b,
                 std::int64_t ldb, float beta, float* c, std::int64_t ldc) {
  const auto options = at::TensorOptions().dtype(at::kFloat);
  // A row-major [rows, cols] matrix with row stride `stride`, read in place.
  auto matrix = [&](const float* data, std::int64_t rows, std::int64_t cols, std::int64_t stride) {
    return at::from_blob(const_cast<float*>(data), {rows, cols}, {stride, 1}, options);
  };
  const auto op_a = transpose_a ? matrix(a, k, m, lda).t() : matrix(a, m, k, lda);  // [m,k]
  const auto op_b = transpose_b ? matrix(b, n, k, ldb).t() : matrix(b, k, n, ldb);  // [k,n]
  auto out = matrix(c, m, n, ldc);                                                  // [m,n]
  out.addmm_(op_a, op_b, /*beta=*/beta, /*alpha=*/alpha);
}

void sgemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k,
           float alpha, const float* a, std::int64_t lda, const float* b, std::int64_t ldb,
           float beta, float* c, std::int64_t ldc) {
#ifdef ATTNLAB_ONEDNN
  const auto status = dnnl_sgemm(transpose_a ? 'T' : 'N', transpose_b ? 'T' : 'N', m, n, k, alpha,
                                 a, lda, b, ldb, beta, c, ldc);
  if (status != dnnl_success) {
    throw std::runtime_error("oneDNN sgemm failed with status " + std::to_string(status));
  }
#else
  torch_sgemm(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

}  // namespace attnlab
