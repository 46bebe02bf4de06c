// Runs the attnlab binary (or any command) in a directory and captures its exit code and output.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace attnlab::testing {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

inline std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

inline CommandResult run_command(const std::vector<std::string>& arguments,
                                 const std::filesystem::path& working_dir) {
  std::string command = "cd " + shell_quote(working_dir.string()) + " && exec";
  for (const auto& argument : arguments) command += " " + shell_quote(argument);
  command += " 2>&1";
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer{};
  std::size_t read = 0;
  while ((read = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
    result.output.append(buffer.data(), read);
  }
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// The attnlab binary with arguments.
inline CommandResult run_attnlab(const std::vector<std::string>& arguments,
                                 const std::filesystem::path& working_dir) {
  std::vector<std::string> full = {ATTNLAB_BINARY};
  full.insert(full.end(), arguments.begin(), arguments.end());
  return run_command(full, working_dir);
}

}  // namespace attnlab::testing
