// The planning problem: where each VM should run over the coming slots. Sites have a capacity,
// green power and grid carbon intensity per slot; VMs have memory, a dirty rate, a power draw per
// slot and a downtime budget; links between sites have a bandwidth. Moving a VM costs energy
// (bytes sent x energy per byte, at both ends) and downtime, predicted by the pre-copy model.
// Pure computation: values in, values out.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace greenshift::placement {

// kg CO2 of `watt_hours` drawn from a grid at `g_per_kwh` (gCO2 per kWh).
inline double KgCo2(double watt_hours, double g_per_kwh) {
  return watt_hours * g_per_kwh / 1e6;
}

struct Site {
  std::string name;
  double capacity_w = 0;  // most IT power its hosts take: the sum of the VMs' peak power
  // Round trip from the site to the fleet's shared storage (0: next to it). A VM whose disk is
  // shared writes it over this distance wherever it runs.
  double storage_rtt_s = 0;
};

struct Vm {
  std::string name;
  int64_t memory_bytes = 0;
  double dirty_rate_bytes_s = 0;
  int64_t working_set_bytes = -1;  // -1: unbounded
  // Memory that holds data: what the bulk copy sends (pages that are all zero cross as a flag).
  // -1: all of it (a VM never measured; calibration.h learns it from the VM's moves).
  int64_t data_bytes = -1;
  // What a page sent again takes on the wire, as a share of a page (migration::PrecopyInput):
  // 1 when never measured; calibration.h learns it from the VM's moves.
  double resent_wire_fraction = 1.0;
  double peak_power_w = 0;         // the most it draws: what it takes of a site's capacity
  double downtime_budget_s = 0.5;  // no move may predict more downtime than this
  // Its disk: the data a move copies (storage "copy"; 0 when shared), and the guest's writes
  // to it. A shared disk (nbd, iscsi, nfs) is not copied; its writes cross the network to the
  // storage instead, and a site too far from it cannot take them (Problem's
  // remote_disk_in_flight_bytes).
  int64_t disk_bytes = 0;
  double disk_write_rate_bytes_s = 0;
  bool disk_shared = false;
  // May switch to post-copy when pre-copy is stuck (a disk copied along first catches up):
  // then every move converges, unless its disk's writes outrun the link, but a destination that
  // dies mid-move takes the VM (hypervisor/driver.h).
  bool postcopy_allowed = false;
};

struct Link {
  double bandwidth_bytes_s = 125e6;  // what the link carries between two sites
  double rtt_s = 0;  // its round trip: a migration stream over it is bounded by its window and
                     // ramps up in slow start (migration::TcpStreamOver)
  // What a switchover over it pauses the guest beyond the data sent while paused: stopping the
  // vCPUs, loading the device state and starting them on the destination. Not configured (0):
  // calibration.h learns it from measured pauses (the lab's TCG guests: 8-60 ms).
  double switchover_s = 0;
};

// Everything that stays fixed while planning.
struct Problem {
  std::vector<Site> sites;
  std::vector<Vm> vms;
  // links[a * sites.size() + b]: from site a to site b (the diagonal is unused).
  std::vector<Link> links;
  int64_t slot_s = 3600;
  double energy_per_byte_j = 2e-7;  // migration energy per byte sent, at each end
  // The most a migration stream keeps in flight (the hosts' socket buffers; 0: unbounded).
  double stream_window_bytes = 4 << 20;
  // Whether moves are live (pre-copy) or stop-and-copy: what the hypervisor can do. A stopped
  // VM's downtime is the whole copy, and budgets are measured against it.
  bool live_migration = true;
  // What a VM with a shared disk keeps in flight to it: one 64 KiB synchronous write (the lab
  // guest's records; a database's log). It gets at most this per round trip to the storage
  // (migration::RemoteDiskWriteRate): a move to a site where that is below the VM's write rate
  // is not feasible.
  double remote_disk_in_flight_bytes = 65536;
  // How the moves are run, so they are priced as they run: the downtime target the hypervisor
  // is given (0: each VM's budget) and whether a guest that does not converge is throttled.
  double downtime_target_s = 0;
  bool auto_converge = false;
  const Link& LinkBetween(size_t from, size_t to) const { return links[from * sites.size() + to]; }
  // Errors name the site, VM or field that is wrong.
  Status Check() const;
};

