// attnlab info: versions, the BLAS actually loaded, threads and CPU capabilities.
#include <ATen/Parallel.h>
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <torch/utils.h>

#include "experiments/cli/commands.h"
#include "experiments/run/system_info.h"

namespace attnlab::cli {

void add_info_command(CLI::App& app) {
  auto* command = app.add_subcommand("info", "versions, BLAS, threads and CPU capabilities");
  auto threads = std::make_shared<int>(0);
  command->add_option("--threads", *threads, "threads to report/set (default: all available cores)");
  command->callback([threads] {
    const int count = *threads > 0 ? *threads : run::available_cores();
    torch::set_num_threads(count);
    fmt::print("attnlab      {}\n", run::attnlab_version());
    fmt::print("git commit   {}\n", run::git_commit());
    fmt::print("LibTorch     {}\n", run::torch_version());
    fmt::print("HDF5         {}\n", run::hdf5_version());
    fmt::print("BLAS loaded  {}\n", run::loaded_blas());
    fmt::print("CPU          {}\n", run::cpu_model());
    fmt::print("CPU features {}\n", fmt::join(run::cpu_matrix_features(), " "));
    fmt::print("cores        {} available; torch threads {}\n", run::available_cores(),
               torch::get_num_threads());
    fmt::print("\n{}", at::get_parallel_info());
  });
}

}  // namespace attnlab::cli
