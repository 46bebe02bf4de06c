// The fast paths' matrix product without oneDNN (what a LibTorch 2.x build runs) against oneDNN's
// sgemm in a build that has it: every transpose, row strides wider than the rows, beta 0 ignoring
// what C held (NaN included), and the padding between rows left alone. In a build without oneDNN
// sgemm() is torch_sgemm(), and only the NaN and padding checks can still fail.
#include <catch2/catch.hpp>

#include <cmath>

#include <ATen/ATen.h>

#include "base/sgemm.h"

using namespace attnlab;

TEST_CASE("LibTorch's product computes what sgemm computes", "[sgemm]") {
  const std::int64_t m = 37, n = 29, k = 53, pad = 7;
  for (const bool transpose_a : {false, true}) {
    for (const bool transpose_b : {false, true}) {
      for (const float beta : {0.0F, 1.0F, 0.5F}) {
        DYNAMIC_SECTION("transpose a " << transpose_a << ", b " << transpose_b << ", beta " << beta) {
          const std::int64_t lda = (transpose_a ? m : k) + pad, ldb = (transpose_b ? k : n) + pad;
          const std::int64_t ldc = n + pad;
          const auto a = at::randn({transpose_a ? k : m, lda});
          const auto b = at::randn({transpose_b ? n : k, ldb});
          auto expected = at::randn({m, ldc});
          if (beta == 0.0F) expected.slice(1, 0, n).fill_(NAN);
          auto actual = expected.clone();
          sgemm(transpose_a, transpose_b, m, n, k, 0.7F, a.data_ptr<float>(), lda,
                b.data_ptr<float>(), ldb, beta, expected.data_ptr<float>(), ldc);
          torch_sgemm(transpose_a, transpose_b, m, n, k, 0.7F, a.data_ptr<float>(), lda,
                      b.data_ptr<float>(), ldb, beta, actual.data_ptr<float>(), ldc);
          CHECK(at::allclose(actual.slice(1, 0, n), expected.slice(1, 0, n), 1e-5, 1e-5));
          CHECK(actual.slice(1, n).equal(expected.slice(1, n)));
        }
      }
    }
  }
}
