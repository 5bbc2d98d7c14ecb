#include "lab/lab_driver.h"

#include <filesystem>

#include "hypervisor/libvirt/libvirt_driver.h"
#include "hypervisor/qemu/qemu_driver.h"
#include "lab/libvirt_hosts.h"
#include "lab/storage.h"

namespace greenshift::lab {

LabDriver OpenLabDriver(const LabState& state, const std::string& guest_dir_given,
                        const std::string& accel) {
  LabDriver lab;
  if (state.hypervisor == "libvirt") {
    // The daemon opens the kernel itself, from its own working directory.
    const std::string guest_dir =
        guest_dir_given.empty() ? "" : std::filesystem::absolute(guest_dir_given).string();
    libvirt::LibvirtDriverConfig config;
    for (const LabSite& site : state.sites) config.hosts.push_back(LibvirtHostFor(state, site));
    auto driver = std::make_unique<libvirt::LibvirtDriver>(config);
    libvirt::LibvirtDriver* raw = driver.get();
    const std::string bridge = state.sites.empty() ? "br0" : state.sites[0].bridge;
    lab.start = [raw, guest_dir, accel, bridge](const GuestSpec& guest, const std::string& site) {
      GS_RETURN_IF_ERROR(CheckGuest(guest));
      if (guest.vm.disk_gib > 0) {
        // The libvirt driver does not copy disks yet (its capabilities say so): a guest with a
        // disk it could not move is refused rather than started.
        return Status::Invalid("VM '" + guest.vm.name +
                               "': the libvirt lab gives guests no disk yet; use the qemu lab");
      }
      if (Result<hypervisor::VmInfo> existing = raw->GetVm(guest.vm.name); existing.ok())
        return Status::Conflict("a VM named '" + guest.vm.name + "' already runs on host " +
                                existing->host);
      return raw->CreateDomain(site, GuestDomainXml(guest, guest_dir, accel, bridge));
    };
    lab.driver = std::move(driver);
    return lab;
  }
  auto driver = std::make_unique<qemu::QemuDriver>(DriverConfigFor(state, guest_dir_given, accel));
  qemu::QemuDriver* raw = driver.get();
  lab.start = [raw, state](const GuestSpec& given, const std::string& site) {
    if (!IsSharedStorage(given.storage) || given.vm.disk_gib <= 0)
      return StartGuest(*raw, given, site);
    // Its disk on the lab's shared storage, exported under its name.
    GS_RETURN_IF_ERROR(CheckGuest(given));
    if (Result<hypervisor::VmInfo> existing = raw->GetVm(given.vm.name); existing.ok())
      return Status::Conflict("a VM named '" + given.vm.name + "' already runs on site " +
                              existing->host);
    GS_RETURN_IF_ERROR(AddSharedDisk(state, given.vm.name, given.vm.disk_gib, given.storage));
    GuestSpec guest = given;
    guest.shared_disk = SharedDiskFor(guest.vm.name, guest.storage, state);
    Status started = StartGuest(*raw, guest, site);
    if (!started.ok()) RemoveSharedDisk(state, guest.vm.name, guest.storage);
    return started;
  };
  lab.driver = std::move(driver);
  return lab;
}

}  // namespace greenshift::lab
