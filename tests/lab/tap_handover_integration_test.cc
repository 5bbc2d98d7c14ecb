// TapHandover against the kernel's taps, in two network namespaces of the test's own (root
// needed; CI runs as root). The test plays both QEMUs: it holds the source's tap as QEMU does
// (a virtio header of 12 bytes before each frame) and, once the handover is prepared, the
// destination's; frames the kernel queued in the source's tap come out of the destination's.
#include "lab/tap_handover.h"

#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/process.h"

namespace greenshift::lab {
namespace {

// Namespaces of this process's own: ctest may run the tests side by side.
const std::string kFrom = "gsth-from-" + std::to_string(getpid());
const std::string kTo = "gsth-to-" + std::to_string(getpid());
constexpr const char* kTap = "t-handover";
constexpr int kHeaderBytes = 12;  // what QEMU's virtio-net asks of its tap (merged buffers)
// A local experimental EtherType: nothing in the namespaces sends such frames but the test.
constexpr unsigned char kEtherType[2] = {0x88, 0xb5};

// Opens tap `kTap` in `netns` as QEMU does: no packet info, a virtio header, non-blocking.
int OpenTap(const std::string& netns) {
  int fd = -1;
  Status opened = InNetns(netns, [&] {
    fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return Status::Error("open /dev/net/tun");
    ifreq request{};
    std::strncpy(request.ifr_name, kTap, IFNAMSIZ - 1);
    request.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    if (ioctl(fd, TUNSETIFF, &request) != 0) return Status::Error("TUNSETIFF");
    int size = kHeaderBytes;
    if (ioctl(fd, TUNSETVNETHDRSZ, &size) != 0) return Status::Error("TUNSETVNETHDRSZ");
    return Status::Ok();
  });
  EXPECT_TRUE(opened.ok()) << opened.message();
  return fd;
}

// A frame of the test's: to the guest's MAC, `size` bytes, its payload saying `n`.
std::string Frame(int n, size_t size) {
  std::string frame = {'\x52', '\x54', '\x00', '\xaa', '\xbb', '\xcc',   // to the guest
                       '\x52', '\x54', '\x00', '\x11', '\x22', '\x33'};  // from a client
  frame += std::string(reinterpret_cast<const char*>(kEtherType), 2);
  frame += "frame " + std::to_string(n);
  frame.resize(size, '.');
  return frame;
}

// The kernel sends `frames` out of tap kTap in `netns`: they wait in its queue for its reader,
// as the bridge's frames for a guest wait for its QEMU.
void QueueInTap(const std::string& netns, const std::vector<std::string>& frames) {
  int fd = -1;
  ASSERT_TRUE(InNetns(netns, [&] {
                fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
                return fd >= 0 ? Status::Ok() : Status::Error("packet socket");
              }).ok());
  // Straight to the tap's driver, past its qdisc: each frame is in the tap's queue when sendto
  // returns. (Through the qdisc the kernel may send them a moment later from a softirq: on a busy
  // machine, CI once found none of three frames queued right after sending them.)
  const int one = 1;
  ASSERT_EQ(setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one), 0);
  ifreq request{};
  std::strncpy(request.ifr_name, kTap, IFNAMSIZ - 1);
  ASSERT_EQ(ioctl(fd, SIOCGIFINDEX, &request), 0);
  for (const std::string& frame : frames) {
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = request.ifr_ifindex;
    to.sll_halen = 6;
    std::memcpy(to.sll_addr, frame.data(), 6);
    EXPECT_EQ(sendto(fd, frame.data(), frame.size(), 0, reinterpret_cast<const sockaddr*>(&to),
                     sizeof to),
              static_cast<ssize_t>(frame.size()));
  }
  close(fd);
}

// The test's frames waiting in the tap behind `fd`, without their virtio header, in order.
std::vector<std::string> ReadTap(int fd) {
  std::vector<std::string> frames;
  char buffer[70000];
  for (ssize_t got; (got = read(fd, buffer, sizeof buffer)) > 0;) {
    if (got < kHeaderBytes + 14) continue;
    std::string frame(buffer + kHeaderBytes, static_cast<size_t>(got) - kHeaderBytes);
    if (std::memcmp(frame.data() + 12, kEtherType, 2) == 0) frames.push_back(frame);
  }
  return frames;
}

class TapHandoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "needs root (network namespaces, another process's tap)";
    TearDown();
    for (const std::string& netns : {kFrom, kTo}) {
      for (const std::vector<std::string>& argv : std::vector<std::vector<std::string>>{
               {"ip", "netns", "add", netns},
               // No IPv6 on the taps: its router solicitations would queue beside the test's.
               {"ip", "netns", "exec", netns, "sysctl", "-qw",
                "net.ipv6.conf.default.disable_ipv6=1"},
               {"ip", "-n", netns, "tuntap", "add", "dev", kTap, "mode", "tap"},
               {"ip", "-n", netns, "link", "set", kTap, "up"}})
        ASSERT_TRUE(RunChecked(argv).ok()) << argv[3];
    }
  }
  void TearDown() override {
    for (int* fd : {&from_, &to_}) {
      if (*fd >= 0) close(*fd);
      *fd = -1;
    }
    for (const std::string& netns : {kFrom, kTo}) (void)RunCommand({"ip", "netns", "del", netns});
  }
  int from_ = -1, to_ = -1;
};

