// Placement policies: one interface, from "never move" to a MILP over the horizon. A policy
// decides; it never acts (the executor or the simulator does).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "placement/problem.h"

namespace greenshift::placement {

struct PolicyOptions {
  int64_t min_dwell_slots = 4;       // a VM stays at least this long where it was moved
  double hysteresis_kg = 0.001;      // a move must save at least this much CO2 over the horizon...
  double hysteresis_fraction = 0.1;  // ...and this share of what the VM would emit staying
  size_t horizon_slots = 24;         // how far ahead forecast-based policies look
  double optimal_time_limit_s = 10;  // for `optimal`: its time limit (it may overrun by ~10 %)
  size_t optimal_horizon_slots = 0;  // for `optimal`: its horizon (0: horizon_slots), at least
                                     // its re-plan interval
  int64_t optimal_replan_slots = 6;  // for `optimal`: how often it re-plans (its plan covers
                                     // the horizon)
};

class Policy {
 public:
  virtual ~Policy() = default;
  virtual std::string Name() const = 0;
  // The moves to make now, from what the outlook says. Never violates capacity, downtime
  // budgets or the minimum dwell time.
  virtual Plan Decide(const Problem& problem, const MoveCosts& costs, const Outlook& outlook) = 0;
  // For `optimal`: the relative MIP gap of the last solve (0 = proven optimal); NaN otherwise.
  virtual double LastMipGap() const;
  // For `optimal`: how the last solve went (rounds, columns, bound, time), for people reading
  // a benchmark or a log; empty otherwise.
  virtual std::string LastSolveNote() const { return {}; }
  // How many slots of outlook it uses (the caller need not forecast further).
  virtual size_t HorizonSlots() const = 0;
  // True when it decides from what the sensors measure now, not from forecasts.
  virtual bool SeesOnlySensors() const { return false; }
  // How often it needs to decide, in slots: a plan that covers the horizon may be re-made less
  // often than every slot.
  virtual int64_t ReplanEverySlots() const { return 1; }
};

// "static": never moves. "follow-sensor": the talk's rule, each slot to the site with the most
// green power measured now. "greedy-forecast": over the horizon, each VM to the site where it is
// predicted to emit least, moves included, with hysteresis and a minimum dwell time.
// "optimal": a MILP over the horizon (Coin-OR CLP and CBC) with migration energy and link
// capacity, and the gap to its bound.
Result<std::unique_ptr<Policy>> MakePolicy(const std::string& name, const PolicyOptions& options);
std::vector<std::string> PolicyNames();

// The oracle (evaluation only): a lower bound on the CO2 of any placement in one slot, from the
// slot's actual green power, carbon intensity and VM power: the linear relaxation (VMs divisible
// across sites, capacity in peak power as for whole VMs, moves free), solved exactly by CLP.
// No realizable policy, which places whole VMs and pays for its moves, can emit less.
struct OracleSlot {
  double co2_kg = 0;
  double green_wh = 0;
  double load_wh = 0;
};
Result<OracleSlot> OracleBound(const Problem& problem, const std::vector<double>& green_w,
                               const std::vector<double>& carbon_g_per_kwh,
                               const std::vector<double>& vm_power_w);

}  // namespace greenshift::placement
