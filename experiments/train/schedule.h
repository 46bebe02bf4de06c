// Learning-rate schedule: linear warm-up to the peak, then cosine decay to min_lr_ratio * peak.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace attnlab::train {

struct Schedule {
  double peak_lr = 1e-3;
  double min_lr_ratio = 0.1;
  std::int64_t warmup_steps = 0;
  std::int64_t total_steps = 1;

  // lr for the optimiser step with 0-based index `step`.
  double at(std::int64_t step) const {
    if (step < warmup_steps) {
      return peak_lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps + 1);
    }
    const double decay_steps = static_cast<double>(std::max<std::int64_t>(1, total_steps - warmup_steps));
    const double progress = std::min(1.0, static_cast<double>(step - warmup_steps) / decay_steps);
    const double cosine = 0.5 * (1.0 + std::cos(M_PI * progress));
    const double min_lr = peak_lr * min_lr_ratio;
    return min_lr + (peak_lr - min_lr) * cosine;
  }
};

}  // namespace attnlab::train
