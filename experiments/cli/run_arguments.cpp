#include "experiments/cli/run_arguments.h"

namespace attnlab::cli {

void add_run_options(CLI::App& command, std::filesystem::path& run, std::string& checkpoint) {
  command.add_option("--run", run, "the run directory")->required();
  command.add_option("--checkpoint", checkpoint,
                     "best (default; lowest validation loss), latest, or a file");
}

}  // namespace attnlab::cli
