// The simulator: the service's engine (control::Engine: observer, forecaster, planner, executor,
// accountant) ticked slot by slot over recorded data, with the `sim` driver (a migration takes
// effect as the pre-copy model predicts, in no time) and a replay clock. Each site's sensors
// replay what its PV and wind made, its grid carbon is the recorded intensity, its VMs draw
// their recorded power. A policy is evaluated by the code that runs in production; the oracle
// bound shows what was possible.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "placement/policy.h"
#include "placement/problem.h"

namespace greenshift::sim {

// What really happened at each site and VM, slot by slot.
struct World {
  placement::Problem problem;
  int64_t start_utc_s = 0;
  size_t slots = 0;
  // Per site, per slot (index site * slots + t): PV and wind power produced, PV under a clear
  // sky (the forecaster's reference), grid carbon intensity (gCO2/kWh).
  std::vector<double> pv_w, wind_w, pv_clear_w, carbon_g_per_kwh;
  // Per VM, per slot (vm * slots + t): power drawn.
  std::vector<double> vm_power_w;
  std::vector<int> initial_site;  // per VM
  double GreenW(size_t site, size_t t) const {
    return pv_w[site * slots + t] + wind_w[site * slots + t];
  }
  Status Check() const;
};

struct SimulationOptions {
  placement::PolicyOptions policy;
  bool keep_moves = false;  // PolicyResult::moves: every completed move (for comparisons)
  // Perfect foresight: the engine's predict stage knows what the world will do (green power,
  // carbon, VM power) instead of forecasting it from the past. With `optimal`, the clairvoyant
  // reference: whole VMs, move costs, dwell, capacity and link times as for any policy, so
  // what it saves is achievable, unlike the oracle's bound.
  bool clairvoyant = false;
  // Called after every slot with the slots done and the slots in all, on the caller's thread
  // (for a progress display; it must not throw).
  std::function<void(size_t done, size_t total)> progress;
};

// One move the simulation made.
struct SimulatedMove {
  std::string vm, from, to;
  int64_t slot = 0;  // slot index from the world's start
  bool operator==(const SimulatedMove& o) const {
    return vm == o.vm && from == o.from && to == o.to && slot == o.slot;
  }
};

struct PolicyResult {
  std::string policy;
  double load_kwh = 0, green_kwh = 0, brown_kwh = 0, co2_kg = 0;
  double green_share = 0;  // green energy used / energy used
  int64_t migrations = 0;
  int64_t bytes_moved = 0;
  double downtime_s = 0;
  double migration_energy_kwh = 0;
  int64_t refused_moves = 0;  // planned moves the driver refused (would break a rule)
  double planning_ms = 0;     // total time in the policy
  // For a policy that solves a programme (`optimal`): its solves, those its time limit (not
  // its work limits) ended, those that found no whole plan (it then falls back to the greedy
  // plan); over the others, the sum of their objectives and of their gaps to their bounds
  // (kg CO2 each plan might still be above the best over its horizon), and the largest gap.
  int64_t solves = 0, solves_stopped_by_clock = 0, solves_without_plan = 0;
  double mip_objective_kg = 0, mip_gap_kg = 0, worst_mip_gap_kg = 0;
  // The gap over the run: sum of gaps / sum of objectives (a ratio per solve means little when
  // a horizon's objective is near zero). NaN without a solve.
  double MipGap() const {
    if (solves == solves_without_plan) return std::nan("");
    return mip_gap_kg <= 0 ? 0 : mip_gap_kg / mip_objective_kg;
  }
  // For the report, per slot: load per site (site * slots + t), VMs per site, cumulative CO2.
  std::vector<double> site_load_w, site_vms, cumulative_co2_kg;
  std::vector<int32_t> migrations_by_slot;  // moves completed, by the slot they were planned in
  std::vector<SimulatedMove> moves;         // with SimulationOptions::keep_moves
};

// Runs `policy` over the world through the engine. Realizable policies see forecasts made from
// what was measured before each slot (the engine's "history" methods: PV from the clear-sky
// index of the last hour fading over 16 h into the last 7 days'; wind: last value blended into the
// 7-day mean; carbon: the last hour moved by yesterday's change; VM power: the same hour of the
// last day); `follow-sensor` sees only the last measurement.
Result<PolicyResult> Simulate(const World& world, placement::Policy& policy,
                              const SimulationOptions& options);

// Migrations per VM per day over the world's period.
double MovesPerVmDay(const PolicyResult& r, const World& world);
// The same in the busiest `days` (a sliding window of whole slots; the whole period when it is
// shorter): the year's average hides the sunny months, and a move budget meant for every season
// is checked against this. 0 for a result without moves by slot (the oracle).
double BusiestMovesPerVmDay(const PolicyResult& r, const World& world, int days);

// The oracle's lower bound over the same world (divisible VMs, free moves, perfect foresight).
Result<PolicyResult> OracleResult(const World& world);

// What a realizable policy knows at slot t: the engine's forecasts for `horizon_slots` made from
// what was measured before t (the last week of it), with the VMs where `site_of_vm` says and
// last moved at `last_move_slot` (slot indices from the world's start). The outlook's slots
// count from the world's start too.
placement::Outlook ForecastOutlook(const World& world, size_t t, size_t horizon_slots,
                                   const std::vector<int>& site_of_vm,
                                   const std::vector<int64_t>& last_move_slot);

// The outlook `policy` decides from at slot t: what the sensors measured in the slot before (a
// policy that sees only them), or ForecastOutlook over its horizon.
placement::Outlook OutlookFor(const World& world, const placement::Policy& policy, size_t t,
                              const std::vector<int>& site_of_vm,
                              const std::vector<int64_t>& last_move_slot);

}  // namespace greenshift::sim
