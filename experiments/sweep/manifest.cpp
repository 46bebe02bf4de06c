#include "experiments/sweep/manifest.h"

#include <unistd.h>

#include <ctime>
#include <fstream>

#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "base/file_lock.h"

namespace attnlab::sweep {
namespace {

std::vector<ManifestEntry> read_unlocked(const std::filesystem::path& sweep_dir) {
  std::vector<ManifestEntry> entries;
  const auto path = sweep_dir / kManifestFile;
  std::ifstream in(path);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    try {
      const auto json = nlohmann::json::parse(line);
      ManifestEntry entry;
      entry.job = json.at("job").get<std::int64_t>();
      entry.overrides = json.at("overrides").get<std::vector<std::string>>();
      entry.run_dir = json.at("run_dir").get<std::string>();
      entry.status = json.at("status").get<std::string>();
      const auto code = json.find("exit_code");
      entry.exit_code = code == json.end() || code->is_null() ? -1 : code->get<int>();
      entry.start = json.value("start", "");
      entry.end = json.value("end", "");
      entry.host = json.value("host", "");
      entry.slurm_job = json.value("slurm_job", "");
      entry.attempts = json.value("attempts", std::int64_t{0});
      entries.push_back(std::move(entry));
    } catch (const nlohmann::json::exception& error) {
      throw attnlab::IoError(path.string() + ":" + std::to_string(number) + ": not a manifest line (" +
                         error.what() + ")");
    }
  }
  return entries;
}

std::string to_text(const std::vector<ManifestEntry>& entries) {
  std::string text;
  for (const auto& entry : entries) {
    nlohmann::json json = {{"job", entry.job},
                           {"overrides", entry.overrides},
                           {"run_dir", entry.run_dir},
                           {"status", entry.status},
                           {"exit_code", entry.exit_code < 0 ? nlohmann::json() : nlohmann::json(entry.exit_code)},
                           {"start", entry.start},
                           {"end", entry.end},
                           {"host", entry.host},
                           {"slurm_job", entry.slurm_job},
                           {"attempts", entry.attempts}};
    text += json.dump() + "\n";
  }
  return text;
}

}  // namespace

std::vector<ManifestEntry> read_manifest(const std::filesystem::path& sweep_dir) {
  const attnlab::FileLock lock(sweep_dir / "manifest.lock", /*wait=*/true);
  return read_unlocked(sweep_dir);
}

void update_manifest(const std::filesystem::path& sweep_dir,
                     const std::function<void(std::vector<ManifestEntry>&)>& change) {
  const attnlab::FileLock lock(sweep_dir / "manifest.lock", /*wait=*/true);
  auto entries = read_unlocked(sweep_dir);
  change(entries);
  attnlab::write_file_atomic(sweep_dir / kManifestFile, to_text(entries));
}

ManifestEntry& entry_of(std::vector<ManifestEntry>& entries, std::int64_t job) {
  for (auto& entry : entries) {
    if (entry.job == job) return entry;
  }
  throw attnlab::IoError("the sweep manifest has no job " + std::to_string(job));
}

ManifestEntry record_start(const std::filesystem::path& sweep_dir, std::int64_t job) {
  ManifestEntry started;
  update_manifest(sweep_dir, [&](std::vector<ManifestEntry>& entries) {
    auto& target = entry_of(entries, job);
    target.status = "running";
    target.start = utc_now();
    target.end.clear();
    target.exit_code = -1;
    target.host = host_name();
    ++target.attempts;
    started = target;
  });
  return started;
}

void record_end(const std::filesystem::path& sweep_dir, std::int64_t job, const std::string& status,
                int exit_code) {
  update_manifest(sweep_dir, [&](std::vector<ManifestEntry>& entries) {
    auto& target = entry_of(entries, job);
    target.status = status;
    target.exit_code = exit_code;
    target.end = utc_now();
  });
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

}  // namespace attnlab::sweep
