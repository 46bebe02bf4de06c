#include "experiments/run/system_info.h"

#include <sched.h>
#include <sys/resource.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <H5public.h>
#include <torch/version.h>

#ifndef ATTNLAB_SOURCE_DIR
#error "ATTNLAB_SOURCE_DIR must be defined by the build"
#endif
#ifndef ATTNLAB_VERSION
#error "ATTNLAB_VERSION must be defined by the build"
#endif

namespace attnlab::run {
namespace {

std::string command_output(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return output;
  std::array<char, 256> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe) != nullptr) output += buffer.data();
  ::pclose(pipe);
  while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) output.pop_back();
  return output;
}

}  // namespace

std::string attnlab_version() { return ATTNLAB_VERSION; }
std::string torch_version() { return TORCH_VERSION; }

std::string hdf5_version() {
  unsigned major = 0, minor = 0, release = 0;
  H5get_libversion(&major, &minor, &release);
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release);
}

std::string loaded_blas() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    const std::string file = path.substr(path.rfind('/') + 1);
    if (file.find("blas") != std::string::npos || file.find("mkl_rt") != std::string::npos) {
      std::error_code error;
      const auto resolved = std::filesystem::canonical(path, error);
      return error ? path : resolved.string();
    }
  }
  return "none found";
}

std::string cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

std::vector<std::string> cpu_matrix_features() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  std::vector<std::string> found;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream flags(line.substr(line.find(':') + 1));
    std::string flag;
    while (flags >> flag) {
      if (flag == "avx2" || flag == "fma" || flag == "avx512f" || flag == "avx512_bf16" ||
          flag == "avx512_vnni" || flag.rfind("amx", 0) == 0) {
        found.push_back(flag);
      }
    }
    break;
  }
  return found;
}

int available_cores() {
  cpu_set_t cpus;
  if (sched_getaffinity(0, sizeof(cpus), &cpus) == 0) return CPU_COUNT(&cpus);
  return 1;
}

std::string git_commit() {
  const std::string source = ATTNLAB_SOURCE_DIR;
  std::string commit =
      command_output("git -C '" + source + "' rev-parse --short=12 HEAD 2>/dev/null");
  if (commit.empty()) return "unknown";
  if (!command_output("git -C '" + source + "' status --porcelain --untracked-files=no 2>/dev/null")
           .empty()) {
    commit += "-dirty";
  }
  return commit;
}

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

nlohmann::json environment_json(int threads) {
  return {{"attnlab", attnlab_version()}, {"libtorch", torch_version()},
          {"hdf5", hdf5_version()},       {"blas", loaded_blas()},
          {"cpu", cpu_model()},           {"cpu_features", cpu_matrix_features()},
          {"cores", available_cores()},   {"threads", threads},
          {"git_commit", git_commit()}};
}

}  // namespace attnlab::run
