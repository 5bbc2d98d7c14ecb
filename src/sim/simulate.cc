#include "sim/simulate.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace greenshift::sim {

namespace {

constexpr size_t kWeekSlots = 7 * 24;

// The same hour on the last day known at t (data up to t - 1): t + k - 24 x ceil((k + 1) / 24),
// never before slot 0.
size_t LastDaySlot(size_t t, size_t k) {
  const size_t back = 24 * ((k + 24) / 24);
  return t + k >= back ? t + k - back : (t + k) % 24;
}

}  // namespace

Status World::Check() const {
  GS_RETURN_IF_ERROR(problem.Check());
  const size_t sites = problem.sites.size(), vms = problem.vms.size();
  if (slots == 0) return Status::Error("the world has no slots");
  for (const auto* series : {&pv_w, &wind_w, &pv_clear_w, &carbon_g_per_kwh}) {
    if (series->size() != sites * slots) return Status::Error("a site series has the wrong length");
  }
  if (vm_power_w.size() != vms * slots) return Status::Error("VM power has the wrong length");
  if (initial_site.size() != vms) return Status::Error("every VM needs an initial site");
  std::vector<double> used(sites, 0.0);
  for (size_t v = 0; v < vms; ++v) {
    if (initial_site[v] < 0 || static_cast<size_t>(initial_site[v]) >= sites)
      return Status::Error("VM '" + problem.vms[v].name + "' starts at an unknown site");
    used[initial_site[v]] += problem.vms[v].peak_power_w;
    for (size_t t = 0; t < slots; ++t) {
      const double p = vm_power_w[v * slots + t];
      if (!(p >= 0) || p > problem.vms[v].peak_power_w * (1 + 1e-9))
        return Status::Error("VM '" + problem.vms[v].name + "': power at slot " +
                             std::to_string(t) + " outside 0..peak");
    }
  }
  for (size_t s = 0; s < sites; ++s) {
    if (used[s] > problem.sites[s].capacity_w)
      return Status::Error("site '" + problem.sites[s].name +
                           "': the VMs that start there exceed its capacity");
  }
  return Status::Ok();
}

placement::Outlook ForecastOutlook(const World& world, size_t t, size_t horizon,
                                   const std::vector<int>& site_of_vm,
                                   const std::vector<int64_t>& last_move_slot) {
  const size_t sites = world.problem.sites.size(), vms = world.problem.vms.size();
  placement::Outlook outlook;
  outlook.now_slot = static_cast<int64_t>(t);
  outlook.slots = horizon;
  outlook.site_of_vm = site_of_vm;
  outlook.last_move_slot = last_move_slot;
  outlook.green_w.resize(sites * horizon);
  outlook.carbon_g_per_kwh.resize(sites * horizon);
  outlook.vm_power_w.resize(vms * horizon);
  for (size_t s = 0; s < sites; ++s) {
    const double* pv = &world.pv_w[s * world.slots];
    const double* clear = &world.pv_clear_w[s * world.slots];
    const double* wind = &world.wind_w[s * world.slots];
    const double* carbon = &world.carbon_g_per_kwh[s * world.slots];
    // The last week's clear-sky index and mean wind, and the last 3 h's index.
    double week_pv = 0, week_clear = 0, week_wind = 0, recent_pv = 0, recent_clear = 0;
    const size_t from = t > kWeekSlots ? t - kWeekSlots : 0;
    for (size_t j = from; j < t; ++j) {
      week_pv += pv[j];
      week_clear += clear[j];
      week_wind += wind[j];
    }
    double peak_clear = 0;
    for (size_t j = from; j < t; ++j) peak_clear = std::max(peak_clear, clear[j]);
    for (size_t j = t > 3 ? t - 3 : 0; j < t; ++j) {
      if (clear[j] < 0.05 * peak_clear) continue;
      recent_pv += pv[j];
      recent_clear += clear[j];
    }
    const double week_index = week_clear > 0 ? week_pv / week_clear : 0.6;
    const double recent_index = recent_clear > 0 ? recent_pv / recent_clear : week_index;
    const double mean_wind = t > from ? week_wind / static_cast<double>(t - from) : 0;
    const double last_wind = t > 0 ? wind[t - 1] : mean_wind;
    for (size_t k = 0; k < horizon; ++k) {
      const size_t at = std::min(t + k, world.slots - 1);
      const double lead = static_cast<double>(k + 1);
      const double index = week_index + (recent_index - week_index) * std::exp(-lead / 4);
      const double wind_forecast = mean_wind + (last_wind - mean_wind) * std::exp(-lead / 6);
      outlook.green_w[s * horizon + k] = clear[at] * index + wind_forecast;
      // Carbon: the last hour's value moved by yesterday's change over the same hours, fading
      // into the same hour yesterday.
      const double yesterday = carbon[std::min(LastDaySlot(t, k), world.slots - 1)];
      double carbon_forecast = yesterday;
      if (t > 24) {
        const double persist = carbon[t - 1] + yesterday - carbon[t - 25];
        carbon_forecast = yesterday + (persist - yesterday) * std::exp(-lead / 6);
      }
      outlook.carbon_g_per_kwh[s * horizon + k] = std::max(0.0, carbon_forecast);
    }
  }
  for (size_t v = 0; v < vms; ++v) {
    const double* power = &world.vm_power_w[v * world.slots];
    for (size_t k = 0; k < horizon; ++k) {
      outlook.vm_power_w[v * horizon + k] = power[std::min(LastDaySlot(t, k), world.slots - 1)];
    }
  }
  return outlook;
}

