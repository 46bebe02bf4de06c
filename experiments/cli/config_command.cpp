// attnlab config show|doc: the resolved config, or every key of the schema with its doc.
#include <fmt/core.h>

#include "experiments/cli/commands.h"
#include "experiments/run/schema.h"
#include "experiments/train/cost_estimate.h"

namespace attnlab::cli {

void add_config_command(CLI::App& app) {
  auto* command = app.add_subcommand("config", "show the resolved config or the documented schema");
  command->require_subcommand(1);

  auto arguments = std::make_shared<ConfigArguments>();
  auto* show = command->add_subcommand("show", "print the resolved config (TOML) after overrides");
  add_config_arguments(*show, *arguments);
  auto with_cost = std::make_shared<bool>(false);
  show->add_flag("--cost", *with_cost,
                 "also print parameters, training FLOPs and the estimated peak memory, term by "
                 "term, on the configured device");
  show->callback([arguments, with_cost] {
    const auto config = run::load_config(arguments->config_file, arguments->overrides);
    fmt::print("{}", config.to_toml());
    if (*with_cost) fmt::print("\n{}", train::describe_cost(train::estimate_cost(config)));
  });

  auto* doc = command->add_subcommand("doc", "print every config key with type, default and doc");
  doc->callback([] { fmt::print("{}", run::schema().document()); });
}

}  // namespace attnlab::cli
