// A helper process that answers requests over a socket. Code that may crash or hang on bad input
// (libhdf5 1.10 on a damaged file) runs there, so that its crash or hang reaches the caller as an
// exception instead of ending the caller.
//
// Messages are byte strings; MessageWriter and MessageReader build and take them apart (host byte
// order and layout: both ends are the same program, forked). Bulk results (attention maps) go
// through a SharedBuffer instead: the child writes them there and replies with their size.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "base/forked_child.h"

namespace attnlab::dump {

class MessageWriter {
 public:
  template <typename T>
  MessageWriter& put(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    bytes_.append(reinterpret_cast<const char*>(&value), sizeof(T));
    return *this;
  }
  MessageWriter& put(const std::string& text) {
    put<std::uint64_t>(text.size());
    bytes_.append(text);
    return *this;
  }
  template <typename T>
  MessageWriter& put(const std::vector<T>& values) {
    static_assert(std::is_trivially_copyable_v<T>);
    put<std::uint64_t>(values.size());
    // An empty vector's data() may be null, which append() must not be given.
    if (!values.empty()) {
      bytes_.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
    }
    return *this;
  }
  std::string take() { return std::move(bytes_); }

 private:
  std::string bytes_;
};

class MessageReader {
 public:
  explicit MessageReader(const std::string& bytes) : bytes_(bytes) {}
  template <typename T>
  T get() {
    static_assert(std::is_trivially_copyable_v<T>);
    T value;
    std::memcpy(&value, take(sizeof(T)), sizeof(T));
    return value;
  }
  std::string get_string() {
    const auto size = get<std::uint64_t>();
    return std::string(take(size), size);
  }
  template <typename T>
  std::vector<T> get_vector() {
    static_assert(std::is_trivially_copyable_v<T>);
    const auto size = get<std::uint64_t>();
    if (size > (bytes_.size() - offset_) / sizeof(T)) short_message();
    std::vector<T> values(size);
    const char* from = take(size * sizeof(T));
    if (size > 0) std::memcpy(values.data(), from, size * sizeof(T));  // data() may be null
    return values;
  }

 private:
  const char* take(std::size_t size) {
    if (size > bytes_.size() - offset_) short_message();
    const char* at = bytes_.data() + offset_;
    offset_ += size;
    return at;
  }
  [[noreturn]] static void short_message() {
    throw std::logic_error("a message from the helper process ended early");
  }

  const std::string& bytes_;
  std::size_t offset_ = 0;
};

// Memory both processes map (a memfd made before the fork), for results too large to copy
// through the socket cheaply: a map read there by the child is copied once by the parent, instead
// of four times (into the message, through the kernel twice, out of the message).
class SharedBuffer {
 public:
  SharedBuffer();
  ~SharedBuffer();
  SharedBuffer(const SharedBuffer&) = delete;
  SharedBuffer& operator=(const SharedBuffer&) = delete;

  int descriptor() const { return descriptor_; }
  // The first `bytes` bytes, mapped again when the current mapping is shorter (earlier pointers
  // are then invalid). The writer (the child) passes grow = true to make the memory that long.
  char* map(std::size_t bytes, bool grow);

 private:
  int descriptor_ = -1;
  char* data_ = nullptr;
  std::size_t mapped_ = 0;
};

class ChildProcess {
 public:
  // Runs in the child for each request; its return value is the reply. `shared` is the child's
  // side of shared().
  using Answer = std::function<std::string(const std::string& request, SharedBuffer& shared)>;

  // How a call failed: the child crashed (a crash signal, or a sanitizer's exit code in an
  // instrumented build), did not reply within the time limit, or was stopped from outside
  // (Ctrl-C, kill, the OOM killer: says nothing about its input).
  using Failure = attnlab::ChildFailure;

  // Forks the child. It never outlives this process, holds none of its files (only the socket
  // and the standard streams), and exits when this object is destroyed.
  ChildProcess(Answer answer, std::chrono::milliseconds reply_limit);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Sends `request` and waits for the reply. Throws Failure when the child is gone or hung (and
  // for every call after that: the child is not restarted).
  std::string call(const std::string& request);

  // Where the child left a bulk result (the parent's mapping).
  SharedBuffer& shared() { return shared_; }

 private:
  [[noreturn]] void fail(const Failure& failure);

  pid_t pid_ = -1;
  int socket_ = -1;
  std::chrono::milliseconds reply_limit_;
  std::unique_ptr<Failure> failure_;
  SharedBuffer shared_;
};

}  // namespace attnlab::dump
