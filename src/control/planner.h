// plan: the third stage. It builds what the policy decides from (the placement::Outlook: the
// forecast, or what the sensors measure now for a policy that sees only them; where each VM runs
// and when it last moved) and runs the policy, whose plan is checked against the rules
// (placement::CheckPlan) before anyone may act on it. It decides; it never acts.
//
// It re-plans when the policy's re-plan interval has passed since its last plan (every slot for
// most; `optimal` plans a horizon and re-plans every few slots): the service and the simulator
// follow the same rhythm because both ask Due.
//
// Thread safety: one thread (the loop) calls everything (Reprice too). A solve may take seconds;
// nothing the API needs is held meanwhile.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "control/fleet.h"
#include "control/forecaster.h"
#include "control/observer.h"
#include "core/status.h"
#include "placement/policy.h"
#include "placement/problem.h"

namespace greenshift::control {

// The forecast's first `outlook->slots` slots of each site put into the outlook: green power,
// carbon intensity and the share of forecast green that came lately (left empty when the
// forecast has none: a forecast that knows). What a policy that sees forecasts decides from, in
// the engine (Planner::MakeOutlook) and in the simulator's `plan` (sim::ForecastOutlook).
void PutForecast(const Forecast& forecast, placement::Outlook* outlook);

class Planner {
 public:
  // `home_site`: where each VM belongs (it is planned there while it runs nowhere known).
  Planner(const placement::Problem& problem, std::unique_ptr<placement::Policy> policy,
          int64_t min_dwell_slots, std::vector<int> home_site);

  const placement::Policy& policy() const { return *policy_; }
  const placement::MoveCosts& costs() const { return costs_; }
  // The problem its moves are priced on: the configured one until Reprice.
  const placement::Problem& priced() const { return priced_; }
  // Prices the moves on `priced` from now on: the configured problem with what was measured of
  // the links and the guests in place of the configured figures (control/calibration.h). Only
  // prices change: its sites, VMs and rules must be the configured ones.
  void Reprice(placement::Problem priced);
  int64_t min_dwell_slots() const { return min_dwell_slots_; }
  // How many slots of forecast the policy uses.
  size_t HorizonSlots() const;

  // True when a plan is due at `slot`: none was made yet, or the policy's interval has passed.
  bool Due(int64_t slot) const;

  // What the policy decides from at `slot`. A VM that is moving, or not running, is held where
  // it is (as if it had just moved there).
  placement::Outlook MakeOutlook(int64_t slot, const Forecast& forecast,
                                 const Observation& observation,
                                 const std::vector<VmPlace>& fleet) const;

  // Runs the policy. A plan that breaks a rule is the policy's error, returned, never acted on.
  Result<placement::Plan> Decide(const placement::Outlook& outlook);

  double last_planning_ms() const { return last_planning_ms_; }
  // The policy's account of its last solve (`optimal`; NaN figures for the others).
  const placement::SolveReport& last_solve() const { return last_solve_; }
  int64_t last_plan_slot() const { return last_plan_slot_; }

 private:
  const placement::Problem& problem_;
  std::unique_ptr<placement::Policy> policy_;
  placement::Problem priced_;
  placement::MoveCosts costs_;  // of priced_
  const int64_t min_dwell_slots_;
  const std::vector<int> home_site_;
  int64_t last_plan_slot_ = kNeverMoved;
  double last_planning_ms_ = 0;
  placement::SolveReport last_solve_;
};

}  // namespace greenshift::control
