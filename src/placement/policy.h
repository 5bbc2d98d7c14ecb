// Placement policies: one interface, from "never move" to a MILP over the horizon. A policy
// decides; it never acts (the executor or the simulator does).
#pragma once

#include <limits>
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
  // For the greedy forecast policy: a share of a destination's forecast green a move does not
  // count on, beyond what the forecasts' record takes off (Outlook::green_realized_share), so
  // that it pays under a larger error than lately (0 <= x < 1; staying counts it all).
  double green_margin_fraction = 0;
  size_t horizon_slots = 24;  // how far ahead forecast-based policies look
  // For `optimal`: how much work one solve may do. These, not the clock, stop it, so that the
  // same input gives the same plan on any machine under any load.
  size_t optimal_max_steps = 1000;  // subgradient steps on the bound
  size_t optimal_max_rounds = 50;   // rounds of column generation
  int optimal_max_nodes = 100;      // CBC's branch-and-bound nodes
  // For `optimal`: a safety net in seconds (it may overrun by ~10 %). A solve that reaches it
  // stops where it is and says so (SolveReport::stopped_by_clock): its plan then depends on
  // the machine's speed.
  double optimal_time_limit_s = 10;
  size_t optimal_horizon_slots = 0;  // for `optimal`: its horizon (0: horizon_slots), at least
                                     // its re-plan interval
  int64_t optimal_replan_slots = 6;  // for `optimal`: how often it re-plans (its plan covers
                                     // the horizon)
};

// How a policy's last solve went, for a policy that solves a programme (`optimal`); NaN
// figures for the others.
struct SolveReport {
  double objective_kg = std::numeric_limits<double>::quiet_NaN();  // the plan's, tie-break incl.
  double bound_kg = std::numeric_limits<double>::quiet_NaN();  // no plan over the horizon is lower
  bool stopped_by_clock = false;  // its time limit, not its work limits, ended it
  // The relative gap (objective - bound) / objective; 0 = proven optimal, 1 when no whole plan
  // was found (objective infinite), NaN without a solve.
  // Over a near-zero objective this ratio means little: sum the kg over solves instead.
  double Gap() const;
  double GapKg() const { return objective_kg - bound_kg; }
};

// Reads `optimal`'s work limits (optimal_max_steps, optimal_max_rounds, optimal_max_nodes) into
// `options` with `whole(key, fallback, lo, hi)`: a config or scenario reader's whole-number
// reader (Result<double>), whose errors name the key. Absent keys keep PolicyOptions' defaults.
template <class ReadWhole>
Status ReadOptimalWorkLimits(const ReadWhole& whole, PolicyOptions* options) {
  const PolicyOptions defaults;
  Result<double> steps =
      whole("optimal_max_steps", static_cast<double>(defaults.optimal_max_steps), 1, 1e6);
  if (!steps.ok()) return steps.status();
  Result<double> rounds =
      whole("optimal_max_rounds", static_cast<double>(defaults.optimal_max_rounds), 0, 1e4);
  if (!rounds.ok()) return rounds.status();
  Result<double> nodes = whole("optimal_max_nodes", defaults.optimal_max_nodes, 0, 1e7);
  if (!nodes.ok()) return nodes.status();
  options->optimal_max_steps = static_cast<size_t>(*steps);
  options->optimal_max_rounds = static_cast<size_t>(*rounds);
  options->optimal_max_nodes = static_cast<int>(*nodes);
  return Status::Ok();
}

class Policy {
 public:
  virtual ~Policy() = default;
  virtual std::string Name() const = 0;
  // The moves to make now, from what the outlook says. Never violates capacity, downtime
  // budgets or the minimum dwell time.
  virtual Plan Decide(const Problem& problem, const MoveCosts& costs, const Outlook& outlook) = 0;
  // For `optimal`: its last solve's objective and bound; NaN figures otherwise.
  virtual SolveReport LastSolve() const { return {}; }
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
