#include "experiments/cli/run_arguments.h"

#include "experiments/config/config.h"

namespace attnlab::cli {

void add_run_options(CLI::App& command, std::filesystem::path& run, std::string& checkpoint) {
  command.add_option("--run", run, "the run directory")->required();
  command.add_option("--checkpoint", checkpoint,
                     "best (default; lowest validation loss), latest, or a file");
}

void check_run_overrides(const std::vector<std::string>& overrides, const std::string& command) {
  for (const auto& text : overrides) {
    const auto key = config::parse_override(text).key;
    if (key.rfind("eval.", 0) != 0 && key.rfind("runtime.", 0) != 0) {
      throw config::ConfigError("override '" + text + "': " + command +
                                " takes only eval.* and runtime.* overrides (the model and task "
                                "are the run's)");
    }
  }
}

nlohmann::json metrics_json(const train::EvalMetrics& metrics) {
  return {{"loss", metrics.loss},
          {"accuracy", metrics.accuracy},
          {"sequence_accuracy", metrics.sequence_accuracy},
          {"examples", metrics.examples},
          {"metrics", metrics.extra}};
}

}  // namespace attnlab::cli
