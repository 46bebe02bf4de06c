#include "experiments/run/available_memory.h"

#include <unistd.h>

#include <algorithm>
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

// A field of a cgroup's memory.stat ("inactive_file 123").
std::optional<std::int64_t> stat_field(const std::string& path, const std::string& field) {
  std::ifstream in(path);
  std::string name;
  std::int64_t value = 0;
  while (in >> name >> value) {
    if (name == field) return value;
  }
  return std::nullopt;
}

// Headroom under one cgroup's limit: limit - usage, where usage leaves out the page cache the
// kernel reclaims first (inactive files), as the kernel itself does before it reclaims anything.
std::int64_t headroom(std::int64_t limit, std::int64_t usage,
                      std::optional<std::int64_t> reclaimable) {
  return std::max<std::int64_t>(0, limit - (usage - reclaimable.value_or(0)));
}

// The tightest headroom from `leaf` up to `mount`: a Slurm job or a container may set its limit
// on a cgroup above the process's own.
std::optional<AvailableMemory> tightest(const std::string& mount, const std::string& leaf,
                                        const char* limit_file, const char* usage_file,
                                        const char* reclaimable_field, const char* source) {
  std::optional<AvailableMemory> best;
  for (std::string path = leaf;; path = path.substr(0, path.rfind('/'))) {
    const std::string dir = mount + path;
    const auto limit = file_number(dir + "/" + limit_file);  // "max" (v2) reads as none
    const auto usage = file_number(dir + "/" + usage_file);
    // v1 reports "no limit" as a huge number rather than "max".
    if (limit && usage && *limit < (std::int64_t{1} << 60)) {
      const auto room = headroom(*limit, *usage, stat_field(dir + "/memory.stat", reclaimable_field));
      if (!best || room < best->bytes) best = AvailableMemory{room, source};
    }
    if (path.empty() || path == "/") break;
  }
  return best;
}

// Headroom under the process's cgroup limits, v2 first, then v1.
std::optional<AvailableMemory> cgroup_headroom() {
  if (const auto path = cgroup_path("")) {
    if (auto v2 = tightest("/sys/fs/cgroup", *path, "memory.max", "memory.current", "inactive_file",
                           "cgroup memory.max")) {
      return v2;
    }
  }
  if (const auto path = cgroup_path("memory")) {
    return tightest("/sys/fs/cgroup/memory", *path, "memory.limit_in_bytes",
                    "memory.usage_in_bytes", "total_inactive_file", "cgroup memory.limit_in_bytes");
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
