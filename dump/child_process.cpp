#include "dump/child_process.h"

#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>

namespace attnlab::dump {
namespace {

// Frames are a uint64 length, then that many bytes.
bool send_all(int socket, const char* data, std::size_t size) {
  while (size > 0) {
    // MSG_NOSIGNAL: a peer that is gone is an error here, not a SIGPIPE that ends the process.
    const ssize_t written = ::send(socket, data, size, MSG_NOSIGNAL);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    data += written;
    size -= static_cast<std::size_t>(written);
  }
  return true;
}

bool send_frame(int socket, const std::string& message) {
  const std::uint64_t size = message.size();
  return send_all(socket, reinterpret_cast<const char*>(&size), sizeof(size)) &&
         send_all(socket, message.data(), message.size());
}

enum class Read { done, closed, timed_out };

// Reads `size` bytes. `deadline` (parent side) bounds the wait; the child waits for requests
// without one.
Read read_all(int socket, char* data, std::size_t size,
              const std::chrono::steady_clock::time_point* deadline) {
  while (size > 0) {
    if (deadline != nullptr) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          *deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return Read::timed_out;
      pollfd ready{socket, POLLIN, 0};
      const int polled = ::poll(&ready, 1, static_cast<int>(left.count()));
      if (polled < 0 && errno == EINTR) continue;
      if (polled == 0) return Read::timed_out;
      if (polled < 0) return Read::closed;
    }
    const ssize_t got = ::recv(socket, data, size, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return Read::closed;
    data += got;
    size -= static_cast<std::size_t>(got);
  }
  return Read::done;
}

Read receive_frame(int socket, std::string& message,
                   const std::chrono::steady_clock::time_point* deadline) {
  std::uint64_t size = 0;
  const Read header = read_all(socket, reinterpret_cast<char*>(&size), sizeof(size), deadline);
  if (header != Read::done) return header;
  message.resize(size);
  return read_all(socket, message.data(), size, deadline);
}

// Answers requests until the parent closes its end (or is gone).
void serve(int socket, SharedBuffer& shared, const ChildProcess::Answer& answer) {
  std::string request;
  while (receive_frame(socket, request, nullptr) == Read::done) {
    if (!send_frame(socket, answer(request, shared))) break;
  }
}

// The parent's signal handlers (a graceful stop, a test framework's crash report) are not the
// child's: a crash here must end the child with its signal, for call() to see it. Signals the
// parent ignores (nohup's SIGHUP, a background job's SIGINT) stay ignored; none stays blocked.
void restore_default_signal_handlers() {
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  for (int signal = 1; signal < NSIG; ++signal) {
    struct sigaction current {};
    if (::sigaction(signal, nullptr, &current) != 0) continue;
    const bool crash = is_crash_signal(signal);
    const bool handled = (current.sa_flags & SA_SIGINFO) != 0 ||
                         (current.sa_handler != SIG_DFL && current.sa_handler != SIG_IGN);
    if (crash || handled) ::sigaction(signal, &default_action, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

// Closes descriptors [from, to]; one by one where close_range is not available (old kernels,
// seccomp filters).
void close_descriptors(unsigned from, unsigned to) {
  if (from > to || ::close_range(from, to, 0) == 0) return;
  const long open_max = ::sysconf(_SC_OPEN_MAX);
  const unsigned last = std::min<unsigned>(to, open_max > 0 ? static_cast<unsigned>(open_max) : 1u << 16);
  for (unsigned descriptor = from; descriptor <= last; ++descriptor) ::close(static_cast<int>(descriptor));
}

// Closes every descriptor but the standard streams, `first` and `second`.
void close_descriptors_except(int first, int second) {
  unsigned from = 3;
  for (const int keep : {std::min(first, second), std::max(first, second)}) {
    if (keep < static_cast<int>(from)) continue;
    if (static_cast<unsigned>(keep) > from) close_descriptors(from, static_cast<unsigned>(keep) - 1);
    from = static_cast<unsigned>(keep) + 1;
  }
  close_descriptors(from, ~0u - 1);
}

}  // namespace

SharedBuffer::SharedBuffer() {
  descriptor_ = ::memfd_create("attnlab-shared", MFD_CLOEXEC);
  if (descriptor_ < 0) throw std::runtime_error(std::string("memfd_create: ") + std::strerror(errno));
}

SharedBuffer::~SharedBuffer() {
  if (data_ != nullptr) ::munmap(data_, mapped_);
  ::close(descriptor_);
}

char* SharedBuffer::map(std::size_t bytes, bool grow) {
  if (bytes <= mapped_) return data_;
  if (grow && ::ftruncate(descriptor_, static_cast<off_t>(bytes)) != 0) throw std::bad_alloc();
  if (data_ != nullptr) ::munmap(data_, mapped_);
  data_ = nullptr;
  mapped_ = 0;
  void* mapped = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor_, 0);
  if (mapped == MAP_FAILED) throw std::bad_alloc();
  // Children forked later (other readers) need none of it.
  ::madvise(mapped, bytes, MADV_DONTFORK);
  data_ = static_cast<char*>(mapped);
  mapped_ = bytes;
  return data_;
}

ChildProcess::ChildProcess(Answer answer, std::chrono::milliseconds reply_limit)
    : reply_limit_(reply_limit) {
  int sockets[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) != 0) {
    throw std::runtime_error(std::string("socketpair: ") + std::strerror(errno));
  }
  const pid_t parent = ::getpid();
  try {
    pid_ = fork_child([&] {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) return 0;  // the parent died before prctl took effect
      restore_default_signal_handlers();
      // Keep the standard streams (a sanitizer reports on stderr), the socket and the shared
      // memory.
      close_descriptors_except(sockets[1], shared_.descriptor());
      serve(sockets[1], shared_, answer);
      return 0;
    });
  } catch (const std::runtime_error&) {
    ::close(sockets[0]);
    ::close(sockets[1]);
    throw;
  }
  ::close(sockets[1]);
  socket_ = sockets[0];
}

ChildProcess::~ChildProcess() {
  // The child holds nothing that needs an orderly end (a file opened for reading): stop it.
  ::close(socket_);
  if (!failure_) kill_child(pid_);
}

void ChildProcess::fail(const Failure& failure) {
  failure_ = std::make_unique<Failure>(failure);
  throw failure;
}

std::string ChildProcess::call(const std::string& request) {
  if (failure_) throw *failure_;
  const auto deadline = std::chrono::steady_clock::now() + reply_limit_;
  std::string reply;
  const Read got = send_frame(socket_, request) ? receive_frame(socket_, reply, &deadline)
                                                : Read::closed;
  if (got == Read::done) return reply;
  if (got == Read::timed_out) fail(stop_hung_child(pid_, reply_limit_));
  // The child closed its end: it has ended, or is ending.
  ChildExit exit;
  try {
    exit = wait_child(pid_);
  } catch (const std::runtime_error& error) {
    fail(Failure(Failure::Kind::interrupted, error.what()));  // says nothing about the input
  }
  fail(failure_of(exit));
}

}  // namespace attnlab::dump
