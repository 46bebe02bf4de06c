// attnlab config show|doc: the resolved config, or every key of the schema with its doc.
#include <fmt/core.h>

#include "experiments/cli/commands.h"
#include "experiments/run/schema.h"

namespace attnlab::cli {

void add_config_command(CLI::App& app) {
  auto* command = app.add_subcommand("config", "show the resolved config or the documented schema");
  command->require_subcommand(1);

  auto arguments = std::make_shared<ConfigArguments>();
  auto* show = command->add_subcommand("show", "print the resolved config (TOML) after overrides");
  add_config_arguments(*show, *arguments);
  show->callback([arguments] {
    fmt::print("{}", run::load_config(arguments->config_file, arguments->overrides).to_toml());
  });

  auto* doc = command->add_subcommand("doc", "print every config key with type, default and doc");
  doc->callback([] { fmt::print("{}", run::schema().document()); });
}

}  // namespace attnlab::cli
