#include "lab/lab_driver.h"

#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <thread>

#include "hypervisor/libvirt/libvirt_driver.h"
#include "hypervisor/qemu/qemu_driver.h"
#include "lab/experiment.h"
#include "lab/libvirt_hosts.h"
#include "lab/routing.h"
#include "lab/storage.h"
#include "lab/tap_handover.h"

namespace greenshift::lab {

namespace {

// The lab's driver (qemu or libvirt): the inner driver's calls, with the VM's traffic sent to where
// it runs (routing.h: its /32 routed, its MAC on the overlay, or on an l2 lab its MAC on the
// bridges): placed when it starts, moved by the migration's own switchover events, settled when the
// migration ends (whatever its hooks saw), gone when it stops. The inner driver's hosts are the
// lab's sites: named as them, or mapped to them by `site_of_host`.
class SteeringDriver : public hypervisor::Driver {
 public:
  SteeringDriver(std::unique_ptr<hypervisor::Driver> inner, LabState state,
                 std::map<std::string, std::string> site_of_host = {})
      : inner_(std::move(inner)),
        state_(std::move(state)),
        site_of_host_(std::move(site_of_host)) {}

  hypervisor::Capabilities GetCapabilities() const override { return inner_->GetCapabilities(); }
  Result<std::vector<hypervisor::VmInfo>> ListVms() override { return inner_->ListVms(); }
  Result<hypervisor::VmInfo> GetVm(const std::string& name) override { return inner_->GetVm(name); }
  Status CancelMigration(const std::string& name) override { return inner_->CancelMigration(name); }
  Result<double> MeasureDirtyRate(const std::string& name, int seconds) override {
    return inner_->MeasureDirtyRate(name, seconds);
  }

  Status StopVm(const std::string& name) override {
    Result<hypervisor::VmInfo> vm = inner_->GetVm(name);
    GS_RETURN_IF_ERROR(inner_->StopVm(name));
    if (vm.ok()) {
      const GuestSpec guest = GuestOf(*vm);
      return UnrouteVm(state_, HostAddress(guest.ip_cidr), guest.mac);
    }
    return Status::Ok();
  }

  Result<hypervisor::VmInfo> Recover(const std::string& name,
                                     std::chrono::milliseconds timeout) override {
    Result<hypervisor::VmInfo> vm = inner_->Recover(name, timeout);
    if (vm.ok()) GS_RETURN_IF_ERROR(Place(*vm, SiteOf(vm->host)));
    return vm;
  }

  hypervisor::MigrationResult Migrate(const std::string& name, const std::string& to_host,
                                      const hypervisor::MigrationOptions& options,
                                      const hypervisor::ProgressCallback& progress) override {
    Result<hypervisor::VmInfo> vm = inner_->GetVm(name);
    if (!vm.ok()) return inner_->Migrate(name, to_host, options, progress);  // it says why
    const GuestSpec guest = GuestOf(*vm);
    const std::string ip = HostAddress(guest.ip_cidr);
    // The sites, for the network; the hosts, for the inner driver.
    const std::string from = SiteOf(vm->host), to = SiteOf(to_host);
    // A route change that fails is reported, not fatal to the migration: the guest moves, and
    // the settling below puts every route where it belongs.
    auto report = [](const Status& status) {
      if (!status.ok())
        std::fprintf(stderr, "greenshift: routing at the switchover: %s\n",
                     status.message().c_str());
    };
    // Whether the guest stopped on its source under this call: a migration refused at once
    // (another one of the VM under way) touches no route.
    bool switched = false;
    // l2: the steering made ready now, so that the pause only writes it (routing.h).
    std::optional<Result<L2Steering>> l2;
    if (state_.network == kNetworkL2) l2 = L2Steering::Prepare(state_, guest.mac, from, to);
    // And what already waits in the source's tap when the guest pauses goes to the
    // destination's (tap_handover.h); without it (a guest the lab did not start), it is lost,
    // as the frames were before.
    std::optional<TapHandover> handover;
    int handed = 0;
    if (Result<TapHandover> prepared = PrepareHandover(*vm, from, to); prepared.ok()) {
      handover = std::move(*prepared);
    } else if (vm->pid > 0 || !prepared.status().IsNotFound()) {  // the lab's QEMU has one
      report(prepared.status());
    }
    auto hand = [&] {
      if (!handover) return;
      Result<int> frames = handover->Hand();
      if (frames.ok()) handed += *frames;
      report(frames.status());
    };
    hypervisor::MigrationOptions routed = options;
    routed.switchover.source_paused = [&, ip, from, to] {
      switched = true;
      if (l2) {
        report(l2->ok() ? (*l2)->Steer() : l2->status());  // a failed preparation, said once
      } else {
        report(SteerVm(state_, ip, guest.mac, from, to));
      }
      hand();  // after the steering: nothing more reaches the source's tap
      if (options.switchover.source_paused) options.switchover.source_paused();
    };
    routed.switchover.destination_running = [&, ip, from, to] {
      hand();  // what was on its way to the source while the network was steered
      if (options.switchover.destination_running) options.switchover.destination_running();
      report(RouteVmTo(state_, ip, guest.mac, to, /*still_forwarding=*/from));
    };
    routed.switchover.source_running_again = [&, ip, from] {
      if (options.switchover.source_running_again) options.switchover.source_running_again();
      report(RouteVmTo(state_, ip, guest.mac, from));
      if (handover && handed > 0) report(handover->GiveBack().status());
    };
    hypervisor::MigrationResult result = inner_->Migrate(name, to_host, routed, progress);
    if (handed > 0)
      std::fprintf(stderr,
                   "greenshift: switchover: %d frame(s) waiting in the source's tap handed to "
                   "the destination's\n",
                   handed);
    const std::string running_on = SiteOf(result.running_on);  // empty when it runs nowhere
    if (result.completed && running_on == to) {
      // Announced by `to` (now or just before, by its hook); `from` forwarded and kept
      // announcing until the WAN has heard, then stops.
      const std::chrono::milliseconds settle = SettleTime(state_.network);
      if (settle.count() > 0) {
        report(RouteVmTo(state_, ip, guest.mac, to, from));
        std::this_thread::sleep_for(settle);
      }
      report(RouteVmTo(state_, ip, guest.mac, to));
    } else if (switched && !running_on.empty()) {
      report(RouteVmTo(state_, ip, guest.mac, running_on));
    } else if (switched) {
      report(UnrouteVm(state_, ip, guest.mac));  // lost with its destination (post-copy)
    }
    return result;
  }

