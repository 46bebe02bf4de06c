// Durable writes: a file is either its old content or its complete new content, even if the
// process is killed or the machine loses power mid-write (write to a temporary, fsync, rename,
// fsync the directory).
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>

namespace attnlab {

// An I/O failure the user must act on (disk full, permissions); the message names the path.
class IoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

void write_file_atomic(const std::filesystem::path& path, const std::string& content);

// For writers that produce a file themselves (torch::save): a temporary name next to `path`,
// then commit_file() to fsync it and move it into place.
std::filesystem::path temporary_path_for(const std::filesystem::path& path);
void commit_file(const std::filesystem::path& temporary, const std::filesystem::path& path);

void fsync_directory(const std::filesystem::path& directory);

}  // namespace attnlab
