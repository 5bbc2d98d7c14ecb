// Where every VM runs, as far as the engine knows: the driver's inventory, kept up to date by
// the moves the executor makes. The planner decides from a snapshot of it; the executor reserves
// a destination's room in it while a migration runs (a VM in flight takes room at both ends).
//
// Hosts: a site has one or more hosts; a VM runs on a host. The driver names where a VM runs by
// its own location string (a lab site for qemu, the host itself for sim): HostMap translates.
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
  // The host index of a driver location, or -1. (A few string compares: hosts are few.)
  int HostOfLocation(const std::string& location) const;
  // The host a VM moving to `site` goes to: its first host. (One host per site today.)
  int HostForSite(size_t site) const;
};

struct VmPlace {
  int host = -1;  // -1: it runs nowhere the engine knows
  int site = -1;
  hypervisor::VmState state = hypervisor::VmState::kUnknown;
  bool moving = false;                   // a move of it is queued or running
  int in_flight_to = -1;                 // the destination site while its migration runs
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
  // Reserves room for the VM at `to` for its migration: false (nothing reserved) when its peak
  // power does not fit there now, counting the VMs there and those in flight to it.
  bool Reserve(size_t vm, size_t to);
  // The move is over: the VM runs on `host` (its destination when it moved, else where it
  // stayed; -1 when it runs nowhere known); the reservation and the moving mark are dropped.
  void EndMove(size_t vm, int host, hypervisor::VmState state, bool moved, int64_t slot);

  // Peak power taken at each site: the VMs there and those in flight to it.
  std::vector<double> PeakUsedW() const;

 private:
  void Account(size_t vm, int sign);  // adds or removes the VM's peak power where it is
  const placement::Problem& problem_;
  const HostMap hosts_;
  mutable std::mutex mutex_;
  std::vector<VmPlace> vms_;
  std::map<std::string, size_t> index_;
  std::vector<double> peak_used_w_;  // per site
};

}  // namespace greenshift::control
