#include "control/fleet.h"

namespace greenshift::control {

int HostMap::HostOfLocation(const std::string& location) const {
  for (size_t h = 0; h < driver_location.size(); ++h) {
    if (driver_location[h] == location) return static_cast<int>(h);
  }
  return -1;
}

int HostMap::HostForSite(size_t s) const {
  for (size_t h = 0; h < site.size(); ++h) {
    if (site[h] == s) return static_cast<int>(h);
  }
  return -1;
}

Fleet::Fleet(const placement::Problem& problem, HostMap hosts)
    : problem_(problem),
      hosts_(std::move(hosts)),
      vms_(problem.vms.size()),
      peak_used_w_(problem.sites.size(), 0.0) {
  for (size_t v = 0; v < problem.vms.size(); ++v) index_[problem.vms[v].name] = v;
}

void Fleet::Account(size_t vm, int sign) {
  const VmPlace& place = vms_[vm];
  const double w = sign * problem_.vms[vm].peak_power_w;
  if (place.site >= 0) peak_used_w_[static_cast<size_t>(place.site)] += w;
  if (place.in_flight_to >= 0) peak_used_w_[static_cast<size_t>(place.in_flight_to)] += w;
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

bool Fleet::Reserve(size_t vm, size_t to) {
  std::lock_guard<std::mutex> lock(mutex_);
  const double peak = problem_.vms[vm].peak_power_w;
  if (peak_used_w_[to] + peak > problem_.sites[to].capacity_w * (1 + 1e-9)) return false;
  vms_[vm].in_flight_to = static_cast<int>(to);
  peak_used_w_[to] += peak;
  return true;
}

void Fleet::EndMove(size_t vm, int host, hypervisor::VmState state, bool moved, int64_t slot) {
  std::lock_guard<std::mutex> lock(mutex_);
  Account(vm, -1);
  VmPlace& place = vms_[vm];
  place.in_flight_to = -1;
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

}  // namespace greenshift::control
