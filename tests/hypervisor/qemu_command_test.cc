#include <gtest/gtest.h>

#include <algorithm>

#include "hypervisor/qemu/qemu_driver.h"
#include "lab/guest.h"

namespace greenshift::qemu {
namespace {

QemuDriverConfig Config() {
  QemuDriverConfig config;
  config.state_dir = "/run/greenshift/t";
  config.kernel_path = "/g/vmlinuz";
  config.initrd_path = "/g/initramfs.cpio.gz";
  config.sites = {{"a", "t-a", "br0", "198.19.255.1"}, {"b", "t-b", "br0", "198.19.255.2"}};
  return config;
}

lab::GuestSpec Guest() {
  lab::GuestSpec guest;
  guest.vm.name = "web";
  guest.vm.memory_mib = 256;
  guest.dirty_mb_s = 50;
  guest.dirty_size_mib = 64;
  guest.ip_cidr = "198.18.128.10/16";
  guest.mac = "52:54:00:01:02:03";
  return guest;
}

Machine Spec() {
  return lab::GuestMachine(Guest());
}

std::string After(const std::vector<std::string>& argv, const std::string& flag) {
  auto it = std::find(argv.begin(), argv.end(), flag);
  return it == argv.end() || it + 1 == argv.end() ? "" : *(it + 1);
}

TEST(QemuCommandTest, SourceAndDestinationDifferOnlyInIncoming) {
  const auto source = BuildQemuCommand(Config(), Spec(), Config().sites[0], false);
  const auto destination = BuildQemuCommand(Config(), Spec(), Config().sites[1], true);
  EXPECT_EQ(After(source, "-m"), "256");
  EXPECT_EQ(After(source, "-accel"), "tcg");
  EXPECT_EQ(After(destination, "-incoming"), "defer");
  EXPECT_EQ(std::find(source.begin(), source.end(), "-incoming"), source.end());
  // Guest-visible configuration must match exactly for the state to load on the destination.
  for (const char* flag :
       {"-machine", "-m", "-smp", "-kernel", "-initrd", "-append", "-device", "-netdev"}) {
    EXPECT_EQ(After(source, flag), After(destination, flag)) << flag;
  }
  EXPECT_NE(After(source, "-pidfile"), After(destination, "-pidfile"));
}

TEST(QemuCommandTest, KernelCommandLineCarriesTheGuestSettings) {
  const auto argv = BuildQemuCommand(Config(), Spec(), Config().sites[0], false);
  const std::string cmdline = After(argv, "-append");
  EXPECT_EQ(cmdline, lab::GuestKernelCommandLine(Guest()));
  EXPECT_NE(cmdline.find("gs.ip=198.18.128.10/16"), std::string::npos);
  EXPECT_NE(cmdline.find("gs.dirty_mb_s=50"), std::string::npos);
  EXPECT_NE(cmdline.find("gs.dirty_size_mib=64"), std::string::npos);
  EXPECT_NE(cmdline.find("console=ttyS0"), std::string::npos);
}

TEST(QemuCommandTest, TheGuestIsReadBackFromTheVmsMetadata) {
  // What any driver lists of the VM is enough to know the lab guest again.
  hypervisor::VmInfo info;
  info.spec = Guest().vm;
  info.metadata = lab::GuestMetadata(Guest());
  const lab::GuestSpec back = lab::GuestOf(info);
  EXPECT_EQ(back.ip_cidr, "198.18.128.10/16");
  EXPECT_EQ(back.mac, "52:54:00:01:02:03");
  EXPECT_DOUBLE_EQ(back.dirty_mb_s, 50);
  EXPECT_EQ(back.dirty_size_mib, 64);
  // A VM the lab did not make has no guest address: empty, not invented.
  hypervisor::VmInfo foreign;
  foreign.spec.name = "db";
  EXPECT_EQ(lab::GuestOf(foreign).ip_cidr, "");
}

TEST(QemuCommandTest, AGuestThatCannotRunIsRefusedWithWhy) {
  lab::GuestSpec big = Guest();
  big.dirty_size_mib = 200;  // 256 MiB leaves 160 for the buffer
  EXPECT_NE(lab::CheckGuest(big).message().find("does not fit in its 256 MiB"), std::string::npos);
  lab::GuestSpec no_buffer = Guest();
  no_buffer.dirty_size_mib = 0;
  EXPECT_NE(lab::CheckGuest(no_buffer).message().find("no dirty buffer"), std::string::npos);
  lab::GuestSpec odd = Guest();
  odd.ip_cidr = "198.18.128.10/16 gs.dirty_mb_s=9999";  // a second setting smuggled in
  EXPECT_TRUE(lab::CheckGuest(odd).IsInvalid());
  EXPECT_TRUE(lab::CheckGuest(Guest()).ok());
}

TEST(QemuCommandTest, NicIsATapWithTheVmsMac) {
  const auto argv = BuildQemuCommand(Config(), Spec(), Config().sites[0], false);
  EXPECT_EQ(After(argv, "-netdev"), "tap,id=net0,ifname=t-web,script=no,downscript=no");
  EXPECT_EQ(After(argv, "-device"), "virtio-net-pci,netdev=net0,romfile=,mac=52:54:00:01:02:03");
  EXPECT_LE(TapName("abcdefghijkl").size(), 15u);  // IFNAMSIZ - 1
}

}  // namespace
}  // namespace greenshift::qemu
