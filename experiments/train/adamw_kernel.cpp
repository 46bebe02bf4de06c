#include "experiments/train/adamw_kernel.h"

#include <cmath>

namespace attnlab::train {

void adamw_update(float* parameter, const float* gradient, float* exp_avg, float* exp_avg_sq,
                  std::int64_t count, const AdamWConstants& k) {
  // Four distinct arrays: restrict lets the compiler vectorise without overlap checks.
  float* __restrict p = parameter;
  const float* __restrict g = gradient;
  float* __restrict m = exp_avg;
  float* __restrict v = exp_avg_sq;
  for (std::int64_t i = 0; i < count; ++i) {
    p[i] *= k.decay;
    m[i] = m[i] * k.beta1 + k.one_minus_beta1 * g[i];
    v[i] = v[i] * k.beta2 + k.one_minus_beta2 * g[i] * g[i];
    p[i] += k.step_size * m[i] / (std::sqrt(v[i]) / k.root_correction2 + k.eps);
  }
}

}  // namespace attnlab::train
