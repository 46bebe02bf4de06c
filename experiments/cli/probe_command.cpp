// attnlab probe --run DIR --text "..." [--text ...] [--file F] [--token WORD | --position P]: a
// trained run's attention on the user's own inputs, recorded as a dump that analyze and report
// read (experiments/record/probe_run.h), with one token's contexts compared head by head.
#include <fmt/core.h>

#include "experiments/cli/commands.h"
#include "experiments/cli/run_arguments.h"
#include "experiments/record/probe_run.h"

namespace attnlab::cli {
namespace {

void run_probe(const record::ProbeRequest& request) {
  const auto result = record::probe_run(request);
  fmt::print("probed {} inputs (longest {} tokens) with {} (step {})\n", result.inputs,
             result.longest, result.checkpoint.filename().string(), result.step);
  if (result.contexts) {
    fmt::print("{}", heads::token_contexts_text(*result.contexts, result.tokens,
                                                static_cast<std::size_t>(request.top_heads)));
  }
  for (const auto& file : result.files) fmt::print("written {}\n", (result.out / file).string());
  fmt::print("next: attnlab report {}   (attnlab analyze {} for head labels)\n",
             result.out.string(), (result.out / "attention.h5").string());
}

}  // namespace

void add_probe_command(CLI::App& app) {
  auto request = std::make_shared<record::ProbeRequest>();
  auto* command = app.add_subcommand(
      "probe", "a run's attention on your own inputs, and one word across its contexts");
  add_run_options(*command, request->run, request->checkpoint);
  command->add_option("--text", request->texts,
                      "an input, tokenized as the run's task reads text (words, characters, or "
                      "space-separated token ids); repeatable")
      ->allow_extra_args(false);  // one input per --text: overrides may follow
  command->add_option("--file", request->files, "a file of inputs, one per non-empty line")
      ->allow_extra_args(false);
  command->add_option("--token", request->token,
                      "compare this word's (or token's) attention across its occurrences")
      ->check([](const std::string& token) { return token.empty() ? "an empty token" : ""; });
  command->add_option("--position", request->position,
                      "or compare this position (from 0) of every input")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--heads", request->top_heads,
                      "heads to show in the summary and token_context.svg (default 4)");
  command->add_option("--out", request->out,
                      "output folder (default: <run>/probes/probe-<YYYYmmdd-HHMMSS>)");
  command->add_option("overrides", request->overrides,
                      "runtime.* overrides, e.g. runtime.device=cuda");
  command->callback([request] { run_probe(*request); });
}

}  // namespace attnlab::cli
