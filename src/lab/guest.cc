#include "lab/guest.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/xml.h"
#include "hypervisor/libvirt/libvirt_driver.h"
#include "hypervisor/qemu/qemu_driver.h"

namespace greenshift::lab {

Status CheckGuest(const GuestSpec& guest) {
  const std::string& name = guest.vm.name;
  if (!(guest.dirty_mb_s >= 0) || !std::isfinite(guest.dirty_mb_s))
    return Status::Invalid("dirty rate of VM '" + name + "' must be a number >= 0");
  if (guest.dirty_size_mib < 0 || guest.dirty_size_mib > guest.vm.memory_mib - kGuestBaseMib) {
    return Status::Invalid("dirty buffer of VM '" + name + "' (" +
                           std::to_string(guest.dirty_size_mib) + " MiB) does not fit in its " +
                           std::to_string(guest.vm.memory_mib) + " MiB: the guest needs about " +
                           std::to_string(kGuestBaseMib) + " MiB besides");
  }
  if (guest.dirty_mb_s > 0 && guest.dirty_size_mib == 0) {
    return Status::Invalid("VM '" + name + "' dirties " +
                           std::to_string(std::lround(guest.dirty_mb_s)) +
                           " MB/s but has no dirty buffer: give it a size");
  }
  if (!(guest.disk_mb_s >= 0) || !std::isfinite(guest.disk_mb_s) || guest.disk_mb_s > 1000)
    return Status::Invalid("disk write rate of VM '" + name + "' must be 0..1000 MB/s");
  if (guest.disk_fill_mib < 0 || (guest.disk_fill_mib > 0 && guest.disk_mb_s <= 0) ||
      int64_t{guest.disk_fill_mib} > int64_t{guest.vm.disk_gib} * 1024) {
    return Status::Invalid("VM '" + name +
                           "': the disk fill must fit on its disk and needs a write rate");
  }
  if (guest.storage != "copy" && guest.storage != "nbd" && guest.storage != "iscsi" &&
      guest.storage != "nfs")
    return Status::Invalid("storage of VM '" + name + "' must be copy, nbd, iscsi or nfs, got '" +
                           guest.storage + "'");
  if (guest.storage != "copy" && guest.vm.disk_gib <= 0)
    return Status::Invalid("VM '" + name + "' has storage " + guest.storage +
                           " but no disk: give it a size");
  if (guest.disk_mb_s > 0 && guest.vm.disk_gib <= 0)
    return Status::Invalid("VM '" + name + "' writes to its disk but has none: give it a size");
  if (guest.ip_cidr.empty() || guest.mac.empty())
    return Status::Invalid("VM '" + name + "' needs an IP address and a MAC address");
  for (char c : guest.ip_cidr) {
    if (!std::isdigit(static_cast<unsigned char>(c)) && c != '.' && c != '/')
      return Status::Invalid("the address of VM '" + name + "' is not like 198.18.128.10/16: '" +
                             guest.ip_cidr + "'");
  }
  return Status::Ok();
}

namespace {

std::string Number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

}  // namespace

std::string GuestKernelCommandLine(const GuestSpec& guest) {
  return "console=ttyS0 panic=-1 quiet gs.name=" + guest.vm.name + " gs.ip=" + guest.ip_cidr +
         " gs.dirty_mb_s=" + std::to_string(std::lround(guest.dirty_mb_s)) +
         " gs.dirty_size_mib=" + std::to_string(guest.dirty_size_mib) +
         " gs.disk_mb_s=" + Number(guest.disk_mb_s) +
         " gs.disk_fill_mib=" + std::to_string(guest.disk_fill_mib);
}

std::map<std::string, std::string> GuestMetadata(const GuestSpec& guest) {
  return {{"ip", guest.ip_cidr},
          {"mac", guest.mac},
          {"dirty_mb_s", Number(guest.dirty_mb_s)},
          {"dirty_size_mib", std::to_string(guest.dirty_size_mib)},
          {"disk_mb_s", Number(guest.disk_mb_s)},
          {"disk_fill_mib", std::to_string(guest.disk_fill_mib)},
          {"storage", guest.vm.disk_gib > 0 ? guest.storage : std::string()}};
}

GuestSpec GuestOf(const hypervisor::VmInfo& info) {
  GuestSpec guest;
  guest.vm = info.spec;
  auto text = [&info](const char* key) {
    auto it = info.metadata.find(key);
    return it == info.metadata.end() ? std::string() : it->second;
  };
  guest.ip_cidr = text("ip");
  guest.mac = text("mac");
  guest.dirty_mb_s = std::strtod(text("dirty_mb_s").c_str(), nullptr);
  guest.dirty_size_mib = std::atoi(text("dirty_size_mib").c_str());
  guest.disk_mb_s = std::strtod(text("disk_mb_s").c_str(), nullptr);
  guest.disk_fill_mib = std::atoi(text("disk_fill_mib").c_str());
  if (!text("storage").empty()) guest.storage = text("storage");
  return guest;
}

qemu::Machine GuestMachine(const GuestSpec& guest) {
  qemu::Machine machine;
  machine.spec = guest.vm;
  machine.mac = guest.mac;
  machine.kernel_append = GuestKernelCommandLine(guest);
  machine.metadata = GuestMetadata(guest);
  machine.shared_disk = guest.shared_disk;
  return machine;
}

Status StartGuest(qemu::QemuDriver& driver, const GuestSpec& guest, const std::string& site) {
  GS_RETURN_IF_ERROR(CheckGuest(guest));
  return driver.StartVm(GuestMachine(guest), site);
}

namespace {

// The guest's disk as a libvirt <disk>: a qcow2 image in kLibvirtImageDir, or, shared on the
// lab's storage, a network disk of its protocol (the same server and export the qemu driver's
// -blockdev names), which a migration leaves where it is.
std::string DiskXml(const GuestSpec& guest) {
  if (guest.vm.disk_gib <= 0) return "";
  const qemu::SharedDisk& shared = guest.shared_disk;
  const std::string target = "      <target dev='vda' bus='virtio'/>\n";
  if (shared.host.empty()) {
    return "    <disk type='file' device='disk'>\n"
           "      <driver name='qemu' type='qcow2'/>\n"
           "      <source file='" +
           XmlEscape(std::string(kLibvirtImageDir) + "/" + guest.vm.name + ".qcow2") + "'/>\n" +
           target + "    </disk>\n";
  }
  // libvirt takes no port for NFS (libnfs asks the server's portmapper).
  const std::string host =
      "        <host name='" + XmlEscape(shared.host) + "'" +
      (shared.protocol == "nfs" ? "" : " port='" + std::to_string(shared.port) + "'") + "/>\n";
  std::string format = "raw";
  std::string source;
  if (shared.protocol == "iscsi") {
    // The target's LUN 1, as the qemu driver's blockdev.
    source = "      <source protocol='iscsi' name='" + XmlEscape(shared.export_name) + "/1'>\n" +
             host + "      </source>\n";
  } else if (shared.protocol == "nfs") {
    // The qcow2 image on the export, opened as root (the export does not squash root).
    format = "qcow2";
    source = "      <source protocol='nfs' name='" + XmlEscape(shared.export_name) + "'>\n" + host +
             "        <identity user='+0' group='+0'/>\n"
             "      </source>\n";
  } else {
    source = "      <source protocol='nbd' name='" + XmlEscape(shared.export_name) + "'>\n" + host +
             "      </source>\n";
  }
  return "    <disk type='network' device='disk'>\n"
         "      <driver name='qemu' type='" +
         format + "'/>\n" + source + target + "    </disk>\n";
}

}  // namespace

std::string GuestDomainXml(const GuestSpec& guest, const std::string& guest_dir,
                           const std::string& accel, const std::string& bridge) {
  const std::string name = XmlEscape(guest.vm.name);
  const std::string console = "/var/log/libvirt/" + name + ".console";
  return "<domain type='" + std::string(accel == "kvm" ? "kvm" : "qemu") +
         "'>\n"
         "  <name>" +
         name +
         "</name>\n"
         "  <memory unit='MiB'>" +
         std::to_string(guest.vm.memory_mib) +
         "</memory>\n"
         "  <vcpu>" +
         std::to_string(guest.vm.vcpus) +
         "</vcpu>\n"
         "  <metadata>" +
         libvirt::MetadataElement(GuestMetadata(guest)) +
         "</metadata>\n"
         "  <os>\n"
         "    <type arch='x86_64' machine='pc'>hvm</type>\n"
         "    <kernel>" +
         XmlEscape(guest_dir + "/vmlinuz") +
         "</kernel>\n"
         "    <initrd>" +
         XmlEscape(guest_dir + "/initramfs.cpio.gz") +
         "</initrd>\n"
         "    <cmdline>" +
         XmlEscape(GuestKernelCommandLine(guest)) +
         "</cmdline>\n"
         "  </os>\n"
         // As the qemu driver's guest: ACPI on (libvirt turns it off unless asked), no USB.
         "  <features><acpi/></features>\n"
         "  <on_poweroff>destroy</on_poweroff>\n"
         "  <on_reboot>destroy</on_reboot>\n"
         "  <on_crash>destroy</on_crash>\n"
         "  <devices>\n" +
         DiskXml(guest) +
         "    <interface type='bridge'>\n"
         "      <source bridge='" +
         XmlEscape(bridge) +
         "'/>\n"
         "      <mac address='" +
         XmlEscape(guest.mac) +
         "'/>\n"
         // The tap named as the qemu driver names it, the same on every host (each site's daemon
         // makes it in its own namespace): the lab hands what waits in it at the switchover to
         // the destination's tap of that name (tap_handover.h), which libvirt's own vnetN
         // names, chosen per host, would not let it find.
         "      <target dev='" +
         XmlEscape(qemu::TapName(guest.vm.name)) +
         "'/>\n"
         "      <model type='virtio'/>\n"
         "      <rom enabled='no'/>\n"
         "    </interface>\n"
         "    <serial type='file'><source path='" +
         console +
         "' append='on'/></serial>\n"
         "    <console type='file'><source path='" +
         console +
         "' append='on'/></console>\n"
         "    <video><model type='none'/></video>\n"
         "    <controller type='usb' model='none'/>\n"
         "    <memballoon model='none'/>\n"
         "  </devices>\n"
         "</domain>\n";
}

}  // namespace greenshift::lab
