// The differences between the LibTorch versions attnlab builds against, in one place: Debian's
// 1.13 (the CPU build CI tests) and 2.x (pip's torch or the official archive, for CUDA). Keyed on
// TORCH_VERSION_MAJOR/MINOR; no other file asks which version it is built with.
#pragma once

#include <string>

#include <ATen/autocast_mode.h>
#include <ATen/core/Tensor.h>
#include <c10/util/string_utils.h>
#include <torch/version.h>

#define ATTNLAB_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace attnlab::compat {

// The key LibTorch's optimisers file a parameter's state under: its TensorImpl's address, as a
// string before 2.2 and as the pointer itself since.
#if ATTNLAB_TORCH_AT_LEAST(2, 2)
inline void* optimizer_state_key(const at::Tensor& parameter) {
  return parameter.unsafeGetTensorImpl();
}
#else
inline std::string optimizer_state_key(const at::Tensor& parameter) {
  return c10::guts::to_string(parameter.unsafeGetTensorImpl());
}
#endif

// Autocast's state per device type (CPU or CUDA). 2.4 added the overloads that take the device
// type and deprecated the per-device functions, which since warn on every call: a CPU run on 2.11
// printed one warning per dense layer per step.
inline bool autocast_enabled(at::DeviceType device) {
#if ATTNLAB_TORCH_AT_LEAST(2, 4)
  return at::autocast::is_autocast_enabled(device);
#else
  return device == at::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

inline void set_autocast_enabled(at::DeviceType device, bool enabled) {
#if ATTNLAB_TORCH_AT_LEAST(2, 4)
  at::autocast::set_autocast_enabled(device, enabled);
#else
  if (device == at::kCUDA) {
    at::autocast::set_enabled(enabled);
  } else {
    at::autocast::set_cpu_enabled(enabled);
  }
#endif
}

inline at::ScalarType autocast_dtype(at::DeviceType device) {
#if ATTNLAB_TORCH_AT_LEAST(2, 4)
  return at::autocast::get_autocast_dtype(device);
#else
  return device == at::kCUDA ? at::autocast::get_autocast_gpu_dtype()
                             : at::autocast::get_autocast_cpu_dtype();
#endif
}

inline void set_autocast_dtype(at::DeviceType device, at::ScalarType dtype) {
#if ATTNLAB_TORCH_AT_LEAST(2, 4)
  at::autocast::set_autocast_dtype(device, dtype);
#else
  if (device == at::kCUDA) {
    at::autocast::set_autocast_gpu_dtype(dtype);
  } else {
    at::autocast::set_autocast_cpu_dtype(dtype);
  }
#endif
}

}  // namespace attnlab::compat
