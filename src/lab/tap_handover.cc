#include "lab/tap_handover.h"

#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <utility>

#include "core/files.h"
#include "core/process.h"

namespace greenshift::lab {

namespace {

// A tap queue holds a few hundred frames (its txqueuelen); more than this in one call is a
// queue being refilled as fast as it is read (a guest not paused), not a switchover.
constexpr int kMostFramesPerCall = 4096;
// struct virtio_net_hdr (linux/virtio_net.h, which C++ cannot include): how the kernel is to
// checksum and segment the frame that follows.
struct VirtioNetHeader {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len, gso_size, csum_start, csum_offset;
};
static_assert(sizeof(VirtioNetHeader) == 10);
constexpr uint8_t kNeedsChecksum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
// The largest frame a tap gives (a GSO segment of 64 KiB) and its virtio header.
constexpr size_t kFrameBuffer = 65536 + 64;

std::string ErrnoText(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

// The descriptor number under which process `pid` holds tap `tap` open: its fdinfo names it.
Result<int> TapDescriptorOf(int pid, const std::string& tap) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/fdinfo";
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    Result<std::string> text = ReadFile(entry.path().string());
    if (!text.ok() || text->find("iff:\t" + tap + "\n") == std::string::npos) continue;
    try {
      return std::stoi(entry.path().filename().string());
    } catch (const std::exception&) {
      continue;  // not a descriptor number: not ours
    }
  }
  if (error) return Status::NotFound("process " + std::to_string(pid) + ": " + error.message());
  return Status::NotFound("process " + std::to_string(pid) + " holds no tap '" + tap + "'");
}

// A packet socket in network namespace `netns` that sends frames with a virtio header (which
// says how the kernel is to segment and checksum them), and receives nothing (protocol 0).
Result<int> PacketSocket(const std::string& netns) {
  int fd = -1;
  Status made = InNetns(netns, [&] {
    fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd < 0) return Status::Error(ErrnoText("packet socket in " + netns));
    return Status::Ok();
  });
  if (!made.ok()) return made;
  const int on = 1;
  if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &on, sizeof on) != 0) {
    Status failed = Status::Error(ErrnoText("PACKET_VNET_HDR"));
    close(fd);
    return failed;
  }
  // Straight into the tap's queue, past its qdisc: a frame handed over is waiting for the
  // guest when sendto returns (through the qdisc a busy kernel may send it later, from a
  // softirq, after frames that came since), and a count of frames handed is of frames there.
  if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &on, sizeof on) != 0) {
    Status failed = Status::Error(ErrnoText("PACKET_QDISC_BYPASS"));
    close(fd);
    return failed;
  }
  return fd;
}

// The interface index of `name` in the namespace of `socket`.
Result<int> IfIndexVia(int socket, const std::string& name) {
  ifreq request{};
  if (name.size() >= sizeof request.ifr_name) return Status::Invalid("interface name too long");
  std::memcpy(request.ifr_name, name.c_str(), name.size());
  if (ioctl(socket, SIOCGIFINDEX, &request) != 0)
    return Status::NotFound(ErrnoText("interface " + name));
  return request.ifr_ifindex;
}

}  // namespace

Result<TapHandover> TapHandover::Prepare(int source_pid, const std::string& tap,
                                         const std::string& from_netns,
                                         const std::string& to_netns) {
  if (source_pid <= 0) return Status::Invalid("no source process to take the tap's frames from");
  Result<int> number = TapDescriptorOf(source_pid, tap);
  if (!number.ok()) return number.status();
  TapHandover handover;
  handover.tap_ = tap;
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, source_pid, 0));
  if (pidfd < 0) return Status::Error(ErrnoText("pidfd_open " + std::to_string(source_pid)));
  handover.source_tap_fd_ = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, *number, 0));
  const int saved_errno = errno;
  close(pidfd);
  if (handover.source_tap_fd_ < 0) {
    errno = saved_errno;
    return Status::Error(ErrnoText("pidfd_getfd of the source's tap"));
  }
  // What QEMU asked of the tap: a virtio header before each frame, of the size it set.
  ifreq flags{};
  if (ioctl(handover.source_tap_fd_, TUNGETIFF, &flags) != 0)
    return Status::Error(ErrnoText("TUNGETIFF"));
  if (flags.ifr_flags & IFF_VNET_HDR) {
    int size = 0;
    if (ioctl(handover.source_tap_fd_, TUNGETVNETHDRSZ, &size) != 0)
      return Status::Error(ErrnoText("TUNGETVNETHDRSZ"));
    if (size < static_cast<int>(sizeof(VirtioNetHeader)) || size > 64)
      return Status::Error("the tap's virtio header has " + std::to_string(size) + " bytes");
    handover.vnet_header_bytes_ = size;
  }
  Result<int> to = PacketSocket(to_netns);
  if (!to.ok()) return to.status();
  handover.to_socket_ = *to;
  Result<int> from = PacketSocket(from_netns);
  if (!from.ok()) return from.status();
  handover.from_socket_ = *from;
  return handover;
}

