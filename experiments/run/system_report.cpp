#include "experiments/run/system_report.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/utils.h>

#include "experiments/run/system_info.h"

namespace attnlab::run {

std::string system_report(int threads) {
  torch::set_num_threads(threads > 0 ? threads : available_cores());
  std::string text;
  text += fmt::format("attnlab      {}\n", attnlab_version());
  text += fmt::format("git commit   {}\n", git_commit());
  text += fmt::format("LibTorch     {}\n", torch_version());
  text += fmt::format("HDF5         {}\n", hdf5_version());
  text += fmt::format("BLAS loaded  {}\n", loaded_blas());
  text += fmt::format("CPU          {}\n", cpu_model());
  text += fmt::format("CPU features {}\n", fmt::join(cpu_matrix_features(), " "));
  text += fmt::format("cores        {} available; torch threads {}\n", available_cores(),
                      torch::get_num_threads());
  return text + "\n" + at::get_parallel_info();
}

}  // namespace attnlab::run
