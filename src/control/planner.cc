#include "control/planner.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace greenshift::control {

Planner::Planner(const placement::Problem& problem, std::unique_ptr<placement::Policy> policy,
                 int64_t min_dwell_slots, std::vector<int> home_site)
    : problem_(problem),
      policy_(std::move(policy)),
      priced_(problem),
      costs_(priced_),
      min_dwell_slots_(min_dwell_slots),
      home_site_(std::move(home_site)) {}

void Planner::Reprice(placement::Problem priced) {
  priced_ = std::move(priced);
  costs_ = placement::MoveCosts(priced_);
}

size_t Planner::HorizonSlots() const {
  return policy_->SeesOnlySensors() ? 1 : std::max<size_t>(1, policy_->HorizonSlots());
}

bool Planner::Due(int64_t slot) const {
  return last_plan_slot_ == kNeverMoved ||
         slot - last_plan_slot_ >= std::max<int64_t>(1, policy_->ReplanEverySlots());
}

void PutForecast(const Forecast& forecast, placement::Outlook* outlook) {
  const size_t S = forecast.sites.size(), H = outlook->slots;
  outlook->green_w.resize(S * H);
  outlook->carbon_g_per_kwh.resize(S * H);
  outlook->green_realized_share.clear();
  for (size_t s = 0; s < S; ++s) {
    const SiteForecast& site = forecast.sites[s];
    for (size_t k = 0; k < H; ++k) {
      outlook->green_w[s * H + k] = site.green_w[k];
      outlook->carbon_g_per_kwh[s * H + k] = site.carbon_g_per_kwh[k];
      if (k < site.green_realized_share.size()) {
        outlook->green_realized_share.resize(S * H, 1.0);
        outlook->green_realized_share[s * H + k] = site.green_realized_share[k];
      }
    }
  }
}

placement::Outlook Planner::MakeOutlook(int64_t slot, const Forecast& forecast,
                                        const Observation& observation,
                                        const std::vector<VmPlace>& fleet) const {
  const size_t S = problem_.sites.size(), V = problem_.vms.size();
  const bool sensors_only = policy_->SeesOnlySensors();
  placement::Outlook outlook;
  outlook.now_slot = slot;
  outlook.slots = sensors_only ? 1 : std::min(forecast.slots, HorizonSlots());
  const size_t H = outlook.slots;
  PutForecast(forecast, &outlook);
  if (sensors_only) {
    // The talk's rule: what the sensors measure now (all of it came), at the intensity of the
    // last period (the forecast's where none was measured).
    outlook.green_realized_share.clear();
    for (size_t s = 0; s < S; ++s) {
      const SiteObservation& o = observation.sites[s];
      for (size_t k = 0; k < H; ++k) {
        outlook.green_w[s * H + k] = std::isnan(o.green_w) ? 0.0 : o.green_w;
        if (!std::isnan(o.carbon_g_per_kwh))
          outlook.carbon_g_per_kwh[s * H + k] = o.carbon_g_per_kwh;
      }
    }
  }
  outlook.vm_power_w.resize(V * H);
  outlook.site_of_vm.resize(V);
  outlook.last_move_slot.resize(V);
  for (size_t v = 0; v < V; ++v) {
    for (size_t k = 0; k < H; ++k) {
      double w = forecast.VmPower(v, k);
      if (sensors_only && v < observation.vm_power_w.size() &&
          !std::isnan(observation.vm_power_w[v]))
        w = observation.vm_power_w[v];
      outlook.vm_power_w[v * H + k] = w;
    }
    const VmPlace& place = fleet[v];
    // A VM that runs nowhere known is planned where it is expected (the caller starts it);
    // held, like one that is moving or not running.
    outlook.site_of_vm[v] = place.site >= 0 ? place.site : home_site_[v];
    const bool held =
        place.moving || place.site < 0 || place.state != hypervisor::VmState::kRunning;
    outlook.last_move_slot[v] = held ? slot : place.last_move_slot;
  }
  return outlook;
}

Result<placement::Plan> Planner::Decide(const placement::Outlook& outlook) {
  const auto began = std::chrono::steady_clock::now();
  placement::Plan plan = policy_->Decide(priced_, costs_, outlook);
  last_planning_ms_ =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - began).count();
  last_solve_ = policy_->LastSolve();
  last_plan_slot_ = outlook.now_slot;
  GS_RETURN_IF_ERROR(
      placement::CheckPlan(priced_, outlook, plan, min_dwell_slots_)
          .Context("the " + policy_->Name() + " policy made a plan that breaks a rule"));
  return plan;
}

}  // namespace greenshift::control