placement::Outlook SensorOutlook(const World& world, size_t t, const std::vector<int>& site_of_vm,
                                 const std::vector<int64_t>& last_move_slot) {
  placement::Outlook outlook = ForecastOutlook(world, t, 1, site_of_vm, last_move_slot);
  const size_t seen = t > 0 ? t - 1 : 0;
  for (size_t s = 0; s < world.problem.sites.size(); ++s) {
    outlook.green_w[s] = world.GreenW(s, seen);
    outlook.carbon_g_per_kwh[s] = world.carbon_g_per_kwh[s * world.slots + seen];
  }
  for (size_t v = 0; v < world.problem.vms.size(); ++v)
    outlook.vm_power_w[v] = world.vm_power_w[v * world.slots + seen];
  return outlook;
}

placement::Outlook OutlookFor(const World& world, const placement::Policy& policy, size_t t,
                              const std::vector<int>& site_of_vm,
                              const std::vector<int64_t>& last_move_slot) {
  if (policy.SeesOnlySensors()) return SensorOutlook(world, t, site_of_vm, last_move_slot);
  return ForecastOutlook(world, t, policy.HorizonSlots(), site_of_vm, last_move_slot);
}

Result<PolicyResult> Simulate(const World& world, placement::Policy& policy,
                              const SimulationOptions& options) {
  GS_RETURN_IF_ERROR(world.Check());
  const placement::Problem& problem = world.problem;
  const size_t sites = problem.sites.size(), vms = problem.vms.size(), T = world.slots;
  const placement::MoveCosts costs(problem);
  const double slot_h = static_cast<double>(problem.slot_s) / 3600;
  const int64_t replan_every = std::max<int64_t>(1, policy.ReplanEverySlots());
  const int64_t dwell = options.policy.min_dwell_slots;

  PolicyResult result;
  result.policy = policy.Name();
  result.site_load_w.assign(sites * T, 0.0);
  result.site_vms.assign(sites * T, 0.0);
  result.cumulative_co2_kg.assign(T, 0.0);
  std::vector<int> site_of = world.initial_site;
  std::vector<int64_t> last_move(vms, -(int64_t{1} << 40));
  std::vector<double> peak_used(sites, 0.0);
  for (size_t v = 0; v < vms; ++v) peak_used[site_of[v]] += problem.vms[v].peak_power_w;
  std::vector<placement::Move> pending;
  std::vector<double> move_w(sites);

  for (size_t t = 0; t < T; ++t) {
    if (static_cast<int64_t>(t) % replan_every == 0) {
      const placement::Outlook outlook = OutlookFor(world, policy, t, site_of, last_move);
      const auto began = std::chrono::steady_clock::now();
      placement::Plan plan = policy.Decide(problem, costs, outlook);
      result.planning_ms +=
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - began)
              .count();
      const double gap = policy.LastMipGap();
      if (!std::isnan(gap)) result.max_mip_gap = std::max(result.max_mip_gap, gap);
      pending = std::move(plan.moves);
    }
    // Act: the moves due now, each checked again by the driver against what is true now. A move
    // into a full site may wait for a move out of it in the same slot, so retry while any lands.
    std::fill(move_w.begin(), move_w.end(), 0.0);
    std::vector<const placement::Move*> due;
    for (const placement::Move& m : pending) {
      if (m.slot == static_cast<int64_t>(t)) due.push_back(&m);
    }
    for (bool progress = true; progress && !due.empty();) {
      progress = false;
      for (auto it = due.begin(); it != due.end();) {
        const placement::Move& m = **it;
        const placement::Vm& vm = problem.vms[m.vm];
        if (peak_used[m.to] + vm.peak_power_w > problem.sites[m.to].capacity_w) {
          ++it;  // not yet
          continue;
        }
        it = due.erase(it);
        const bool ok = site_of[m.vm] == static_cast<int>(m.from) && m.from != m.to &&
                        static_cast<int64_t>(t) - last_move[m.vm] >= dwell &&
                        m.predicted.feasible && m.predicted.downtime_s <= vm.downtime_budget_s;
        if (!ok) {
          ++result.refused_moves;
          continue;
        }
        progress = true;
        site_of[m.vm] = static_cast<int>(m.to);
        last_move[m.vm] = static_cast<int64_t>(t);
        peak_used[m.from] -= vm.peak_power_w;
        peak_used[m.to] += vm.peak_power_w;
        ++result.migrations;
        result.bytes_moved += m.predicted.bytes;
        result.downtime_s += m.predicted.downtime_s;
        result.migration_energy_kwh += m.predicted.energy_j / 3.6e6;
        // The move's energy, half at each end, spread over the slot.
        const double watts = m.predicted.energy_j / 2 / static_cast<double>(problem.slot_s);
        move_w[m.from] += watts;
        move_w[m.to] += watts;
      }
    }
    result.refused_moves += static_cast<int64_t>(due.size());  // never found room
    // Account the slot with what really happened.
    for (size_t s = 0; s < sites; ++s) result.site_load_w[s * T + t] = move_w[s];
    for (size_t v = 0; v < vms; ++v) {
      result.site_load_w[site_of[v] * T + t] += world.vm_power_w[v * T + t];
      result.site_vms[site_of[v] * T + t] += 1;
    }
    for (size_t s = 0; s < sites; ++s) {
      const double load = result.site_load_w[s * T + t];
      const double green = std::min(load, world.GreenW(s, t));
      result.load_kwh += load * slot_h / 1000;
      result.green_kwh += green * slot_h / 1000;
      result.brown_kwh += (load - green) * slot_h / 1000;
      result.co2_kg += placement::KgCo2((load - green) * slot_h, world.carbon_g_per_kwh[s * T + t]);
    }
    result.cumulative_co2_kg[t] = result.co2_kg;
  }
  result.green_share = result.load_kwh > 0 ? result.green_kwh / result.load_kwh : 0;
  return result;
}

