// An exclusive flock on a file, held while the object lives (the kernel drops it when the process
// dies, so a killed process never leaves anything locked). Used for run directories (one training
// process per run), and by sweeps for the manifest (waiting), the sweep (one launcher at a time)
// and each job (one runner per job, whichever launcher).
#pragma once

#include <filesystem>

namespace attnlab {

class FileLock {
 public:
  // wait: block until the lock is free; otherwise held() tells whether it was taken. Throws
  // IoError when the lock file cannot be opened.
  FileLock(const std::filesystem::path& path, bool wait);
  ~FileLock();
  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&&) = delete;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  bool held() const { return held_; }

 private:
  int descriptor_ = -1;
  bool held_ = false;
};

}  // namespace attnlab
