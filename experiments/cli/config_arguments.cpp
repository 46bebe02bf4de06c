#include "experiments/cli/commands.h"

namespace attnlab::cli {

void add_config_arguments(CLI::App& command, ConfigArguments& arguments) {
  command.add_option("--config", arguments.config_file,
                     "config file (default: configs/experiment.toml; a run's config.toml "
                     "reproduces that run)");
  command.add_option("overrides", arguments.overrides,
                     "Hydra-style overrides: key=value, group=option, +extra.key=value, ~key");
}

}  // namespace attnlab::cli
