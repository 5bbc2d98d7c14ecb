#include "cli/drivers.h"

#include <algorithm>

#include "hypervisor/qemu/qemu_driver.h"
#include "hypervisor/sim/sim_driver.h"
#include "lab/guest.h"
#include "lab/lab.h"

namespace greenshift::cli {

namespace {

// The lab guest for VM `v` of the config: a guest that rewrites memory does so over its working
// set, or a quarter of its memory (at most 64 MiB: the lab's guests are small).
lab::GuestSpec GuestFor(const control::ServiceConfig& config, size_t v) {
  const control::VmConfig& vm = config.vms[v];
  lab::GuestSpec guest;
  guest.vm.name = vm.name;
  guest.vm.memory_mib = static_cast<int>(vm.memory_mib);
  guest.dirty_mb_s = vm.dirty_mb_s;
  guest.dirty_size_mib = vm.dirty_mb_s > 0
                             ? (vm.working_set_mib > 0 ? static_cast<int>(vm.working_set_mib)
                                                       : std::min(64, guest.vm.memory_mib / 4))
                             : 0;
  guest.ip_cidr = vm.address;
  guest.mac = lab::MacFor(config.lab, vm.name);
  return guest;
}

Result<ServiceDriver> OpenQemu(const Context& context, const control::ServiceConfig& config) {
  lab::LabConfig lab_config = context.LabConfig();
  lab_config.name = config.lab;
  Result<lab::LabState> lab = lab::LoadLab(lab_config);
  if (!lab.ok()) return Status::Unavailable(lab.error());
  for (const control::HostConfig& host : config.hosts) {
    const bool found = std::any_of(lab->sites.begin(), lab->sites.end(),
                                   [&](const lab::LabSite& s) { return s.name == host.address; });
    if (!found)
      return Status::NotFound(config.file + ": host '" + host.name + "': lab '" + lab->name +
                              "' has no site '" + host.address + "'");
  }
  std::unique_ptr<qemu::QemuDriver> qemu = context.DriverFor(*lab);
  qemu::QemuDriver* raw = qemu.get();
  ServiceDriver opened;
  opened.start = [raw, &config](size_t v, const std::string& site) {
    return lab::StartGuest(*raw, GuestFor(config, v), site);
  };
  opened.driver = std::move(qemu);
  return opened;
}

ServiceDriver OpenSim(const control::ServiceConfig& config) {
  hypervisor::SimDriverConfig sim;
  for (const control::HostConfig& host : config.hosts) sim.hosts.push_back(host.DriverSite());
  sim.bandwidth_bytes_s = config.link_mbit * 1e6 / 8;
  sim.speed = config.replay_speed;
  auto driver = std::make_unique<hypervisor::SimDriver>(sim);
  hypervisor::SimDriver* raw = driver.get();
  ServiceDriver opened;
  opened.start = [raw, &config](size_t v, const std::string& host) {
    const control::VmConfig& vm = config.vms[v];
    hypervisor::SimVm sim_vm;
    sim_vm.spec.name = vm.name;
    sim_vm.spec.memory_mib = static_cast<int>(vm.memory_mib);
    sim_vm.dirty_mb_s = vm.dirty_mb_s;
    sim_vm.working_set_mib = static_cast<int>(vm.working_set_mib);
    return raw->StartVm(sim_vm, host);
  };
  opened.driver = std::move(driver);
  return opened;
}

}  // namespace

Result<ServiceDriver> OpenServiceDriver(const Context& context,
                                        const control::ServiceConfig& config) {
  if (config.driver == "qemu") return OpenQemu(context, config);
  if (config.driver == "sim" || config.driver.empty()) return OpenSim(config);
  return Status::Invalid(config.file + ": driver '" + config.driver +
                         "' is not in this build of greenshift");
}

}  // namespace greenshift::cli
