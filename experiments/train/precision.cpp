#include "experiments/train/precision.h"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include <ATen/autocast_mode.h>

#include "base/torch_compat.h"

namespace attnlab::train {

bool cpu_has_bf16_matrix_units() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream flags(line.substr(line.find(':') + 1));
    for (std::string flag; flags >> flag;) {
      if (flag == "avx512_bf16" || flag == "amx_bf16") return true;
    }
    return false;  // every core lists the same flags
  }
  return false;
}

PrecisionChoice resolve_precision(const std::string& requested, const torch::Device& device) {
  if (requested == "fp32") return {Precision::Float32, ""};
  if (requested == "bf16_emulated") return {Precision::BFloat16, ""};
  if (requested != "bf16") {
    throw std::invalid_argument("train.precision = \"" + requested +
                                "\": expected \"fp32\", \"bf16\" or \"bf16_emulated\"");
  }
  if (device.is_cuda() || cpu_has_bf16_matrix_units()) return {Precision::BFloat16, ""};
  return {Precision::Float32,
          "train.precision = \"bf16\": this CPU has no bf16 matrix instructions (avx512_bf16 or "
          "amx_bf16 in /proc/cpuinfo), where bf16 is emulated and slower than fp32; training in "
          "fp32 (train.precision=bf16_emulated runs bf16 anyway)"};
}

AutocastScope::AutocastScope(Precision precision, const torch::Device& device)
    : active_(precision == Precision::BFloat16), device_(device.type()) {
  if (!active_) return;
  was_enabled_ = compat::autocast_enabled(device_);
  previous_dtype_ = compat::autocast_dtype(device_);
  compat::set_autocast_dtype(device_, at::kBFloat16);
  compat::set_autocast_enabled(device_, true);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  compat::set_autocast_enabled(device_, was_enabled_);
  compat::set_autocast_dtype(device_, previous_dtype_);
}

}  // namespace attnlab::train
