#include "core/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/clock.h"
#include "core/process.h"

namespace greenshift {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0 && fd_ != fd) close(fd_);
  fd_ = fd;
}

bool WaitForFd(int fd, short events, SteadyTime deadline) {
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyNow()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    const int ready = poll(&p, 1, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) continue;
    return ready > 0;
  }
}

namespace {

// What went wrong, as the kernel said it.
std::string SystemError(int error) {
  return std::strerror(error);
}

// Waits for a non-blocking connect to finish; 0 or the errno it failed with.
int FinishConnect(int fd, std::chrono::milliseconds timeout) {
  const SteadyTime deadline = SteadyNow() + timeout;
  errno = 0;
  if (!WaitForFd(fd, POLLOUT, deadline)) return errno != 0 ? errno : ETIMEDOUT;  // poll's or none
  int error = 0;
  socklen_t length = sizeof error;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return errno;
  return error;
}

}  // namespace

Result<UniqueFd> ConnectTcp(const std::string& netns, const std::string& address, int port,
                            std::chrono::milliseconds timeout) {
  const std::string where = address + ":" + std::to_string(port) +
                            (netns.empty() ? std::string() : " from network namespace " + netns);
  if (port <= 0 || port > 65535)
    return Status::Invalid("cannot connect to " + where + ": not a TCP port");
  sockaddr_storage storage{};
  socklen_t storage_length = 0;
  int family = AF_INET;
  {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
    if (inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(static_cast<uint16_t>(port));
      storage_length = sizeof *v4;
    } else if (inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
      family = AF_INET6;
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(static_cast<uint16_t>(port));
      storage_length = sizeof *v6;
    } else {
      return Status::Invalid("cannot connect to " + where + ": not an IPv4 or IPv6 address");
    }
  }
  // The socket is made in the namespace (a thread of its own enters it: setns moves only the
  // calling thread); connecting can happen anywhere after.
  UniqueFd socket_fd;
  GS_RETURN_IF_ERROR(InNetns(netns, [&]() -> Status {
    socket_fd.reset(socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_TCP));
    if (!socket_fd.valid())
      return Status::Error("cannot connect to " + where + ": socket: " + SystemError(errno));
    return Status::Ok();
  }));
  int error = 0;
  if (connect(socket_fd.get(), reinterpret_cast<const sockaddr*>(&storage), storage_length) != 0) {
    error = errno == EINPROGRESS ? FinishConnect(socket_fd.get(), timeout) : errno;
  }
  if (error == ETIMEDOUT)
    return Status::Unavailable("cannot connect to " + where + ": no answer within " +
                               std::to_string(timeout.count()) + " ms");
  if (error != 0)
    return Status::Unavailable("cannot connect to " + where + ": " + SystemError(error));
  const int flags = fcntl(socket_fd.get(), F_GETFL);
  if (flags < 0 || fcntl(socket_fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0)
    return Status::Error("cannot make the connection to " + where +
                         " blocking: " + SystemError(errno));
  return socket_fd;
}

Status SetTcpUnsentLimit(int fd, int64_t bytes) {
  if (bytes <= 0 || bytes > INT32_MAX)
    return Status::Invalid("unsent limit of " + std::to_string(bytes) +
                           " bytes: must be between 1 and 2^31 - 1");
  const int value = static_cast<int>(bytes);
  if (setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &value, sizeof value) != 0)
    return Status::Error("TCP_NOTSENT_LOWAT: " + SystemError(errno));
  return Status::Ok();
}

}  // namespace greenshift
