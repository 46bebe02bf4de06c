// attnlab's configuration schema: every key with its type, default and doc, in one place.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "experiments/config/config.h"
#include "experiments/run/run_dir.h"

namespace attnlab::run {

// The full schema: experiment, model, variant (from the variant registries), task (common keys
// plus each registered task's), train, eval, runtime, record, and the free `extra` section.
const config::Schema& schema();

// The project's configs/ directory (ATTNLAB_CONFIG_DIR overrides the built-in path).
std::filesystem::path default_config_dir();
std::filesystem::path default_config_file();  // configs/experiment.toml

// Composes `config_file` (default: configs/experiment.toml) with the overrides. Group options
// are looked up next to the file first, then in the project's configs/. Throws ConfigError.
config::Config load_config(const std::filesystem::path& config_file,
                           const std::vector<std::string>& overrides);

// A finished run's config.toml with `overrides`, reading the run's own vocabulary.txt when it
// has one (task.vocabulary), so that every command after training tokenizes as training did.
config::Config load_run_config(const RunDir& run, const std::vector<std::string>& overrides);

// Threads to use: runtime.threads, or every core this process may run on when it is 0.
int resolve_threads(const config::Config& config);

}  // namespace attnlab::run
