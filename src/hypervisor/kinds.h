// The drivers greenshift knows, and what a host of each needs in the config: the one place that
// knows them by name besides the factories that open them (cli/drivers.h for the service,
// lab/lab_driver.h for the lab). The config asks here instead of comparing names.
#pragma once

#include <string>
#include <vector>

namespace greenshift::hypervisor {

struct DriverKind {
  std::string name;
  std::string description;
  // A host's `address`: required or not, and what it is (in the driver's words).
  bool host_needs_address = false;
  std::string host_address_is;
  // Where the driver runs a host's VMs: its `address` (qemu: a lab site), else the host's name.
  bool location_is_address = false;
  // Two hosts may not share an address (one lab site is one host).
  bool addresses_unique = false;
  // VMs need an `address` (the IP they keep), with its prefix length: the lab's guests do.
  bool vm_needs_ip = false;
  // Hosts may say how their peers reach them and where migration streams go (libvirt).
  bool host_has_uris = false;
};

const std::vector<DriverKind>& DriverKinds();
// The kind named `name`, or null.
const DriverKind* FindDriverKind(const std::string& name);
// "qemu, sim, libvirt": for error messages.
std::string DriverKindNames();

}  // namespace greenshift::hypervisor
