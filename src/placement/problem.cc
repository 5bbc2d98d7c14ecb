#include "placement/problem.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <tuple>

#include "migration/precopy.h"

namespace greenshift::placement {

Status Problem::Check() const {
  if (sites.empty()) return Status::Error("the problem has no sites");
  if (links.size() != sites.size() * sites.size()) {
    return Status::Error("links: " + std::to_string(links.size()) + " entries for " +
                         std::to_string(sites.size()) + " sites (need sites x sites)");
  }
  if (slot_s <= 0) return Status::Error("slot length must be positive");
  if (!(energy_per_byte_j >= 0)) return Status::Error("energy per byte must be >= 0");
  for (const Site& s : sites) {
    if (!(s.capacity_w > 0)) return Status::Error("site '" + s.name + "': capacity must be > 0 W");
    if (!(s.storage_rtt_s >= 0) || !std::isfinite(s.storage_rtt_s))
      return Status::Error("site '" + s.name + "': round trip to the storage must be >= 0 s");
  }
  if (!(remote_disk_in_flight_bytes > 0))
    return Status::Error("the writes a VM keeps in flight to a shared disk must be > 0 bytes");
  for (const Vm& v : vms) {
    if (v.memory_bytes <= 0) return Status::Error("VM '" + v.name + "': memory must be > 0");
    if (!(v.dirty_rate_bytes_s >= 0)) return Status::Error("VM '" + v.name + "': dirty rate < 0");
    if (!(v.resent_wire_fraction > 0 && v.resent_wire_fraction <= 1))
      return Status::Error("VM '" + v.name +
                           "': the wire share of a page sent again must be in (0, 1]");
    if (v.disk_bytes < 0) return Status::Error("VM '" + v.name + "': disk bytes < 0");
    if (!(v.disk_write_rate_bytes_s >= 0))
      return Status::Error("VM '" + v.name + "': disk write rate < 0");
    if (!(v.peak_power_w > 0)) return Status::Error("VM '" + v.name + "': peak power must be > 0");
    if (!(v.downtime_budget_s > 0))
      return Status::Error("VM '" + v.name + "': downtime budget must be > 0");
  }
  for (size_t a = 0; a < sites.size(); ++a) {
    for (size_t b = 0; b < sites.size(); ++b) {
      if (a != b && !(LinkBetween(a, b).bandwidth_bytes_s > 0)) {
        return Status::Error("link " + sites[a].name + " -> " + sites[b].name +
                             ": bandwidth must be > 0");
      }
      if (a != b && !(LinkBetween(a, b).rtt_s >= 0 && std::isfinite(LinkBetween(a, b).rtt_s))) {
        return Status::Error("link " + sites[a].name + " -> " + sites[b].name +
                             ": round trip must be a finite number >= 0");
      }
      if (a != b &&
          !(LinkBetween(a, b).switchover_s >= 0 && std::isfinite(LinkBetween(a, b).switchover_s))) {
        return Status::Error("link " + sites[a].name + " -> " + sites[b].name +
                             ": switchover must be a finite number >= 0 s");
      }
    }
  }
  return Status::Ok();
}

MoveCost PredictMove(const Problem& problem, size_t vm, size_t from, size_t to) {
  MoveCost cost;
  const Vm& v = problem.vms[vm];
  migration::PrecopyInput input;
  input.memory_bytes = v.memory_bytes;
  input.dirty_rate_bytes_s = v.dirty_rate_bytes_s;
  input.working_set_bytes = v.working_set_bytes;
  input.nonzero_bytes = v.data_bytes < 0 ? -1 : std::min(v.data_bytes, v.memory_bytes);
  input.resent_wire_fraction = v.resent_wire_fraction;
  // One TCP stream over the link: its window and slow start over the round trip, and the last
  // of the memory crossing it while the guest is paused.
  const Link& link = problem.LinkBetween(from, to);
  input.bandwidth_bytes_s = link.bandwidth_bytes_s;
  input.rtt_s = link.rtt_s;
  input.stream_window_bytes = problem.stream_window_bytes;
  input.downtime_limit_s =
      problem.downtime_target_s > 0 ? problem.downtime_target_s : v.downtime_budget_s;
  input.auto_converge = problem.auto_converge;
  // A shared disk stays where it is: neither its data nor its writes cross the migration link.
  input.disk_bytes = v.disk_shared ? 0 : v.disk_bytes;
  input.disk_write_rate_bytes_s = v.disk_shared ? 0 : v.disk_write_rate_bytes_s;
  // A VM that may switch to post-copy does so when pre-copy is stuck (a disk copied along
  // first catches up, and is ended at the switch).
  const bool postcopy = problem.live_migration && v.postcopy_allowed;
  Result<migration::PrecopyPrediction> p = !problem.live_migration
                                               ? migration::PredictStopAndCopy(input)
                                           : postcopy ? migration::PredictPostcopy(input)
                                                      : migration::PredictPrecopy(input);
  if (!p.ok()) {
    cost.why_not = p.error();
    return cost;
  }
  // QEMU decides when to stop the guest on the data left alone; the switchover's fixed cost
  // comes on top of whatever it decided.
  cost.downtime_s = p->downtime_s + link.switchover_s;
  cost.total_s = p->total_s + link.switchover_s;
  cost.bytes = p->bytes_sent;
  cost.energy_j = static_cast<double>(p->bytes_sent) * problem.energy_per_byte_j * 2;
  cost.postcopy = p->postcopy;
  cost.converges = p->converges;
  const double rtt_s = problem.sites[to].storage_rtt_s;
  const double remote_rate = migration::RemoteDiskWriteRate(problem.remote_disk_in_flight_bytes,
                                                            rtt_s, /*bandwidth_bytes_s=*/0);
  char remote[200] = "";
  if (v.disk_shared && v.disk_write_rate_bytes_s > remote_rate) {
    std::snprintf(remote, sizeof remote,
                  "its shared disk would take at most %.1f MB/s of writes at site %s (%.0f ms "
                  "from the storage), below the %.1f MB/s it writes",
                  remote_rate / 1e6, problem.sites[to].name.c_str(), rtt_s * 1e3,
                  v.disk_write_rate_bytes_s / 1e6);
  }
  if (remote[0] != '\0') {
    cost.why_not = remote;
  } else if (!p->converges) {
    cost.why_not = "does not converge: " + p->reason;
  } else if (cost.downtime_s > v.downtime_budget_s) {
    cost.why_not = "predicted downtime " + std::to_string(cost.downtime_s) + " s over the budget";
  } else {
    cost.feasible = true;
  }
  return cost;
}

MoveCosts::MoveCosts(const Problem& problem) : sites_(problem.sites.size()) {
  // VMs and links repeat: predict once per distinct VM (its migration parameters) and distinct
  // link (its bandwidth and round trip, and how far its destination is from the shared
  // storage), so 100,000 VMs of a few kinds cost a few predictions.
  using VmKey =
      std::tuple<int64_t, double, int64_t, double, int64_t, double, bool, bool, int64_t, double>;
  std::map<VmKey, size_t> vm_classes;
  std::vector<size_t> representative;  // a VM of each class
  vm_class_.resize(problem.vms.size());
  for (size_t v = 0; v < problem.vms.size(); ++v) {
    const Vm& vm = problem.vms[v];
    const VmKey key{vm.memory_bytes,        vm.dirty_rate_bytes_s, vm.working_set_bytes,
                    vm.downtime_budget_s,   vm.disk_bytes,         vm.disk_write_rate_bytes_s,
                    vm.disk_shared,         vm.postcopy_allowed,   vm.data_bytes,
                    vm.resent_wire_fraction};
    auto [it, added] = vm_classes.emplace(key, vm_classes.size());
    if (added) representative.push_back(v);
    vm_class_[v] = it->second;
  }
  std::map<std::tuple<double, double, double, double>, size_t> bandwidths;
  std::vector<std::pair<size_t, size_t>> link_of_class;
  link_class_.resize(sites_ * sites_);
  for (size_t a = 0; a < sites_; ++a) {
    for (size_t b = 0; b < sites_; ++b) {
      if (a == b) continue;
      auto [it, added] = bandwidths.emplace(
          std::make_tuple(problem.LinkBetween(a, b).bandwidth_bytes_s,
                          problem.LinkBetween(a, b).rtt_s, problem.LinkBetween(a, b).switchover_s,
                          problem.sites[b].storage_rtt_s),
          bandwidths.size());
      if (added) link_of_class.emplace_back(a, b);
      link_class_[a * sites_ + b] = it->second;
    }
  }
  link_classes_ = bandwidths.size();
  table_.resize(representative.size() * link_classes_);
  least_energy_j_.assign(representative.size(), std::numeric_limits<double>::infinity());
  for (size_t c = 0; c < representative.size(); ++c) {
    for (size_t l = 0; l < link_classes_; ++l) {
      const MoveCost& cost = table_[c * link_classes_ + l] =
          PredictMove(problem, representative[c], link_of_class[l].first, link_of_class[l].second);
      if (cost.feasible) least_energy_j_[c] = std::min(least_energy_j_[c], cost.energy_j);
    }
  }
}

Status CheckMove(const Problem& problem, const Move& m, int site_of_vm, int64_t last_move_slot,
                 int64_t min_dwell_slots) {
  if (m.vm >= problem.vms.size() || m.from >= problem.sites.size() ||
      m.to >= problem.sites.size()) {
    return Status::Invalid("unknown VM or site");
  }
  const Vm& vm = problem.vms[m.vm];
  if (site_of_vm != static_cast<int>(m.from)) {
    return Status::Conflict("VM '" + vm.name + "' is not at site '" + problem.sites[m.from].name +
                            "'");
  }
  if (m.from == m.to) return Status::Invalid("moves VM '" + vm.name + "' nowhere");
  if (!m.predicted.feasible) {
    return Status::Invalid("moving VM '" + vm.name + "' to " + problem.sites[m.to].name +
                           " is not possible: " + m.predicted.why_not);
  }
  if (m.predicted.downtime_s > vm.downtime_budget_s) {
    return Status::Invalid("predicts " + std::to_string(m.predicted.downtime_s) +
                           " s of downtime for VM '" + vm.name + "', over its budget of " +
                           std::to_string(vm.downtime_budget_s) + " s");
  }
  if (m.slot - last_move_slot < min_dwell_slots) {
    return Status::Conflict("VM '" + vm.name + "' moved at slot " + std::to_string(last_move_slot) +
                            " and again at " + std::to_string(m.slot) +
                            ", within the minimum dwell of " + std::to_string(min_dwell_slots));
  }
  return Status::Ok();
}

Status CheckPlan(const Problem& problem, const Outlook& outlook, const Plan& plan,
                 int64_t min_dwell_slots) {
  std::vector<int> site_of = outlook.site_of_vm;
  std::vector<int64_t> last = outlook.last_move_slot;
  // Moves in the order they happen (a plan may hold several slots); capacity must hold after
  // each slot's moves.
  std::vector<size_t> order(plan.moves.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return plan.moves[a].slot < plan.moves[b].slot; });
  std::vector<double> used(problem.sites.size(), 0.0);
  for (size_t v = 0; v < problem.vms.size() && v < site_of.size(); ++v)
    used[site_of[v]] += problem.vms[v].peak_power_w;
  auto check_capacity = [&](int64_t slot) {
    for (size_t s = 0; s < problem.sites.size(); ++s) {
      if (used[s] > problem.sites[s].capacity_w * (1 + 1e-9)) {
        return Status::Error("plan " + plan.policy + ": site '" + problem.sites[s].name +
                             "' would hold " + std::to_string(used[s]) +
                             " W of peak power in slot " + std::to_string(slot) + ", over its " +
                             std::to_string(problem.sites[s].capacity_w) + " W capacity");
      }
    }
    return Status::Ok();
  };
  for (size_t n = 0; n < order.size(); ++n) {
    const size_t i = order[n];
    const Move& m = plan.moves[i];
    if (m.vm >= problem.vms.size())
      return Status::Invalid("plan " + plan.policy + ", move " + std::to_string(i + 1) +
                             ": unknown VM");
    Status kept = CheckMove(problem, m, site_of[m.vm], last[m.vm], min_dwell_slots);
    if (!kept.ok()) return kept.Context("plan " + plan.policy + ", move " + std::to_string(i + 1));
    const Vm& vm = problem.vms[m.vm];
    site_of[m.vm] = static_cast<int>(m.to);
    last[m.vm] = m.slot;
    used[m.from] -= vm.peak_power_w;
    used[m.to] += vm.peak_power_w;
    if (n + 1 == order.size() || plan.moves[order[n + 1]].slot != m.slot)
      GS_RETURN_IF_ERROR(check_capacity(m.slot));
  }
  return check_capacity(outlook.now_slot);
}

double PlanKgCo2(const Problem& problem, const Outlook& outlook, const Plan& plan) {
  const size_t S = problem.sites.size(), V = problem.vms.size();
  const double slot_h = static_cast<double>(problem.slot_s) / 3600;
  std::vector<int> site = outlook.site_of_vm;
  std::vector<double> load(S);
  double kg = 0;
  for (size_t k = 0; k < outlook.slots; ++k) {
    std::fill(load.begin(), load.end(), 0.0);
    for (const Move& m : plan.moves) {
      if (m.slot != outlook.now_slot + static_cast<int64_t>(k)) continue;
      site[m.vm] = static_cast<int>(m.to);
      const double w = m.predicted.energy_j / 2 / static_cast<double>(problem.slot_s);
      load[m.from] += w;
      load[m.to] += w;
    }
    for (size_t v = 0; v < V; ++v) load[site[v]] += outlook.Power(v, k);
    for (size_t s = 0; s < S; ++s)
      kg += KgCo2(std::max(0.0, load[s] - outlook.Green(s, k)) * slot_h, outlook.Carbon(s, k));
  }
  return kg;
}

}  // namespace greenshift::placement
