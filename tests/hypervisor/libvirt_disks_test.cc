// Which disks of a libvirt domain a migration copies: read from the domain's XML (as libvirt
// writes it, and as a broken or hostile daemon might), then chosen by kind and by the hosts'
// shared directories.
#include <gtest/gtest.h>

#include "hypervisor/libvirt/libvirt_driver.h"
#include "lab/guest.h"

namespace greenshift::libvirt {
namespace {

// A domain as `virsh dumpxml` gives it, trimmed: a local qcow2, a raw file on NFS, an LVM
// volume, an installation ISO, an RBD (network) disk, a cluster disk, an empty CD drive.
const char* kDomain = R"(<domain type='kvm' id='7'>
  <name>db</name>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/db.qcow2' index='3'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source file='/srv/nfs/vms/db-data.raw'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <disk type='block' device='disk'>
      <source dev='/dev/vg0/db-logs'/>
      <target dev='vdc' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <source file='/var/lib/libvirt/images/debian.iso'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
    <disk type='network' device='disk'>
      <source protocol='rbd' name='pool/db-archive'>
        <host name='ceph1.example' port='6789'/>
      </source>
      <target dev='vdd' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <source file='/var/lib/libvirt/images/quorum.raw'/>
      <target dev='vde' bus='virtio'/>
      <shareable/>
    </disk>
    <disk type='file' device='cdrom'>
      <target dev='sdb' bus='sata'/>
    </disk>
    <interface type='bridge'><source bridge='br0'/></interface>
  </devices>
</domain>)";

TEST(LibvirtDisksTest, EveryDiskOfTheDomainIsReadWithItsKindAndSource) {
  Result<std::vector<DomainDisk>> disks = ParseDomainDisks(kDomain);
  ASSERT_TRUE(disks.ok()) << disks.error();
  ASSERT_EQ(disks->size(), 7u);
  EXPECT_EQ((*disks)[0].target, "vda");
  EXPECT_EQ((*disks)[0].type, "file");
  EXPECT_EQ((*disks)[0].device, "disk");
  EXPECT_EQ((*disks)[0].source, "/var/lib/libvirt/images/db.qcow2");
  EXPECT_EQ((*disks)[2].source, "/dev/vg0/db-logs");  // a block device's source is dev=
  EXPECT_TRUE((*disks)[3].readonly);
  EXPECT_EQ((*disks)[3].device, "cdrom");
  EXPECT_EQ((*disks)[4].type, "network");
  EXPECT_EQ((*disks)[4].source, "");  // a network disk names a protocol, not a path
  EXPECT_TRUE((*disks)[5].shareable);
  EXPECT_EQ((*disks)[6].source, "");  // an empty drive
}

TEST(LibvirtDisksTest, LocalWritableFileAndBlockDisksAreCopiedUnlessBothHostsShareThem) {
  Result<std::vector<DomainDisk>> disks = ParseDomainDisks(kDomain);
  ASSERT_TRUE(disks.ok()) << disks.error();
  auto targets = [](const std::vector<DomainDisk>& chosen) {
    std::vector<std::string> out;
    for (const DomainDisk& d : chosen) out.push_back(d.target);
    return out;
  };
  // Nothing declared shared: every local writable disk goes (the ISO, the RBD disk, the cluster
  // disk and the empty drive never do).
  EXPECT_EQ(targets(DisksToCopy(*disks, {})), (std::vector<std::string>{"vda", "vdb", "vdc"}));
  // The NFS directory declared shared (with a trailing slash, as an operator may write it).
  EXPECT_EQ(targets(DisksToCopy(*disks, {"/srv/nfs/"})), (std::vector<std::string>{"vda", "vdc"}));
  EXPECT_EQ(targets(DisksToCopy(*disks, {"/srv/nfs/vms", "/var/lib/libvirt/images", "/dev/vg0"})),
            std::vector<std::string>{});
}

TEST(LibvirtDisksTest, ASharedDirectoryHoldsWholePathComponentsOnly) {
  EXPECT_TRUE(UnderSharedPath("/srv/nfs/vm.qcow2", {"/srv/nfs"}));
  EXPECT_TRUE(UnderSharedPath("/srv/nfs/a/b/vm.qcow2", {"/srv/nfs/"}));
  EXPECT_FALSE(UnderSharedPath("/srv/nfs2/vm.qcow2", {"/srv/nfs"}));  // another directory
  EXPECT_FALSE(UnderSharedPath("/srv/nfs", {"/srv/nfs"}));            // the directory itself
  EXPECT_FALSE(UnderSharedPath("/srv/nfs/vm.qcow2", {}));
  EXPECT_FALSE(UnderSharedPath("/srv/nfs/vm.qcow2", {""}));  // an empty entry shares nothing
  EXPECT_TRUE(UnderSharedPath("/anything", {"/"}));
}

TEST(LibvirtDisksTest, BrokenOrHostileXmlIsRefusedNotGuessed) {
  // Not XML, another root, a disk without a target: refused, naming what is wrong.
  for (const char* xml :
       {"", "not xml", "<domain><devices><disk type='file'>", "<pool><devices/></pool>"}) {
    Result<std::vector<DomainDisk>> r = ParseDomainDisks(xml);
    EXPECT_FALSE(r.ok()) << xml;
    EXPECT_TRUE(r.status().IsInvalid()) << xml;
  }
  Result<std::vector<DomainDisk>> no_target = ParseDomainDisks(
      "<domain><devices><disk type='file'><source file='/x.qcow2'/></disk></devices></domain>");
  ASSERT_FALSE(no_target.ok());
  EXPECT_NE(no_target.error().find("no <target"), std::string::npos) << no_target.error();
  // An external entity is not fetched (no network, no files): the parse refuses or leaves it out.
  Result<std::vector<DomainDisk>> entity = ParseDomainDisks(
      "<!DOCTYPE domain [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
      "<domain><devices><disk type='file'><source file='&x;'/><target dev='vda'/></disk>"
      "</devices></domain>");
  if (entity.ok()) {
    ASSERT_EQ(entity->size(), 1u);
    EXPECT_EQ((*entity)[0].source.find("root:"), std::string::npos);
  }
  // Quotes and entities in a path are the path's.
  Result<std::vector<DomainDisk>> quoted = ParseDomainDisks(
      "<domain><devices><disk type='file'><source file=\"/srv/a&amp;b/it's.qcow2\"/>"
      "<target dev='vda'/></disk></devices></domain>");
  ASSERT_TRUE(quoted.ok()) << quoted.error();
  EXPECT_EQ((*quoted)[0].source, "/srv/a&b/it's.qcow2");
  EXPECT_EQ((*quoted)[0].device, "disk");  // libvirt's default device
}

// The lab's guest "web" with a 1 GiB disk (storage "copy" unless a test says otherwise).
lab::GuestSpec LabGuestWithADisk() {
  lab::GuestSpec guest;
  guest.vm.name = "web";
  guest.vm.disk_gib = 1;
  guest.ip_cidr = "198.18.128.10/16";
  guest.mac = "52:54:00:12:34:56";
  return guest;
}

TEST(LibvirtDisksTest, TheLabGuestsDiskIsOneLocalQcow2ThatMovesWithIt) {
  lab::GuestSpec guest = LabGuestWithADisk();
  Result<std::vector<DomainDisk>> disks =
      ParseDomainDisks(lab::GuestDomainXml(guest, "/guest", "tcg", "br0"));
  ASSERT_TRUE(disks.ok()) << disks.error();
  ASSERT_EQ(disks->size(), 1u);
  EXPECT_EQ((*disks)[0].source, std::string(lab::kLibvirtImageDir) + "/web.qcow2");
  EXPECT_EQ((*disks)[0].target, "vda");  // what the guest's init writes to
  EXPECT_EQ(DisksToCopy(*disks, {}).size(), 1u);
  guest.vm.disk_gib = 0;
  Result<std::vector<DomainDisk>> none =
      ParseDomainDisks(lab::GuestDomainXml(guest, "/guest", "tcg", "br0"));
  ASSERT_TRUE(none.ok()) << none.error();
  EXPECT_TRUE(none->empty());
}

TEST(LibvirtDisksTest, TheLabGuestsTapIsNamedAsTheQemuDriversOnEveryHost) {
  // The lab hands the frames waiting in the source's tap to the destination's tap of the same
  // name (lab/tap_handover.h): libvirt's own names (vnet0, vnet1, ...) differ from host to host.
  lab::GuestSpec guest = LabGuestWithADisk();
  const std::string xml = lab::GuestDomainXml(guest, "/guest", "tcg", "br0");
  const size_t nic = xml.find("<interface type='bridge'>");
  ASSERT_NE(nic, std::string::npos) << xml;
  const size_t target = xml.find("<target dev='t-web'/>", nic);
  EXPECT_NE(target, std::string::npos) << xml;
  EXPECT_LT(target, xml.find("</interface>", nic)) << xml;
  guest.vm.name = "db-1";
  EXPECT_NE(lab::GuestDomainXml(guest, "/guest", "tcg", "br0").find("<target dev='t-db-1'/>"),
            std::string::npos);
}

TEST(LibvirtDisksTest, TheLabGuestsSharedDiskIsANetworkDiskThatStays) {
  lab::GuestSpec guest = LabGuestWithADisk();
  // What the lab's storage gives each protocol (lab::SharedDiskFor), and what libvirt must be
  // told: iSCSI's LUN 1 in the name, NFS without a port (libvirt refuses one: "port cannot be
  // specified in 'nfs' protocol host") and as root, NBD's export by name.
  struct Case {
    std::string protocol, export_name;
    int port;
    std::vector<std::string> wanted;
  };
  const std::vector<Case> cases = {
      {"nbd", "web", 10809, {"protocol='nbd' name='web'", "port='10809'", "type='raw'"}},
      {"iscsi",
       "iqn.2026-11.org.greenshift:web",
       3260,
       {"protocol='iscsi' name='iqn.2026-11.org.greenshift:web/1'", "port='3260'", "type='raw'"}},
      {"nfs",
       "/lab/storage/nfs/web.qcow2",
       2049,
       {"protocol='nfs' name='/lab/storage/nfs/web.qcow2'", "<identity user='+0' group='+0'/>",
        "type='qcow2'"}},
  };
  for (const Case& c : cases) {
    guest.storage = c.protocol;
    guest.shared_disk = {c.protocol, "198.19.254.1", c.port, c.export_name};
    const std::string xml = lab::GuestDomainXml(guest, "/guest", "tcg", "br0");
    for (const std::string& wanted : c.wanted)
      EXPECT_NE(xml.find(wanted), std::string::npos) << c.protocol << ": " << wanted << "\n" << xml;
    EXPECT_EQ(xml.find("port=") == std::string::npos, c.protocol == "nfs") << xml;
    Result<std::vector<DomainDisk>> disks = ParseDomainDisks(xml);
    ASSERT_TRUE(disks.ok()) << disks.error();
    ASSERT_EQ(disks->size(), 1u) << c.protocol;
    EXPECT_EQ((*disks)[0].type, "network");
    EXPECT_EQ((*disks)[0].target, "vda");
    // Named in errors (a storage server that stops answering): which protocol, from where.
    EXPECT_EQ((*disks)[0].protocol, c.protocol);
    EXPECT_EQ((*disks)[0].host, "198.19.254.1");
    EXPECT_TRUE(DisksToCopy(*disks, {}).empty()) << c.protocol << ": a shared disk never moves";
  }
}

}  // namespace
}  // namespace greenshift::libvirt