  // The handover of VM `vm`'s tap from the QEMU that runs it at site `from` to site `to`:
  // the lab's own QEMU (the qemu driver gives its pid), or the one the site's libvirt daemon
  // runs it in (the lab's domain names its tap as the qemu driver does: GuestDomainXml).
  // NotFound: no QEMU of the lab's to take frames from (a VM the lab did not start).
  Result<TapHandover> PrepareHandover(const hypervisor::VmInfo& vm, const std::string& from,
                                      const std::string& to) {
    const LabSite* from_site = FindSite(state_, from);
    const LabSite* to_site = FindSite(state_, to);
    if (from_site == nullptr || to_site == nullptr)
      return Status::NotFound("lab " + state_.name + " has no site '" +
                              (from_site == nullptr ? vm.host : to) + "'");
    int pid = vm.pid;
    if (pid <= 0 && state_.hypervisor == "libvirt") {
      Result<int> found = LibvirtGuestPid(state_, *from_site, vm.spec.name);
      if (!found.ok()) return found.status();
      pid = *found;
    }
    if (pid <= 0) return Status::NotFound("VM '" + vm.spec.name + "' has no QEMU of the lab's");
    return TapHandover::Prepare(pid, qemu::TapName(vm.spec.name), from_site->netns, to_site->netns);
  }

  // Routes a VM that runs at `site`.
  Status Place(const hypervisor::VmInfo& vm, const std::string& site) {
    const GuestSpec guest = GuestOf(vm);
    return RouteVmTo(state_, HostAddress(guest.ip_cidr), guest.mac, site);
  }

  // Routes VM `name` to the site of the host it runs on.
  Status PlaceByName(const std::string& name) {
    Result<hypervisor::VmInfo> vm = inner_->GetVm(name);
    if (!vm.ok()) return vm.status();
    return Place(*vm, SiteOf(vm->host));
  }

  // The lab site of the inner driver's host `host`.
  const std::string& SiteOf(const std::string& host) const {
    auto it = site_of_host_.find(host);
    return it == site_of_host_.end() ? host : it->second;
  }

 private:
  std::unique_ptr<hypervisor::Driver> inner_;
  const LabState state_;
  const std::map<std::string, std::string> site_of_host_;
};

}  // namespace

SteeredDriver SteerLabNetwork(std::unique_ptr<hypervisor::Driver> inner, const LabState& state,
                              std::map<std::string, std::string> site_of_host) {
  SteeredDriver steered;
  auto steering =
      std::make_unique<SteeringDriver>(std::move(inner), state, std::move(site_of_host));
  SteeringDriver* router = steering.get();
  steered.place = [router](const std::string& vm) { return router->PlaceByName(vm); };
  steered.driver = std::move(steering);
  return steered;
}

namespace {

// Makes `lab`'s driver `inner` steered (SteerLabNetwork, its hosts the sites), and its start
// `create` followed by routing the guest to the site where it started.
void Steer(LabDriver& lab, std::unique_ptr<hypervisor::Driver> inner, const LabState& state,
           std::function<Status(const GuestSpec&, const std::string&)> create) {
  SteeredDriver steered = SteerLabNetwork(std::move(inner), state, {});
  lab.start = [create = std::move(create), place = std::move(steered.place)](
                  const GuestSpec& guest, const std::string& site) {
    GS_RETURN_IF_ERROR(create(guest, site));
    return place(guest.vm.name);
  };
  lab.driver = std::move(steered.driver);
}

}  // namespace

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
    auto create = [raw, state, guest_dir, accel, bridge](const GuestSpec& guest,
                                                         const std::string& site) {
      return StartLibvirtGuest(*raw, state, guest, site, site, guest_dir, accel, bridge);
    };
    // The network follows the guest from the driver's switchover hooks, as under qemu.
    Steer(lab, std::move(driver), state, create);
    return lab;
  }
  auto driver = std::make_unique<qemu::QemuDriver>(DriverConfigFor(state, guest_dir_given, accel));
  qemu::QemuDriver* raw = driver.get();
  lab.qemu = raw;
  auto start = [raw, state](const GuestSpec& given, const std::string& site) {
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
  Steer(lab, std::move(driver), state, start);
  return lab;
}

}  // namespace greenshift::lab