// What a move is predicted to cost (pre-copy model on the link).
struct MoveCost {
  bool feasible = false;   // converges, and within the VM's downtime budget
  bool converges = false;  // the migration gets done (pre-copy within its target, or post-copy)
  double downtime_s = 0;
  double total_s = 0;
  int64_t bytes = 0;
  double energy_j = 0;    // bytes x energy per byte x 2 ends
  bool postcopy = false;  // pre-copy would not converge; the move switches to post-copy
  std::string why_not;    // when not feasible
};
MoveCost PredictMove(const Problem& problem, size_t vm, size_t from, size_t to);

// PredictMove for every VM and ordered pair of distinct sites, computed once per problem (once
// per distinct VM kind and link bandwidth).
class MoveCosts {
 public:
  explicit MoveCosts(const Problem& problem);
  const MoveCost& At(size_t vm, size_t from, size_t to) const {
    return table_[vm_class_[vm] * link_classes_ + link_class_[from * sites_ + to]];
  }
  // The least energy of any feasible move of the VM (infinity when it cannot move at all).
  double LeastEnergyJ(size_t vm) const { return least_energy_j_[vm_class_[vm]]; }
  // VMs of one kind move alike: their kind (0 .. Kinds() - 1).
  size_t Kind(size_t vm) const { return vm_class_[vm]; }
  size_t Kinds() const { return least_energy_j_.size(); }

 private:
  size_t sites_;
  size_t link_classes_ = 0;
  std::vector<size_t> vm_class_, link_class_;
  std::vector<MoveCost> table_;
  std::vector<double> least_energy_j_;  // per VM class
};

// What the planner knows at a decision time: forecasts for the next `slots` slots (index 0 =
// the slot about to start), and where each VM is.
struct Outlook {
  int64_t now_slot = 0;  // absolute slot index of slot 0
  size_t slots = 0;
  // green_w[site * slots + k], carbon[site * slots + k] (gCO2/kWh), vm_power_w[vm * slots + k]
  std::vector<double> green_w, carbon_g_per_kwh, vm_power_w;
  // green_realized_share[site * slots + k]: the share of the forecast green (of green_w) that
  // came in the forecaster's recent record, as far ahead (control::SiteForecast); empty: all
  // of it (sensors, or a forecast that knows).
  std::vector<double> green_realized_share;
  std::vector<int> site_of_vm;          // current placement
  std::vector<int64_t> last_move_slot;  // per VM; very negative when never moved
  double Green(size_t site, size_t k) const { return green_w[site * slots + k]; }
  double Carbon(size_t site, size_t k) const { return carbon_g_per_kwh[site * slots + k]; }
  double Power(size_t vm, size_t k) const { return vm_power_w[vm * slots + k]; }
  double RealizedShare(size_t site, size_t k) const {
    return green_realized_share.empty() ? 1.0 : green_realized_share[site * slots + k];
  }
};

struct Move {
  size_t vm = 0;
  size_t from = 0, to = 0;
  int64_t slot = 0;  // when (absolute slot index)
  std::string reason;
  MoveCost predicted;
  double predicted_saving_kg = 0;  // CO2 the move is expected to save over the horizon
};

struct Plan {
  std::string policy;
  std::vector<Move> moves;
};

// The rules one move keeps by itself, given where its VM is now and the slot it last moved in:
// its VM and sites exist, the VM is at `from`, `to` is another site, the move is feasible and
// predicts no more downtime than the VM's budget, and `min_dwell_slots` have passed since its
// last move. (Capacity depends on every other move: CheckPlan and the executor see to it.)
// Callers name the move in the error with Context.
Status CheckMove(const Problem& problem, const Move& move, int site_of_vm, int64_t last_move_slot,
                 int64_t min_dwell_slots);

// Checks a plan against the problem: every move keeps CheckMove's rules in the order of its
// slots, and capacity holds after each slot's moves. Errors say which move broke which rule.
Status CheckPlan(const Problem& problem, const Outlook& outlook, const Plan& plan,
                 int64_t min_dwell_slots);

// The kg CO2 the outlook predicts over its slots with the plan's moves made at their slots:
// per site and slot, the load (the VMs there, and each move's energy as power at both ends over
// its slot) beyond the green power, at the grid's carbon intensity. As the simulator counts.
double PlanKgCo2(const Problem& problem, const Outlook& outlook, const Plan& plan);

}  // namespace greenshift::placement
