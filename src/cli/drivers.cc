#include "cli/drivers.h"

#include <algorithm>

#include "hypervisor/sim/sim_driver.h"
#include "lab/lab.h"

namespace greenshift::cli {

namespace {

Result<std::unique_ptr<hypervisor::Driver>> OpenQemu(const Context& context,
                                                     const control::ServiceConfig& config) {
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
  return std::unique_ptr<hypervisor::Driver>(context.DriverFor(*lab));
}

std::unique_ptr<hypervisor::Driver> OpenSim(const control::ServiceConfig& config) {
  hypervisor::SimDriverConfig sim;
  for (const control::HostConfig& host : config.hosts) sim.hosts.push_back(host.DriverSite());
  sim.bandwidth_bytes_s = config.link_mbit * 1e6 / 8;
  sim.speed = config.replay_speed;
  return std::make_unique<hypervisor::SimDriver>(sim);
}

}  // namespace

Result<std::unique_ptr<hypervisor::Driver>> OpenServiceDriver(
    const Context& context, const control::ServiceConfig& config) {
  if (config.driver == "qemu") return OpenQemu(context, config);
  if (config.driver == "sim" || config.driver.empty()) return OpenSim(config);
  return Status::Invalid(config.file + ": driver '" + config.driver +
                         "' is not in this build of greenshift");
}

hypervisor::VmSpec StartSpecFor(const control::ServiceConfig& config, size_t v) {
  const control::VmConfig& vm = config.vms[v];
  hypervisor::VmSpec spec;
  spec.name = vm.name;
  spec.memory_mib = static_cast<int>(vm.memory_mib);
  spec.dirty_mb_s = vm.dirty_mb_s;
  // A guest that rewrites memory does so over its working set, or a quarter of its memory (at
  // most 64 MiB: the lab's guests are small).
  spec.dirty_size_mib = vm.dirty_mb_s > 0
                            ? (vm.working_set_mib > 0 ? static_cast<int>(vm.working_set_mib)
                                                      : std::min(64, spec.memory_mib / 4))
                            : 0;
  spec.ip_cidr = vm.address;
  spec.mac = lab::MacFor(config.lab, vm.name);
  return spec;
}

}  // namespace greenshift::cli
