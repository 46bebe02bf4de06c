// manifest.jsonl: one line per job of a sweep (pandas: read_json(path, lines=True)). Every change
// rewrites the whole file atomically (write, fsync, rename) under an exclusive lock on
// manifest.lock, so launchers, Slurm array tasks and `sweep status` never see a torn or lost
// update, and a kill at any moment leaves the previous or the next consistent version.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace attnlab::sweep {

inline constexpr const char* kManifestFile = "manifest.jsonl";

// pending -> running -> finished | failed | interrupted; submitted: queued on Slurm.
struct ManifestEntry {
  std::int64_t job = 0;
  std::vector<std::string> overrides;
  std::string run_dir;  // relative to the sweep folder
  std::string status = "pending";
  int exit_code = -1;  // -1: none yet
  std::string start, end;  // ISO 8601, UTC
  std::string host;
  std::string slurm_job;  // "<array id>_<index>" when submitted to Slurm
  std::int64_t attempts = 0;
  bool done() const { return status == "finished"; }
};

std::vector<ManifestEntry> read_manifest(const std::filesystem::path& sweep_dir);

// Applies `change` to the manifest under the lock and writes it back atomically.
void update_manifest(const std::filesystem::path& sweep_dir,
                     const std::function<void(std::vector<ManifestEntry>&)>& change);

// The entry of one job (throws attnlab::IoError when the manifest lacks it).
ManifestEntry& entry_of(std::vector<ManifestEntry>& entries, std::int64_t job);

// A job starts on this host now (one more attempt); returns its updated entry.
ManifestEntry record_start(const std::filesystem::path& sweep_dir, std::int64_t job);
// A job ended with `status` (finished, failed, interrupted) and its process's exit code.
void record_end(const std::filesystem::path& sweep_dir, std::int64_t job, const std::string& status,
                int exit_code);

std::string utc_now();  // 2026-11-22T08:31:55Z
std::string host_name();

}  // namespace attnlab::sweep
