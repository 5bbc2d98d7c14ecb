#include "cli/drivers.h"

#include <algorithm>
#include <map>

#include "hypervisor/libvirt/libvirt_driver.h"
#include "hypervisor/sim/sim_driver.h"
#include "lab/guest.h"
#include "lab/lab.h"
#include "lab/lab_driver.h"
#include "lab/libvirt_hosts.h"

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
  guest.vm.disk_gib = static_cast<int>(vm.disk_gib);
  guest.disk_mb_s = vm.disk_write_mb_s;
  guest.storage = vm.storage;
  guest.ip_cidr = vm.address;
  guest.mac = lab::MacFor(config.lab, vm.name);
  return guest;
}

// The service and the lab agree on how a VM keeps its address between every two sites.
Status CheckLabNetwork(const control::ServiceConfig& config, const lab::LabState& lab) {
  for (size_t a = 0; a < config.sites.size(); ++a) {
    for (size_t b = a + 1; b < config.sites.size(); ++b) {
      const std::string& site_a = config.sites[a].name;
      const std::string& site_b = config.sites[b].name;
      const control::LinkConfig* link = config.FindLink(site_a, site_b);
      const std::string network = config.NetworkBetween(site_a, site_b);
      if (network != lab.network) {
        return Status::Invalid(
            config.file + ": the link between sites '" + site_a + "' and '" + site_b +
            "' has network " + network + (link ? "" : " (the default)") + ", but lab '" + lab.name +
            "' has network " + lab.network + ": say so in a [[links]] table (a = \"" + site_a +
            "\", b = \"" + site_b + "\", network = \"" + lab.network + "\")");
      }
    }
  }
  return Status::Ok();
}

Result<ServiceDriver> OpenQemu(const Context& context, const control::ServiceConfig& config) {
  lab::LabConfig lab_config = context.LabConfig();
  lab_config.name = config.lab;
  Result<lab::LabState> lab = lab::LoadLab(lab_config);
  if (!lab.ok()) return Status::Unavailable(lab.error());
  for (const control::HostConfig& host : config.hosts) {
    if (lab::FindSite(*lab, host.address) == nullptr)
      return Status::NotFound(config.file + ": host '" + host.name + "': lab '" + lab->name +
                              "' has no site '" + host.address + "'");
  }
  if (lab->hypervisor != "qemu")
    return Status::Invalid(config.file + ": lab '" + lab->name + "' runs " + lab->hypervisor +
                           " hosts: give the service libvirt hosts (see `greenshift lab status`)");
  GS_RETURN_IF_ERROR(CheckLabNetwork(config, *lab));
  lab::LabDriver lab_driver = context.DriverFor(*lab);
  ServiceDriver opened;
  opened.start = [start = lab_driver.start, &config](size_t v, const std::string& site) {
    return start(GuestFor(config, v), site);
  };
  opened.driver = std::move(lab_driver.driver);
  return opened;
}

// libvirt hosts: the config's URIs. A configured VM that runs on no host is started only when
// its host is a site of the lab `config.lab` (the lab's guest); on real hosts greenshift moves
// VMs, it does not make them.
Result<ServiceDriver> OpenLibvirt(const Context& context, const control::ServiceConfig& config) {
  libvirt::LibvirtDriverConfig driver_config;
  for (const control::HostConfig& host : config.hosts) {
    libvirt::LibvirtHost h;
    h.name = host.name;
    h.uri = host.address;
    h.peer_uri = host.peer_uri;
    h.migration_uri = host.migration_uri;
    h.shared_paths = host.shared_paths;
    driver_config.hosts.push_back(h);
  }
  auto driver = std::make_unique<libvirt::LibvirtDriver>(driver_config);
  libvirt::LibvirtDriver* raw = driver.get();
  std::map<std::string, const lab::LabSite*> lab_site;  // host name -> its lab site
  lab::LabConfig lab_config = context.LabConfig();
  lab_config.name = config.lab;
  auto lab = std::make_shared<lab::LabState>();
  if (Result<lab::LabState> loaded = lab::LoadLab(lab_config);
      loaded.ok() && loaded->hypervisor == "libvirt") {
    *lab = *loaded;
    for (const control::HostConfig& host : config.hosts) {
      for (const lab::LabSite& site : lab->sites) {
        if (lab::LibvirtHostFor(*lab, site).uri == host.address) lab_site[host.name] = &site;
      }
    }
    if (!lab_site.empty()) GS_RETURN_IF_ERROR(CheckLabNetwork(config, *lab));
  }
  // Hosts that are all the lab's sites: its network follows the VMs the service moves (on a
  // routed lab their addresses would be unreachable otherwise).
  std::function<Status(const std::string&)> place;
  std::unique_ptr<hypervisor::Driver> opened_driver = std::move(driver);
  if (!lab_site.empty() && lab_site.size() == config.hosts.size()) {
    std::map<std::string, std::string> site_of_host;
    for (const auto& [host, site] : lab_site) site_of_host[host] = site->name;
    lab::SteeredDriver steered =
        lab::SteerLabNetwork(std::move(opened_driver), *lab, std::move(site_of_host));
    opened_driver = std::move(steered.driver);
    place = std::move(steered.place);
  }
  ServiceDriver opened;
  opened.start = [raw, &config, lab, lab_site, place, guest_dir = context.guest_dir,
                  accel = context.accel](size_t v, const std::string& host) -> Status {
    auto site = lab_site.find(host);
    if (site == lab_site.end())
      return Status::NotFound("VM '" + config.vms[v].name + "' runs on no libvirt host: define " +
                              "and start it on host " + host +
                              " (greenshift moves VMs; it makes them only in its lab)");
    GS_RETURN_IF_ERROR(lab::StartLibvirtGuest(*raw, *lab, GuestFor(config, v), host,
                                              site->second->name, guest_dir, accel,
                                              site->second->bridge));
    return place ? place(config.vms[v].name) : Status::Ok();
  };
  opened.driver = std::move(opened_driver);
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
    sim_vm.spec.disk_gib = static_cast<int>(vm.disk_gib);
    // A shared disk is not copied, and its writes go to the storage, not over the migration.
    const bool shared = vm.storage != "copy";
    sim_vm.disk_used_bytes = shared ? 0 : static_cast<int64_t>(vm.disk_used_gib * 1024 * 1048576);
    sim_vm.disk_write_mb_s = shared ? 0 : vm.disk_write_mb_s;
    return raw->StartVm(sim_vm, host);
  };
  opened.driver = std::move(driver);
  return opened;
}

}  // namespace

Result<ServiceDriver> OpenServiceDriver(const Context& context,
                                        const control::ServiceConfig& config) {
  if (config.driver == "qemu") return OpenQemu(context, config);
  if (config.driver == "libvirt") return OpenLibvirt(context, config);
  if (config.driver == "sim" || config.driver.empty()) return OpenSim(config);
  return Status::Invalid(config.file + ": driver '" + config.driver +
                         "' is not in this build of greenshift");
}

}  // namespace greenshift::cli