TEST_F(TapHandoverTest, WhatWaitsInTheSourcesTapComesOutOfTheDestinations) {
  from_ = OpenTap(kFrom);
  ASSERT_GE(from_, 0);
  // Prepared while only the source's tap is held (by this process, as its QEMU holds it).
  Result<TapHandover> handover = TapHandover::Prepare(getpid(), kTap, kFrom, kTo);
  ASSERT_TRUE(handover.ok()) << handover.error();
  to_ = OpenTap(kTo);
  ASSERT_GE(to_, 0);
  Result<int> none = handover->Hand();
  ASSERT_TRUE(none.ok()) << none.error();
  EXPECT_EQ(*none, 0);

  // The guest paused: three frames wait for it, a full-sized one among them.
  const std::vector<std::string> sent = {Frame(1, 60), Frame(2, 1514), Frame(3, 98)};
  QueueInTap(kFrom, sent);
  Result<int> handed = handover->Hand();
  ASSERT_TRUE(handed.ok()) << handed.error();
  EXPECT_EQ(*handed, 3);
  EXPECT_EQ(ReadTap(to_), sent);        // at the destination, whole and in order
  EXPECT_TRUE(ReadTap(from_).empty());  // taken from the source: not left to be lost
  // Called again: only what came since.
  QueueInTap(kFrom, {Frame(4, 60)});
  handed = handover->Hand();
  ASSERT_TRUE(handed.ok()) << handed.error();
  EXPECT_EQ(*handed, 1);
  EXPECT_EQ(ReadTap(to_), std::vector<std::string>{Frame(4, 60)});

  // The switchover failed: the guest runs on its source again and gets them all back.
  Result<int> back = handover->GiveBack();
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(*back, 4);
  EXPECT_EQ(ReadTap(from_),
            (std::vector<std::string>{Frame(1, 60), Frame(2, 1514), Frame(3, 98), Frame(4, 60)}));
}

TEST_F(TapHandoverTest, RefusesWhatIsNotThere) {
  Result<TapHandover> none = TapHandover::Prepare(getpid(), kTap, kFrom, kTo);
  EXPECT_TRUE(none.status().IsNotFound()) << none.status().message();  // nobody holds the tap
  from_ = OpenTap(kFrom);
  EXPECT_FALSE(TapHandover::Prepare(0, kTap, kFrom, kTo).ok());
  Result<TapHandover> other = TapHandover::Prepare(getpid(), "t-other", kFrom, kTo);
  EXPECT_TRUE(other.status().IsNotFound()) << other.status().message();
  EXPECT_FALSE(TapHandover::Prepare(getpid(), kTap, kFrom, "gsth-nowhere").ok());
  // The destination's tap missing when the frames are handed: an error, the frames kept.
  Result<TapHandover> handover = TapHandover::Prepare(getpid(), kTap, kFrom, kTo);
  ASSERT_TRUE(handover.ok()) << handover.error();
  ASSERT_TRUE(RunChecked({"ip", "-n", kTo, "link", "del", kTap}).ok());
  QueueInTap(kFrom, {Frame(1, 60)});
  EXPECT_FALSE(handover->Hand().ok());
  Result<int> back = handover->GiveBack();
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(*back, 1);
  EXPECT_EQ(ReadTap(from_), std::vector<std::string>{Frame(1, 60)});
}

}  // namespace
}  // namespace greenshift::lab
