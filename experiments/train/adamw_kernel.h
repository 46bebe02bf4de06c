// The element loop of FusedAdamW (optimizer.h): one pass over a parameter, its gradient and its
// two moments. Its own file, free of LibTorch headers, so that it alone is compiled with
// -fno-math-errno (see CMakeLists.txt): with errno, sqrt keeps the loop from vectorising.
#pragma once

#include <cstdint>

namespace attnlab::train {

// decay = 1 - lr wd, step_size = -lr / bc1, root_correction2 = sqrt(bc2).
struct AdamWConstants {
  float decay, beta1, one_minus_beta1, beta2, one_minus_beta2, root_correction2, eps, step_size;
};

// In LibTorch's order of float operations, for i < count:
// p *= decay;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
// p += step_size m / (sqrt(v) / root_correction2 + eps).
void adamw_update(float* parameter, const float* gradient, float* exp_avg, float* exp_avg_sq,
                  std::int64_t count, const AdamWConstants& constants);

}  // namespace attnlab::train
