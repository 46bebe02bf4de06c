#include "base/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/atomic_file.h"

namespace attnlab {

FileLock::FileLock(const std::filesystem::path& path, bool wait) {
  std::error_code ignored;
  std::filesystem::create_directories(path.parent_path(), ignored);
  descriptor_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (descriptor_ < 0) {
    throw IoError("cannot open lock file " + path.string() + ": " + std::strerror(errno));
  }
  int status = 0;
  // A signal (Ctrl-C) during a blocking wait interrupts flock: wait again.
  while ((status = ::flock(descriptor_, wait ? LOCK_EX : LOCK_EX | LOCK_NB)) != 0 &&
         errno == EINTR) {
  }
  held_ = status == 0;
  if (!held_ && wait) {
    ::close(descriptor_);
    throw IoError("cannot lock " + path.string() + ": " + std::strerror(errno));
  }
}

FileLock::FileLock(FileLock&& other) noexcept
    : descriptor_(other.descriptor_), held_(other.held_) {
  other.descriptor_ = -1;
  other.held_ = false;
}

FileLock::~FileLock() {
  if (descriptor_ >= 0) ::close(descriptor_);  // closing releases the lock
}

}  // namespace attnlab
