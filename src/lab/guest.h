// The lab's guest: the project's own kernel and initramfs (src/lab/guest/), told by its kernel
// command line which address to keep and how fast to rewrite memory. Making such a guest is the
// lab's business, not the driver interface's: the lab turns a GuestSpec into what a concrete
// driver starts (a qemu::Machine), and keeps the guest's address and workload in the VM's
// metadata, so any driver that lists the VM shows them.
#pragma once

#include <map>
#include <string>

#include "core/status.h"
#include "hypervisor/driver.h"
#include "hypervisor/qemu/qemu_driver.h"

namespace greenshift::lab {

struct GuestSpec {
  hypervisor::VmSpec vm;  // name, memory, vCPUs
  // The guest's memory-dirtying workload: rate in MB/s (0: idle) over a buffer of this size
  // (its writable working set).
  double dirty_mb_s = 0;
  int dirty_size_mib = 0;
  // Its disk workload (needs vm.disk_gib > 0): checksummed records written at this rate, MB/s
  // (0: none). See guest/disk_record.h and disk_check.h.
  double disk_mb_s = 0;
  int disk_fill_mib = 0;  // written at full speed first (a disk that holds data)
  // Where the disk lives: "copy" (on the VM's site, copied along), or shared on the lab's
  // storage over "nbd", "iscsi" or "nfs" (the lab fills in `shared_disk`).
  std::string storage = "copy";
  qemu::SharedDisk shared_disk;
  std::string ip_cidr;  // the address the guest keeps wherever it runs, e.g. 198.18.128.10/16
  std::string mac;      // e.g. 52:54:00:12:34:56
};

// Memory the guest needs besides its dirty buffer (kernel, initramfs, page cache).
constexpr int kGuestBaseMib = 96;

// Invalid, naming what is wrong: a dirty buffer that does not fit, a rate without a buffer, disk
// writes without a disk, no address or MAC.
Status CheckGuest(const GuestSpec& guest);
// What the guest's init reads: gs.name, gs.ip, gs.dirty_mb_s, gs.dirty_size_mib, gs.disk_mb_s,
// gs.disk_fill_mib.
std::string GuestKernelCommandLine(const GuestSpec& guest);
// The metadata kept with the VM ("ip", "mac", "dirty_mb_s", "dirty_size_mib", "disk_mb_s",
// "disk_fill_mib").
std::map<std::string, std::string> GuestMetadata(const GuestSpec& guest);
// The guest a listed VM is (its spec and metadata); fields its metadata lacks stay empty.
GuestSpec GuestOf(const hypervisor::VmInfo& info);

// The guest as the qemu driver starts it.
qemu::Machine GuestMachine(const GuestSpec& guest);
// Checks the guest and starts it on `site`.
Status StartGuest(qemu::QemuDriver& driver, const GuestSpec& guest, const std::string& site);

// Where a libvirt lab guest's disk image is, inside every site's daemon: <dir>/<vm>.qcow2. The
// same path on every host, as libvirt's copy of a disk needs (each site's daemon sees its own
// directory there: libvirt_hosts.h).
inline constexpr const char* kLibvirtImageDir = "/var/lib/libvirt/images";

// The guest as a libvirt domain (transient): the same kernel, initramfs and command line, its NIC
// on the site's bridge `bridge` through a tap named as the qemu driver's (qemu::TapName), its
// console in the daemon's log directory, its metadata in the domain's <metadata>, its disk
// (vm.disk_gib > 0) on virtio: a qcow2 image in kLibvirtImageDir, or, when `shared_disk` has a
// host, a network disk of its protocol (nbd, iscsi, nfs). `accel`: tcg (domain type qemu) or kvm.
// Names and values are escaped.
std::string GuestDomainXml(const GuestSpec& guest, const std::string& guest_dir,
                           const std::string& accel, const std::string& bridge);

}  // namespace greenshift::lab
