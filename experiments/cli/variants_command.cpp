// attnlab variants: every registered score, position scheme and pattern with its options.
#include <fmt/core.h>

#include "experiments/cli/commands.h"
#include "variants/attention_variant.h"

namespace attnlab::cli {

void add_variants_command(CLI::App& app) {
  auto* command = app.add_subcommand(
      "variants", "list attention scores, positions and patterns with their options");
  command->callback([] {
    fmt::print("{}", variants::describe_registered());
    fmt::print("\nCombine them in configs/variant/*.toml or on the command line, e.g.\n"
               "  attnlab train variant.position=rope variant.pattern=local variant.window=32\n");
  });
}

}  // namespace attnlab::cli
