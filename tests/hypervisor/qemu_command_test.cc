#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

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

TEST(QemuCommandTest, TheStateGoesWithoutItsDescriptionUnlessTheRecordSaysOtherwise) {
  // A machine greenshift starts now leaves QEMU's ~100 KB description of the device state out
  // of the pause; source and destination are started alike, from the same record.
  const Machine machine = Spec();
  EXPECT_EQ(After(BuildQemuCommand(Config(), machine, Config().sites[0], false), "-machine"),
            "pc,suppress-vmdesc=on");
  EXPECT_EQ(After(BuildQemuCommand(Config(), machine, Config().sites[1], true), "-machine"),
            "pc,suppress-vmdesc=on");
  // Its record keeps the setting.
  const Machine back = MachineFromJson(MachineToJson(machine));
  EXPECT_TRUE(back.suppress_vmdesc);
  EXPECT_EQ(After(BuildQemuCommand(Config(), back, Config().sites[1], true), "-machine"),
            "pc,suppress-vmdesc=on");
  // A record written before the setting existed is of a QEMU that sends the description: its
  // destination must expect it too (else it stops reading before the source has sent it all).
  nlohmann::json old_record = MachineToJson(machine);
  old_record.erase("suppress_vmdesc");
  const Machine old = MachineFromJson(old_record);
  EXPECT_FALSE(old.suppress_vmdesc);
  EXPECT_EQ(After(BuildQemuCommand(Config(), old, Config().sites[1], true), "-machine"), "pc");
  // The rest of the machine reads back as it was written.
  EXPECT_EQ(old.mac, machine.mac);
  EXPECT_EQ(old.kernel_append, machine.kernel_append);
  EXPECT_EQ(old.spec.memory_mib, machine.spec.memory_mib);
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

TEST(QemuCommandTest, ADiskIsAQcow2OnItsSiteOrAnNbdExport) {
  lab::GuestSpec guest = Guest();
  guest.vm.disk_gib = 4;
  guest.disk_mb_s = 5;
  const auto source =
      BuildQemuCommand(Config(), lab::GuestMachine(guest), Config().sites[0], false);
  const auto destination =
      BuildQemuCommand(Config(), lab::GuestMachine(guest), Config().sites[1], true);
  const nlohmann::json on_a = nlohmann::json::parse(After(source, "-blockdev"));
  const nlohmann::json on_b = nlohmann::json::parse(After(destination, "-blockdev"));
  EXPECT_EQ(on_a["driver"], "qcow2");
  EXPECT_EQ(on_a["node-name"], "disk0");
  EXPECT_EQ(on_a["file"]["filename"], "/run/greenshift/t/disks/a/web.qcow2");
  EXPECT_EQ(on_b["file"]["filename"], "/run/greenshift/t/disks/b/web.qcow2");
  EXPECT_EQ(DiskPath(Config(), "web", "b"), "/run/greenshift/t/disks/b/web.qcow2");
  auto device = [](const std::vector<std::string>& argv) {
    return std::count(argv.begin(), argv.end(), "virtio-blk-pci,drive=disk0,id=disk0-dev");
  };
  EXPECT_EQ(device(source), 1);
  EXPECT_EQ(device(destination), 1);
  EXPECT_NE(After(source, "-append").find("gs.disk_mb_s=5 "), std::string::npos);

  // Shared: the same NBD export from both sites.
  guest.storage = "nbd";
  guest.shared_disk = {"nbd", "198.19.254.1", 10809, "web"};
  const auto shared_a =
      BuildQemuCommand(Config(), lab::GuestMachine(guest), Config().sites[0], false);
  const auto shared_b =
      BuildQemuCommand(Config(), lab::GuestMachine(guest), Config().sites[1], true);
  EXPECT_EQ(After(shared_a, "-blockdev"), After(shared_b, "-blockdev"));
  const nlohmann::json nbd = nlohmann::json::parse(After(shared_a, "-blockdev"));
  EXPECT_EQ(nbd["driver"], "nbd");
  EXPECT_EQ(nbd["server"]["host"], "198.19.254.1");
  EXPECT_EQ(nbd["server"]["port"], "10809");
  EXPECT_EQ(nbd["export"], "web");

  // iSCSI: the same target and LUN from both sites, each site its own initiator (two sessions
  // while the migration runs, not one taking the other over).
  guest.storage = "iscsi";
  guest.shared_disk = {"iscsi", "198.19.254.1", 3260, "iqn.2026-11.org.greenshift:web"};
  const nlohmann::json iscsi_a = nlohmann::json::parse(After(
      BuildQemuCommand(Config(), lab::GuestMachine(guest), Config().sites[0], false), "-blockdev"));
  const nlohmann::json iscsi_b = nlohmann::json::parse(After(
      BuildQemuCommand(Config(), lab::GuestMachine(guest), Config().sites[1], true), "-blockdev"));
  EXPECT_EQ(iscsi_a["driver"], "iscsi");
  EXPECT_EQ(iscsi_a["node-name"], "disk0");
  EXPECT_EQ(iscsi_a["portal"], "198.19.254.1:3260");
  EXPECT_EQ(iscsi_a["target"], "iqn.2026-11.org.greenshift:web");
  EXPECT_EQ(iscsi_a["lun"], 1);
  EXPECT_EQ(iscsi_a["initiator-name"], "iqn.2026-11.org.greenshift:host.a");
  EXPECT_EQ(iscsi_b["initiator-name"], "iqn.2026-11.org.greenshift:host.b");
  EXPECT_EQ(iscsi_a["target"], iscsi_b["target"]);

  // NFS: a qcow2 image read through libnfs, the same path from both sites.
  guest.storage = "nfs";
  guest.shared_disk = {"nfs", "198.19.254.1", 2049, "/var/lib/x/storage/nfs/web.qcow2"};
  const auto nfs_a = BuildQemuCommand(Config(), lab::GuestMachine(guest), Config().sites[0], false);
  const auto nfs_b = BuildQemuCommand(Config(), lab::GuestMachine(guest), Config().sites[1], true);
  EXPECT_EQ(After(nfs_a, "-blockdev"), After(nfs_b, "-blockdev"));
  const nlohmann::json nfs = nlohmann::json::parse(After(nfs_a, "-blockdev"));
  EXPECT_EQ(nfs["driver"], "qcow2");
  EXPECT_EQ(nfs["file"]["driver"], "nfs");
  EXPECT_EQ(nfs["file"]["server"]["host"], "198.19.254.1");
  EXPECT_EQ(nfs["file"]["path"], "/var/lib/x/storage/nfs/web.qcow2");

  // Without a disk, no block device at all.
  const auto diskless = BuildQemuCommand(Config(), Spec(), Config().sites[0], false);
  EXPECT_EQ(std::find(diskless.begin(), diskless.end(), "-blockdev"), diskless.end());
}

TEST(QemuCommandTest, DiskSettingsThatCannotWorkAreRefusedWithWhy) {
  lab::GuestSpec writes_nowhere = Guest();
  writes_nowhere.disk_mb_s = 5;  // no disk
  EXPECT_NE(lab::CheckGuest(writes_nowhere).message().find("has none"), std::string::npos);
  lab::GuestSpec overfull = Guest();
  overfull.vm.disk_gib = 1;
  overfull.disk_mb_s = 5;
  overfull.disk_fill_mib = 2048;
  EXPECT_NE(lab::CheckGuest(overfull).message().find("must fit"), std::string::npos);
  lab::GuestSpec nan_rate = Guest();
  nan_rate.vm.disk_gib = 1;
  nan_rate.disk_mb_s = std::nan("");
  EXPECT_TRUE(lab::CheckGuest(nan_rate).IsInvalid());
  lab::GuestSpec ceph = Guest();
  ceph.vm.disk_gib = 1;
  ceph.storage = "rbd";
  EXPECT_NE(lab::CheckGuest(ceph).message().find("must be copy, nbd, iscsi or nfs, got 'rbd'"),
            std::string::npos);
  for (const char* storage : {"nbd", "iscsi", "nfs"}) {
    lab::GuestSpec shared = Guest();
    shared.vm.disk_gib = 1;
    shared.storage = storage;
    EXPECT_TRUE(lab::CheckGuest(shared).ok()) << storage;
    shared.vm.disk_gib = 0;
    EXPECT_NE(lab::CheckGuest(shared).message().find("has storage " + std::string(storage) +
                                                     " but no disk"),
              std::string::npos);
  }

  // What the metadata keeps is read back: a listed VM is the same guest with its disk.
  lab::GuestSpec disk = Guest();
  disk.vm.disk_gib = 2;
  disk.disk_mb_s = 2.5;
  disk.disk_fill_mib = 64;
  disk.storage = "nbd";
  hypervisor::VmInfo info;
  info.spec = disk.vm;
  info.metadata = lab::GuestMetadata(disk);
  const lab::GuestSpec back = lab::GuestOf(info);
  EXPECT_DOUBLE_EQ(back.disk_mb_s, 2.5);
  EXPECT_EQ(back.disk_fill_mib, 64);
  EXPECT_EQ(back.storage, "nbd");
}

TEST(QemuCommandTest, SharedDisksThatCannotBeReachedAreRefusedBeforeAnythingStarts) {
  char dir[] = "/tmp/gs-shared-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  QemuDriverConfig config = Config();
  config.state_dir = dir;
  QemuDriver driver(config);
  lab::GuestSpec guest = Guest();
  guest.vm.disk_gib = 1;
  guest.storage = "iscsi";
  guest.shared_disk = {"rbd", "198.19.254.1", 6789, "pool/web"};
  Status refused = driver.StartVm(lab::GuestMachine(guest), "a");
  EXPECT_TRUE(refused.IsInvalid());
  EXPECT_NE(refused.message().find("over nbd, iscsi or nfs, not 'rbd'"), std::string::npos);
  guest.shared_disk = {"iscsi", "198.19.254.1", 3260, ""};
  refused = driver.StartVm(lab::GuestMachine(guest), "a");
  EXPECT_NE(refused.message().find("needs a target IQN"), std::string::npos);
  guest.shared_disk = {"nfs", "198.19.254.1", 2049, ""};
  refused = driver.StartVm(lab::GuestMachine(guest), "a");
  EXPECT_NE(refused.message().find("needs a path on the server"), std::string::npos);
  guest.shared_disk = {"nbd", "198.19.254.1", 70000, "web"};
  refused = driver.StartVm(lab::GuestMachine(guest), "a");
  EXPECT_NE(refused.message().find("no valid port"), std::string::npos);
  // Nothing was recorded: the name is still free.
  EXPECT_TRUE(driver.GetVm("web").status().IsNotFound());
  std::system(("rm -rf " + std::string(dir)).c_str());
}

TEST(QemuCommandTest, NicIsATapWithTheVmsMac) {
  const auto argv = BuildQemuCommand(Config(), Spec(), Config().sites[0], false);
  EXPECT_EQ(After(argv, "-netdev"), "tap,id=net0,ifname=t-web,script=no,downscript=no");
  EXPECT_EQ(After(argv, "-device"), "virtio-net-pci,netdev=net0,romfile=,mac=52:54:00:01:02:03");
  EXPECT_LE(TapName("abcdefghijkl").size(), 15u);  // IFNAMSIZ - 1
}

// query-migrate's XBZRLE counters as a QEMU 10.0 source reported them here: the same process
// had migrated before (a try that timed out), so its counters did not start at zero.
TEST(ResentBytesTest, CountsThisMigrationsPagesFromTheCountersBeforeIt) {
  const nlohmann::json before = {{"cache-size", 67108864}, {"bytes", 20108948},
                                 {"pages", 942955},        {"cache-miss", 691591},
                                 {"overflow", 0},          {"encoding-rate", 121.5}};
  const nlohmann::json info = {{"status", "completed"},
                               {"ram", {{"transferred", 923128521}, {"page-size", 4096}}},
                               {"xbzrle-cache",
                                {{"cache-size", 67108864},
                                 {"bytes", 25048628},
                                 {"pages", 1175169},
                                 {"cache-miss", 855817},
                                 {"overflow", 12},
                                 {"encoding-rate", 290.1}}}};
  const auto [pages, wire] = ResentBytes(before, info);
  // 232,214 pages encoded in 4,939,680 bytes; 164,226 missed and 12 overflowed, sent whole.
  EXPECT_EQ(pages, (int64_t{232214} + 164226 + 12) * 4096);
  EXPECT_EQ(wire, int64_t{4939680} + (int64_t{164226} + 12) * 4096);
  // A fresh process: nothing before.
  const auto [fresh_pages, fresh_wire] = ResentBytes(nlohmann::json::object(), info);
  EXPECT_EQ(fresh_pages, (int64_t{1175169} + 855817 + 12) * 4096);
  EXPECT_EQ(fresh_wire, int64_t{25048628} + (int64_t{855817} + 12) * 4096);
}

TEST(ResentBytesTest, NoCountersNoFiguresAndBrokenCountersNeverNegative) {
  EXPECT_EQ(ResentBytes({}, {{"status", "completed"}, {"ram", {{"transferred", 1}}}}),
            std::make_pair(int64_t{-1}, int64_t{-1}));  // XBZRLE off (QEMU's defaults)
  EXPECT_EQ(ResentBytes({}, nlohmann::json::array()), std::make_pair(int64_t{-1}, int64_t{-1}));
  EXPECT_EQ(ResentBytes({}, {{"xbzrle-cache", "yes"}}), std::make_pair(int64_t{-1}, int64_t{-1}));
  // Counters lower than before (a QEMU that reset them) count from zero; text where a number
  // belongs counts as nothing; no page size means QEMU's 4 KiB.
  const auto [pages, wire] = ResentBytes(
      {{"pages", 100}, {"bytes", 5000}, {"cache-miss", 7}},
      {{"xbzrle-cache", {{"pages", 10}, {"bytes", 300}, {"cache-miss", "many"}, {"overflow", 1}}}});
  EXPECT_EQ(pages, (10 + 1) * 4096);
  EXPECT_EQ(wire, 300 + 1 * 4096);
}

}  // namespace
}  // namespace greenshift::qemu
