// attnlab info: versions, the BLAS actually loaded, threads and CPU capabilities.
#include <fmt/core.h>

#include "experiments/cli/commands.h"
#include "experiments/run/system_report.h"

namespace attnlab::cli {

void add_info_command(CLI::App& app) {
  auto* command = app.add_subcommand("info", "versions, BLAS, threads and CPU capabilities");
  auto threads = std::make_shared<int>(0);
  command->add_option("--threads", *threads,
                      "threads to report/set (default: all available cores)");
  command->callback([threads] { fmt::print("{}", run::system_report(*threads)); });
}

}  // namespace attnlab::cli
