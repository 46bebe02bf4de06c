// Training precision: fp32, or bf16 autocast (matrix products in bf16, reductions, norms and the
// loss in fp32; weights and optimiser state stay fp32). bf16 pays only where the CPU has bf16
// matrix instructions (AVX512-BF16 or AMX): elsewhere oneDNN emulates it, slower than fp32.
#pragma once

#include <string>

#include <torch/types.h>

namespace attnlab::train {

enum class Precision { Float32, BFloat16 };

struct PrecisionChoice {
  Precision precision = Precision::Float32;
  std::string warning;  // set when the request was changed (bf16 on a CPU without bf16 units)
};

// train.precision: "fp32"; "bf16" (bf16 autocast on a CUDA device or a CPU with bf16 matrix
// instructions, otherwise fp32 with a warning); "bf16_emulated" (bf16 autocast whatever the CPU
// has: slow without the instructions, for checking numerics). Throws std::invalid_argument for
// any other name.
PrecisionChoice resolve_precision(const std::string& requested, const torch::Device& device);

// Whether /proc/cpuinfo lists avx512_bf16 or amx_bf16.
bool cpu_has_bf16_matrix_units();

// Turns autocast on for its lifetime when the precision is bf16 (nothing for fp32), and clears
// autocast's cache of cast weights when it ends, so that each step casts the updated weights.
class AutocastScope {
 public:
  AutocastScope(Precision precision, const torch::Device& device);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  at::DeviceType device_ = at::kCPU;
  bool was_enabled_ = false;
  at::ScalarType previous_dtype_ = at::kBFloat16;
};

}  // namespace attnlab::train