Result<PolicyResult> OracleResult(const World& world) {
  GS_RETURN_IF_ERROR(world.Check());
  const size_t sites = world.problem.sites.size(), vms = world.problem.vms.size(), T = world.slots;
  PolicyResult result;
  result.policy = "oracle";
  result.cumulative_co2_kg.assign(T, 0.0);
  std::vector<double> green(sites), carbon(sites), power(vms);
  for (size_t t = 0; t < T; ++t) {
    for (size_t v = 0; v < vms; ++v) power[v] = world.vm_power_w[v * T + t];
    for (size_t s = 0; s < sites; ++s) {
      green[s] = world.GreenW(s, t);
      carbon[s] = world.carbon_g_per_kwh[s * T + t];
    }
    Result<placement::OracleSlot> slot =
        placement::OracleBound(world.problem, green, carbon, power);
    if (!slot.ok()) return slot.status().Context("slot " + std::to_string(t));
    result.load_kwh += slot->load_wh / 1000;
    result.green_kwh += slot->green_wh / 1000;
    result.co2_kg += slot->co2_kg;
    result.cumulative_co2_kg[t] = result.co2_kg;
  }
  result.brown_kwh = result.load_kwh - result.green_kwh;
  result.green_share = result.load_kwh > 0 ? result.green_kwh / result.load_kwh : 0;
  return result;
}

}  // namespace greenshift::sim
