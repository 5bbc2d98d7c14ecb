// Where every VM runs, as far as the engine knows: the driver's inventory, kept up to date by
// the moves the executor makes. The planner decides from a snapshot of it; the executor reserves
// a destination's room in it while a migration runs (a VM in flight takes room at both ends).
//
// Hosts: a site has one or more hosts; a VM runs on a host. The driver names where a VM runs by
// its own location string (a lab site for qemu, the host itself for sim and libvirt): HostMap
// translates. A VM moving to a site goes to the least loaded of its hosts that has room for it
// (PickHost); the planner decides sites, the fleet hosts.
//
// Thread safety: every call may come from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "hypervisor/driver.h"
#include "placement/problem.h"

namespace greenshift::control {

inline constexpr int64_t kNeverMoved = std::numeric_limits<int64_t>::min() / 4;

struct HostMap {
  std::vector<std::string> names;            // per host
  std::vector<size_t> site;                  // per host: its site (index into the problem)
  std::vector<std::string> driver_location;  // per host: where the driver runs its VMs
  // Per host: the memory its VMs may take, MiB (0: no limit of its own; the site's capacity
  // holds). Every host of a site has one, or none does (the config checks).
  std::vector<int64_t> memory_mib;
  // The host index of a driver location, or -1. (A few string compares: hosts are few.)
  int HostOfLocation(const std::string& location) const;
};

// Where a move's VM will land: the host chosen (-1: none has room) and, when none, why.
struct Reservation {
  int host = -1;
  std::string why;
};

struct VmPlace {
  int host = -1;  // -1: it runs nowhere the engine knows
  int site = -1;
  hypervisor::VmState state = hypervisor::VmState::kUnknown;
  bool moving = false;                   // a move of it is queued or running
  int in_flight_to = -1;                 // the destination site while its migration runs
  int in_flight_host = -1;               // and the host there
  int64_t last_move_slot = kNeverMoved;  // the slot it last arrived somewhere in
};

class Fleet {
 public:
  Fleet(const placement::Problem& problem, HostMap hosts);

  const HostMap& hosts() const { return hosts_; }
  size_t size() const { return vms_.size(); }

  std::vector<VmPlace> Snapshot() const;
  VmPlace Get(size_t vm) const;
  // Calls `read` with the VMs under the lock: for the loop's passes over many VMs, no copy.
  void Read(const std::function<void(const std::vector<VmPlace>&)>& read) const;

  // Takes the driver's inventory: each VM where the driver says it runs (a VM that is moving
  // keeps its reservation; one the driver does not list runs nowhere).
  void Refresh(const std::vector<hypervisor::VmInfo>& listed);
  // Places a VM directly (the simulator's start, the recovery's findings).
  void Place(size_t vm, int host, hypervisor::VmState state);
  void SetLastMove(size_t vm, int64_t slot);

  // Marks the VM as having a move queued; false when it already has one.
  bool MarkMoving(size_t vm);
  // The move was dropped before it started: the mark goes, the VM stays where it is.
  void UnmarkMoving(size_t vm);
  // The host of `site` the VM would go to now: of those whose memory it fits in (counting the
  // VMs there and those in flight to it), the least loaded (the smallest share of its memory
  // taken; by MiB taken when the site's hosts have no memory figure), then the one with fewer
  // VMs, then the first. -1 when none has room.
  int PickHost(size_t vm, size_t site) const;
  // Reserves room for the VM at `to` for its migration, on the host PickHost chooses. Nothing
  // is reserved (host -1, with why) when its peak power does not fit the site now, counting the
  // VMs there and those in flight to it, or when no host there has the memory for it.
  Reservation Reserve(size_t vm, size_t to);
  // The move is over: the VM runs on `host` (its destination when it moved, else where it
  // stayed; -1 when it runs nowhere known); the reservation and the moving mark are dropped.
  void EndMove(size_t vm, int host, hypervisor::VmState state, bool moved, int64_t slot);

  // Peak power taken at each site: the VMs there and those in flight to it.
  std::vector<double> PeakUsedW() const;
  // Memory taken on each host, MiB: the VMs there and those in flight to it.
  std::vector<int64_t> MemoryUsedMib() const;

 private:
  void Account(size_t vm, int sign);  // adds or removes the VM's peak power and memory
  int PickHostLocked(size_t vm, size_t site) const;
  int64_t MemoryMibOf(size_t vm) const;
  const placement::Problem& problem_;
  const HostMap hosts_;
  mutable std::mutex mutex_;
  std::vector<VmPlace> vms_;
  std::map<std::string, size_t> index_;
  std::vector<double> peak_used_w_;       // per site
  std::vector<int64_t> memory_used_mib_;  // per host
  std::vector<int> vms_on_host_;          // per host, in flight included
};

}  // namespace greenshift::control
