#include "experiments/run/available_memory.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

namespace attnlab::run {
namespace {

// "MemAvailable:   123456 kB" -> bytes.
std::optional<std::int64_t> meminfo_bytes(const std::string& field) {
  std::ifstream in("/proc/meminfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) != 0) continue;
    std::istringstream values(line.substr(field.size() + 1));
    std::int64_t kilobytes = 0;
    if (values >> kilobytes) return kilobytes * 1024;
  }
  return std::nullopt;
}

// A number in a file (cgroup files hold one, or "max" when unlimited).
std::optional<std::int64_t> file_number(const std::string& path) {
  std::ifstream in(path);
  std::int64_t value = 0;
  if (in >> value) return value;
  return std::nullopt;
}

// The cgroup this process belongs to, relative to the cgroup mount: "0::/some/path" (v2) or
// "N:memory:/some/path" (v1).
std::optional<std::string> cgroup_path(const std::string& controller) {
  std::ifstream in("/proc/self/cgroup");
  for (std::string line; std::getline(in, line);) {
    const auto first = line.find(':'), second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    if (controllers == controller) return line.substr(second + 1);
  }
  return std::nullopt;
}

// Headroom under the cgroup's memory limit: limit - usage, v2 first, then v1.
std::optional<AvailableMemory> cgroup_headroom() {
  if (const auto path = cgroup_path("")) {
    const std::string dir = "/sys/fs/cgroup" + *path;
    const auto limit = file_number(dir + "/memory.max");
    const auto usage = file_number(dir + "/memory.current");
    if (limit && usage) return AvailableMemory{*limit - *usage, "cgroup memory.max"};
  }
  if (const auto path = cgroup_path("memory")) {
    const std::string dir = "/sys/fs/cgroup/memory" + *path;
    const auto limit = file_number(dir + "/memory.limit_in_bytes");
    const auto usage = file_number(dir + "/memory.usage_in_bytes");
    // v1 reports "no limit" as a huge number rather than "max".
    if (limit && usage && *limit < (std::int64_t{1} << 60)) {
      return AvailableMemory{*limit - *usage, "cgroup memory.limit_in_bytes"};
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<AvailableMemory> available_memory() {
  std::optional<AvailableMemory> available;
  if (const auto bytes = meminfo_bytes("MemAvailable")) available = AvailableMemory{*bytes, "MemAvailable"};
  const auto cgroup = cgroup_headroom();
  if (cgroup && (!available || cgroup->bytes < available->bytes)) available = cgroup;
  return available;
}

std::int64_t current_rss_bytes() {
  std::ifstream in("/proc/self/statm");
  std::int64_t size = 0, resident = 0;
  if (!(in >> size >> resident)) return 0;
  return resident * static_cast<std::int64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace attnlab::run
