#include <gtest/gtest.h>

#include <algorithm>

#include "hypervisor/qemu/qemu_driver.h"

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

hypervisor::VmSpec Spec() {
  hypervisor::VmSpec spec;
  spec.name = "web";
  spec.memory_mib = 256;
  spec.dirty_mb_s = 50;
  spec.dirty_size_mib = 64;
  spec.ip_cidr = "198.18.128.10/16";
  spec.mac = "52:54:00:01:02:03";
  return spec;
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
  const std::string cmdline = KernelCommandLine(Spec());
  EXPECT_NE(cmdline.find("gs.ip=198.18.128.10/16"), std::string::npos);
  EXPECT_NE(cmdline.find("gs.dirty_mb_s=50"), std::string::npos);
  EXPECT_NE(cmdline.find("gs.dirty_size_mib=64"), std::string::npos);
  EXPECT_NE(cmdline.find("console=ttyS0"), std::string::npos);
}

TEST(QemuCommandTest, NicIsATapWithTheVmsMac) {
  const auto argv = BuildQemuCommand(Config(), Spec(), Config().sites[0], false);
  EXPECT_EQ(After(argv, "-netdev"), "tap,id=net0,ifname=t-web,script=no,downscript=no");
  EXPECT_EQ(After(argv, "-device"), "virtio-net-pci,netdev=net0,romfile=,mac=52:54:00:01:02:03");
  EXPECT_LE(TapName("abcdefghijkl").size(), 15u);  // IFNAMSIZ - 1
}

}  // namespace
}  // namespace greenshift::qemu
