#include "base/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace attnlab {
namespace {

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& path, int error) {
  throw IoError(what + " " + path.string() + ": " + std::strerror(error));
}

void fsync_path(const std::filesystem::path& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) fail("cannot open", path, errno);
  const int result = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (result != 0 && error != EINVAL) fail("cannot fsync", path, error);  // EINVAL: no fsync here
}

}  // namespace

std::filesystem::path temporary_path_for(const std::filesystem::path& path) {
  return path.parent_path() / ("." + path.filename().string() + ".tmp." + std::to_string(::getpid()));
}

void fsync_directory(const std::filesystem::path& directory) {
  fsync_path(directory.empty() ? "." : directory, O_RDONLY | O_DIRECTORY);
}

void commit_file(const std::filesystem::path& temporary, const std::filesystem::path& path) {
  fsync_path(temporary, O_RDONLY);
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const int error = errno;
    std::remove(temporary.c_str());
    fail("cannot rename into place", path, error);
  }
  fsync_directory(path.parent_path());
}

void write_file_atomic(const std::filesystem::path& path, const std::string& content) {
  const auto temporary = temporary_path_for(path);
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) fail("cannot create", temporary, errno);
  const char* data = content.data();
  std::size_t remaining = content.size();
  while (remaining > 0) {
    const ssize_t written = ::write(fd, data, remaining);
    if (written < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      std::remove(temporary.c_str());
      fail("cannot write", path, error);
    }
    data += written;
    remaining -= static_cast<std::size_t>(written);
  }
  if (::fsync(fd) != 0 && errno != EINVAL) {
    const int error = errno;
    ::close(fd);
    std::remove(temporary.c_str());
    fail("cannot fsync", path, error);
  }
  ::close(fd);
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const int error = errno;
    std::remove(temporary.c_str());
    fail("cannot rename into place", path, error);
  }
  fsync_directory(path.parent_path());
}

}  // namespace attnlab
