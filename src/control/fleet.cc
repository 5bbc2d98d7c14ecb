#include "control/fleet.h"

#include <algorithm>

namespace greenshift::control {

int HostMap::HostOfLocation(const std::string& location) const {
  for (size_t h = 0; h < driver_location.size(); ++h) {
    if (driver_location[h] == location) return static_cast<int>(h);
  }
  return -1;
}

namespace {

HostMap WithMemory(HostMap hosts) {
  hosts.memory_mib.resize(hosts.names.size(), 0);
  return hosts;
}

}  // namespace

Fleet::Fleet(const placement::Problem& problem, HostMap hosts)
    : problem_(problem),
      hosts_(WithMemory(std::move(hosts))),
      vms_(problem.vms.size()),
      peak_used_w_(problem.sites.size(), 0.0),
      memory_used_mib_(hosts_.names.size(), 0),
      vms_on_host_(hosts_.names.size(), 0) {
  for (size_t v = 0; v < problem.vms.size(); ++v) index_[problem.vms[v].name] = v;
}

int64_t Fleet::MemoryMibOf(size_t vm) const {
  return (problem_.vms[vm].memory_bytes + (1 << 20) - 1) >> 20;
}

void Fleet::Account(size_t vm, int sign) {
  const VmPlace& place = vms_[vm];
  const double w = sign * problem_.vms[vm].peak_power_w;
  if (place.site >= 0) peak_used_w_[static_cast<size_t>(place.site)] += w;
  if (place.in_flight_to >= 0) peak_used_w_[static_cast<size_t>(place.in_flight_to)] += w;
  const int64_t mib = sign * MemoryMibOf(vm);
  for (int host : {place.host, place.in_flight_host}) {
    if (host < 0) continue;
    memory_used_mib_[static_cast<size_t>(host)] += mib;
    vms_on_host_[static_cast<size_t>(host)] += sign;
  }
}

int Fleet::PickHostLocked(size_t vm, size_t site) const {
  const int64_t need = MemoryMibOf(vm);
  int best = -1;
  double best_load = 0;
  for (size_t h = 0; h < hosts_.names.size(); ++h) {
    if (hosts_.site[h] != site) continue;
    const int64_t limit = hosts_.memory_mib[h];
    const int64_t used = memory_used_mib_[h];
    if (limit > 0 && used + need > limit) continue;
    // Every host of a site has a memory figure or none does: the loads compare.
    const double load = limit > 0 ? static_cast<double>(used) / static_cast<double>(limit)
                                  : static_cast<double>(used);
    if (best < 0 || load < best_load ||
        (load == best_load && vms_on_host_[h] < vms_on_host_[static_cast<size_t>(best)])) {
      best = static_cast<int>(h);
      best_load = load;
    }
  }
  return best;
}

int Fleet::PickHost(size_t vm, size_t site) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return PickHostLocked(vm, site);
}

std::vector<VmPlace> Fleet::Snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return vms_;
}

VmPlace Fleet::Get(size_t vm) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return vms_[vm];
}

void Fleet::Read(const std::function<void(const std::vector<VmPlace>&)>& read) const {
  std::lock_guard<std::mutex> lock(mutex_);
  read(vms_);
}

void Fleet::Refresh(const std::vector<hypervisor::VmInfo>& listed) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<bool> seen(vms_.size(), false);
  for (const hypervisor::VmInfo& info : listed) {
    auto it = index_.find(info.spec.name);
    if (it == index_.end()) continue;  // not one of ours
    const size_t v = it->second;
    seen[v] = true;
    Account(v, -1);
    vms_[v].host = hosts_.HostOfLocation(info.host);
    vms_[v].site = vms_[v].host >= 0 ? static_cast<int>(hosts_.site[vms_[v].host]) : -1;
    vms_[v].state = info.state;
    Account(v, +1);
  }
  for (size_t v = 0; v < vms_.size(); ++v) {
    if (seen[v]) continue;
    Account(v, -1);
    vms_[v].host = vms_[v].site = -1;
    vms_[v].state = hypervisor::VmState::kStopped;
    Account(v, +1);
  }
}

void Fleet::Place(size_t vm, int host, hypervisor::VmState state) {
  std::lock_guard<std::mutex> lock(mutex_);
  Account(vm, -1);
  vms_[vm].host = host;
  vms_[vm].site = host >= 0 ? static_cast<int>(hosts_.site[static_cast<size_t>(host)]) : -1;
  vms_[vm].state = state;
  Account(vm, +1);
}

void Fleet::SetLastMove(size_t vm, int64_t slot) {
  std::lock_guard<std::mutex> lock(mutex_);
  vms_[vm].last_move_slot = std::max(vms_[vm].last_move_slot, slot);
}

bool Fleet::MarkMoving(size_t vm) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (vms_[vm].moving) return false;
  vms_[vm].moving = true;
  return true;
}

void Fleet::UnmarkMoving(size_t vm) {
  std::lock_guard<std::mutex> lock(mutex_);
  vms_[vm].moving = false;
}

Reservation Fleet::Reserve(size_t vm, size_t to) {
  std::lock_guard<std::mutex> lock(mutex_);
  Reservation r;
  const double peak = problem_.vms[vm].peak_power_w;
  const placement::Site& site = problem_.sites[to];
  const std::string& name = problem_.vms[vm].name;
  if (peak_used_w_[to] + peak > site.capacity_w * (1 + 1e-9)) {
    r.why = "site " + site.name + " has no room for VM " + name + " (" +
            std::to_string(static_cast<int64_t>(peak_used_w_[to])) + " of " +
            std::to_string(static_cast<int64_t>(site.capacity_w)) + " W taken, it needs " +
            std::to_string(static_cast<int64_t>(peak)) + ")";
    return r;
  }
  r.host = PickHostLocked(vm, to);
  if (r.host < 0) {
    r.why = "no host of site " + site.name + " has the memory for VM " + name + " (" +
            std::to_string(MemoryMibOf(vm)) + " MiB; free:";
    for (size_t h = 0; h < hosts_.names.size(); ++h) {
      if (hosts_.site[h] != to) continue;
      r.why += " " + hosts_.names[h] + " " +
               std::to_string(std::max<int64_t>(0, hosts_.memory_mib[h] - memory_used_mib_[h]));
    }
    r.why += ")";
    return r;
  }
  Account(vm, -1);
  vms_[vm].in_flight_to = static_cast<int>(to);
  vms_[vm].in_flight_host = r.host;
  Account(vm, +1);
  return r;
}

void Fleet::EndMove(size_t vm, int host, hypervisor::VmState state, bool moved, int64_t slot) {
  std::lock_guard<std::mutex> lock(mutex_);
  Account(vm, -1);
  VmPlace& place = vms_[vm];
  place.in_flight_to = -1;
  place.in_flight_host = -1;
  place.moving = false;
  place.host = host;
  place.site = host >= 0 ? static_cast<int>(hosts_.site[static_cast<size_t>(host)]) : -1;
  place.state = state;
  if (moved) place.last_move_slot = slot;
  Account(vm, +1);
}

std::vector<double> Fleet::PeakUsedW() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return peak_used_w_;
}

std::vector<int64_t> Fleet::MemoryUsedMib() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return memory_used_mib_;
}

}  // namespace greenshift::control
