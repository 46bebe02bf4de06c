// Float32 inside bf16 autocast, for sums that bf16 would round away: linear attention's states add
// thousands of keys' products, and FAVOR+'s exponents lose up to 13% of exp's value at 8 bits of
// mantissa.
#pragma once

#include <torch/types.h>

#include "base/torch_compat.h"

namespace attnlab::variants {

// Pauses autocast on a device for its lifetime.
class FullPrecisionScope {
 public:
  explicit FullPrecisionScope(at::DeviceType device)
      : device_(device), was_enabled_(compat::autocast_enabled(device)) {
    if (was_enabled_) compat::set_autocast_enabled(device_, false);
  }
  ~FullPrecisionScope() {
    if (was_enabled_) compat::set_autocast_enabled(device_, true);
  }
  FullPrecisionScope(const FullPrecisionScope&) = delete;
  FullPrecisionScope& operator=(const FullPrecisionScope&) = delete;

 private:
  at::DeviceType device_;
  bool was_enabled_;
};

// x in float32 when it is a reduced-precision float (bf16, fp16), else x itself (float32, double).
inline torch::Tensor at_least_float32(const torch::Tensor& x) {
  const auto type = x.scalar_type();
  return type == torch::kBFloat16 || type == torch::kHalf ? x.to(torch::kFloat) : x;
}

}  // namespace attnlab::variants
