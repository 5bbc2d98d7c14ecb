#include "lab/guest.h"

#include <cmath>
#include <cctype>
#include <cstdio>
#include <cstdlib>

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
  if (guest.ip_cidr.empty() || guest.mac.empty())
    return Status::Invalid("VM '" + name + "' needs an IP address and a MAC address");
  for (char c : guest.ip_cidr) {
    if (!std::isdigit(static_cast<unsigned char>(c)) && c != '.' && c != '/')
      return Status::Invalid("the address of VM '" + name + "' is not like 198.18.128.10/16: '" +
                             guest.ip_cidr + "'");
  }
  return Status::Ok();
}

std::string GuestKernelCommandLine(const GuestSpec& guest) {
  return "console=ttyS0 panic=-1 quiet gs.name=" + guest.vm.name + " gs.ip=" + guest.ip_cidr +
         " gs.dirty_mb_s=" + std::to_string(std::lround(guest.dirty_mb_s)) +
         " gs.dirty_size_mib=" + std::to_string(guest.dirty_size_mib);
}

std::map<std::string, std::string> GuestMetadata(const GuestSpec& guest) {
  char rate[32];
  std::snprintf(rate, sizeof rate, "%g", guest.dirty_mb_s);
  return {{"ip", guest.ip_cidr},
          {"mac", guest.mac},
          {"dirty_mb_s", rate},
          {"dirty_size_mib", std::to_string(guest.dirty_size_mib)}};
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
  return guest;
}

qemu::Machine GuestMachine(const GuestSpec& guest) {
  qemu::Machine machine;
  machine.spec = guest.vm;
  machine.mac = guest.mac;
  machine.kernel_append = GuestKernelCommandLine(guest);
  machine.metadata = GuestMetadata(guest);
  return machine;
}

Status StartGuest(qemu::QemuDriver& driver, const GuestSpec& guest, const std::string& site) {
  GS_RETURN_IF_ERROR(CheckGuest(guest));
  return driver.StartVm(GuestMachine(guest), site);
}

}  // namespace greenshift::lab
