#include "experiments/run/run_dir.h"

#include <ctime>

#include "base/atomic_file.h"

namespace attnlab::run {

std::string timestamp_now() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char text[32];
  std::strftime(text, sizeof(text), "%Y%m%d-%H%M%S", &local);
  return text;
}

RunDir RunDir::at(const std::filesystem::path& path, const config::Config& config) {
  std::error_code error;
  std::filesystem::create_directories(path / "checkpoints", error);
  if (error) throw IoError("cannot create run directory " + path.string() + ": " + error.message());
  RunDir run(path);
  write_file_atomic(run.config_file(), config.to_toml());
  return run;
}

RunDir RunDir::create(const config::Config& config) {
  const std::filesystem::path experiment = std::filesystem::path(
      config.get_string("experiment.results_dir")) / config.get_string("experiment.name");
  std::error_code error;
  std::filesystem::create_directories(experiment, error);
  if (error) {
    throw IoError("cannot create results directory " + experiment.string() + ": " +
                  error.message());
  }
  const std::string base = timestamp_now() + "-" + config.hash().substr(0, 8);
  // create_directory is atomic: whoever creates the name owns it, so concurrent runs never share.
  for (int suffix = 0;; ++suffix) {
    const auto candidate = experiment / (suffix == 0 ? base : base + "-" + std::to_string(suffix));
    if (std::filesystem::create_directory(candidate, error)) return at(candidate, config);
    if (error) throw IoError("cannot create run directory " + candidate.string() + ": " + error.message());
  }
}

RunDir RunDir::open(const std::filesystem::path& path) {
  RunDir run(path);
  if (!std::filesystem::is_regular_file(run.config_file())) {
    throw config::ConfigError("not a run directory (no config.toml): " + path.string());
  }
  return run;
}

}  // namespace attnlab::run
