#include "lab/fdb.h"

#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/process.h"

namespace greenshift::lab {

namespace {

std::string ErrnoText(int error) {
  return std::strerror(error);
}

bool ParseMac(const std::string& text, unsigned char out[6]) {
  unsigned int b[6];
  char tail = 0;
  if (text.size() != 17 || std::sscanf(text.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1],
                                       &b[2], &b[3], &b[4], &b[5], &tail) != 6)
    return false;
  for (int i = 0; i < 6; ++i) out[i] = static_cast<unsigned char>(b[i]);
  return true;
}

}  // namespace

Result<FdbSocket> FdbSocket::Open(const std::string& netns) {
  int fd = -1;
  Status made = InNetns(netns, [&] {
    fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return Status::Error("netlink socket: " + ErrnoText(errno));
    return Status::Ok();
  });
  if (!made.ok()) return made;
  // An answer that never comes (it always does from the kernel) must not hang a switchover.
  timeval timeout{1, 0};
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return FdbSocket(fd, netns);
}

FdbSocket::FdbSocket(FdbSocket&& other) noexcept
    : fd_(other.fd_), netns_(std::move(other.netns_)), sequence_(other.sequence_) {
  other.fd_ = -1;
}

FdbSocket& FdbSocket::operator=(FdbSocket&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = other.fd_;
    netns_ = std::move(other.netns_);
    sequence_ = other.sequence_;
    other.fd_ = -1;
  }
  return *this;
}

FdbSocket::~FdbSocket() {
  if (fd_ >= 0) close(fd_);
}

Result<int> FdbSocket::IfIndex(const std::string& port) const {
  unsigned index = 0;
  Status found = InNetns(netns_, [&] {
    index = if_nametoindex(port.c_str());
    if (index == 0)
      return Status::NotFound("no interface '" + port + "'" +
                              (netns_.empty() ? "" : " in network namespace " + netns_));
    return Status::Ok();
  });
  if (!found.ok()) return found;
  return static_cast<int>(index);
}

Status FdbSocket::Replace(int port, const std::string& mac) {
  return Send(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, port, mac, NUD_NOARP);
}

Status FdbSocket::Delete(int port, const std::string& mac) {
  return Send(RTM_DELNEIGH, 0, port, mac, NUD_NOARP);
}

Status FdbSocket::Send(int type, int flags, int port, const std::string& mac, int state) {
  const std::string what = std::string(type == RTM_NEWNEIGH ? "replace" : "del") + " " + mac +
                           " on port " + std::to_string(port) +
                           (netns_.empty() ? "" : " in " + netns_);
  unsigned char address[6];
  if (!ParseMac(mac, address)) return Status::Invalid("fdb " + what + ": not a MAC address");
  struct {
    nlmsghdr header;
    ndmsg neighbour;
    char attributes[RTA_SPACE(6)];
  } request{};
  request.header.nlmsg_len = NLMSG_LENGTH(sizeof(ndmsg)) + RTA_SPACE(6);
  request.header.nlmsg_type = static_cast<uint16_t>(type);
  request.header.nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | NLM_F_ACK | flags);
  request.header.nlmsg_seq = ++sequence_;
  request.neighbour.ndm_family = AF_BRIDGE;
  request.neighbour.ndm_ifindex = port;
  request.neighbour.ndm_state = static_cast<uint16_t>(state);
  request.neighbour.ndm_flags = NTF_MASTER;
  rtattr* attribute = reinterpret_cast<rtattr*>(request.attributes);
  attribute->rta_type = NDA_LLADDR;
  attribute->rta_len = RTA_LENGTH(6);
  std::memcpy(RTA_DATA(attribute), address, 6);

  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd_, &request, request.header.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel),
             sizeof kernel) < 0)
    return Status::Error("fdb " + what + ": " + ErrnoText(errno));
  // The kernel's acknowledgement: an nlmsgerr whose error is 0, or why it refused.
  alignas(nlmsghdr) char answer[1024];
  while (true) {
    const ssize_t n = recv(fd_, answer, sizeof answer, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::Error("fdb " + what + ": no answer from the kernel: " + ErrnoText(errno));
    }
    // The messages in the answer, walked by hand: NLMSG_OK compares the header's unsigned length
    // with a signed one, which clang's -Wsign-compare refuses in our code.
    const size_t size = static_cast<size_t>(n);
    for (size_t at = 0; at + sizeof(nlmsghdr) <= size;) {
      nlmsghdr* h = reinterpret_cast<nlmsghdr*>(answer + at);
      if (h->nlmsg_len < sizeof(nlmsghdr) || h->nlmsg_len > size - at) break;
      at += NLMSG_ALIGN(h->nlmsg_len);
      if (h->nlmsg_seq != sequence_ || h->nlmsg_type != NLMSG_ERROR) continue;
      const int error = -reinterpret_cast<nlmsgerr*>(NLMSG_DATA(h))->error;
      if (error == 0) return Status::Ok();
      if (error == ENOENT) return Status::NotFound("fdb " + what + ": no such entry");
      return Status::Error("fdb " + what + ": " + ErrnoText(error));
    }
  }
}

}  // namespace greenshift::lab
