// Runs the attnlab binary (or any command) in a directory and captures its exit code and output.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "base/shell_command.h"

namespace attnlab::testing {

using CommandResult = attnlab::CommandOutput;  // exit_code, output (stdout and stderr together)
using attnlab::shell_quote;

inline CommandResult run_command(const std::vector<std::string>& arguments,
                                 const std::filesystem::path& working_dir) {
  std::string command = "cd " + shell_quote(working_dir.string()) + " && exec";
  for (const auto& argument : arguments) command += " " + shell_quote(argument);
  return attnlab::capture_shell(command);
}

// The attnlab binary with arguments.
inline CommandResult run_attnlab(const std::vector<std::string>& arguments,
                                 const std::filesystem::path& working_dir) {
  std::vector<std::string> full = {ATTNLAB_BINARY};
  full.insert(full.end(), arguments.begin(), arguments.end());
  return run_command(full, working_dir);
}

}  // namespace attnlab::testing