TapHandover::TapHandover(TapHandover&& other) noexcept {
  *this = std::move(other);
}

TapHandover& TapHandover::operator=(TapHandover&& other) noexcept {
  if (this != &other) {
    Close();
    tap_ = std::move(other.tap_);
    source_tap_fd_ = std::exchange(other.source_tap_fd_, -1);
    vnet_header_bytes_ = other.vnet_header_bytes_;
    to_socket_ = std::exchange(other.to_socket_, -1);
    from_socket_ = std::exchange(other.from_socket_, -1);
    frames_ = std::move(other.frames_);
  }
  return *this;
}

TapHandover::~TapHandover() {
  Close();
}

void TapHandover::Close() {
  for (int* fd : {&source_tap_fd_, &to_socket_, &from_socket_}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
}

Result<int> TapHandover::Hand() {
  if (source_tap_fd_ < 0) return Status::Error("the handover was not prepared");
  const size_t first = frames_.size();
  std::string buffer(kFrameBuffer, '\0');
  for (int n = 0; n < kMostFramesPerCall; ++n) {
    // Only what waits now: a poll of 0 ms, so a descriptor that is not non-blocking never
    // blocks the switchover.
    pollfd ready{source_tap_fd_, POLLIN, 0};
    if (poll(&ready, 1, 0) <= 0 || !(ready.revents & POLLIN)) break;
    const ssize_t got = read(source_tap_fd_, buffer.data(), buffer.size());
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) break;
    if (got < 0) return Status::Error(ErrnoText("reading the source's tap " + tap_));
    const size_t header = static_cast<size_t>(vnet_header_bytes_);
    if (static_cast<size_t>(got) < header + 14) continue;  // not an Ethernet frame
    // The packet socket takes the 10-byte virtio header (QEMU's may be 12: the merged-buffer
    // count, which means nothing on the way out); a tap without one gets a header that asks
    // for nothing. "Checksum verified" is for frames received: cleared.
    VirtioNetHeader vnet{};
    if (header > 0) std::memcpy(&vnet, buffer.data(), sizeof vnet);
    vnet.flags &= kNeedsChecksum;
    std::string frame(reinterpret_cast<const char*>(&vnet), sizeof vnet);
    frame.append(buffer.data() + header, static_cast<size_t>(got) - header);
    frames_.push_back(std::move(frame));
  }
  return SendAll(to_socket_, first);
}

Result<int> TapHandover::GiveBack() {
  if (from_socket_ < 0) return Status::Error("the handover was not prepared");
  return SendAll(from_socket_, 0);
}

Result<int> TapHandover::SendAll(int socket, size_t first) {
  if (first >= frames_.size()) return 0;
  // Looked up now, not when prepared: the destination's tap may come after the preparation.
  Result<int> ifindex = IfIndexVia(socket, tap_);
  if (!ifindex.ok()) return ifindex.status();
  int sent = 0, failed = 0;
  std::string why;
  for (size_t i = first; i < frames_.size(); ++i) {
    const std::string& frame = frames_[i];
    const unsigned char* ethernet =
        reinterpret_cast<const unsigned char*>(frame.data()) + sizeof(VirtioNetHeader);
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = *ifindex;
    std::memcpy(&to.sll_protocol, ethernet + 12, 2);  // the frame's EtherType, as on the wire
    to.sll_halen = 6;
    std::memcpy(to.sll_addr, ethernet, 6);
    if (sendto(socket, frame.data(), frame.size(), 0, reinterpret_cast<const sockaddr*>(&to),
               sizeof to) == static_cast<ssize_t>(frame.size())) {
      ++sent;
    } else {
      ++failed;
      why = std::strerror(errno);
    }
  }
  if (failed > 0)
    return Status::Error(std::to_string(failed) + " of " + std::to_string(frames_.size() - first) +
                         " frames not sent to tap " + tap_ + ": " + why);
  return sent;
}

}  // namespace greenshift::lab
