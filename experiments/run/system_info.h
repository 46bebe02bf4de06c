// Facts about this build and machine, recorded in every run's summary and shown by `attnlab info`.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace attnlab::run {

std::string attnlab_version();
std::string torch_version();
std::string hdf5_version();
// The BLAS shared library actually mapped into this process (LibTorch here links the system BLAS;
// the reference BLAS is far slower than OpenBLAS, so it matters which one the loader picked).
std::string loaded_blas();
std::string cpu_model();
// Instruction-set extensions relevant to matrix throughput (avx2, avx512f, avx512_bf16, amx_*).
std::vector<std::string> cpu_matrix_features();
int available_cores();  // cores in this process's affinity mask
// `git rev-parse` of the source tree the binary was built from ("unknown" outside a checkout),
// with "-dirty" when it has uncommitted changes.
std::string git_commit();
double peak_rss_mb();

nlohmann::json environment_json(int threads);

}  // namespace attnlab::run
