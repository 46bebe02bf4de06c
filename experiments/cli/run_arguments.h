// The options of the commands acting on a finished run (eval, ablate, export): --run and
// --checkpoint.
#pragma once

#include <filesystem>
#include <string>

#include <CLI/CLI.hpp>

namespace attnlab::cli {

void add_run_options(CLI::App& command, std::filesystem::path& run, std::string& checkpoint);

}  // namespace attnlab::cli
