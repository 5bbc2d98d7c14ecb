// File descriptors owned by one object, and TCP connections greenshift opens itself so that
// their socket options are its own (the migration stream: hypervisor/qemu).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "core/clock.h"
#include "core/status.h"

namespace greenshift {

// A file descriptor closed when its owner goes. Move-only. Not thread-safe (like the descriptor
// it holds: one owner at a time).
class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Gives the descriptor up without closing it.
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // Closes the one held (if any) and holds `fd`.
  void reset(int fd = -1);

 private:
  int fd_;
};

// Waits until `fd` is ready for `events` (poll's POLLIN, POLLOUT) or `deadline` passes. False on
// timeout or on a poll error (errno then says which).
bool WaitForFd(int fd, short events, SteadyTime deadline);

// A TCP connection to `address` (an IPv4 or IPv6 literal, not a name) port `port`, made from the
// named network namespace `netns` (/run/netns/NAME; empty: this thread's), within `timeout`.
// The socket stays in that namespace for good; it is blocking and close-on-exec. Errors name the
// address, the port and the namespace: "cannot connect to 198.19.1.2:4711 from network namespace
// lab-a: Connection refused".
Result<UniqueFd> ConnectTcp(const std::string& netns, const std::string& address, int port,
                            std::chrono::milliseconds timeout);

// Caps how much data not yet sent a TCP socket holds (TCP_NOTSENT_LOWAT): a writer blocks, or
// poll says not writable, while more than `bytes` wait. What is written then waits in the
// socket at most bytes / rate, where by default it can hold megabytes (seconds on a slow link).
Status SetTcpUnsentLimit(int fd, int64_t bytes);

}  // namespace greenshift
