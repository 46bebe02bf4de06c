// How much memory a run may still use on this machine: the kernel's estimate of available RAM,
// lowered by the limit of the process's cgroup (a container or a Slurm job) where one is set.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace attnlab::run {

struct AvailableMemory {
  std::int64_t bytes = 0;
  std::string source;  // what set it: "MemAvailable", "cgroup memory.max", ...
};

// nullopt where neither /proc/meminfo nor a cgroup limit can be read.
std::optional<AvailableMemory> available_memory();

// This process's resident set now, in bytes (0 where /proc is absent).
std::int64_t current_rss_bytes();

}  // namespace attnlab::run
