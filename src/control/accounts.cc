#include "control/accounts.h"

#include <algorithm>
#include <cmath>

namespace greenshift::control {

Accountant::Accountant(const placement::Problem& problem, std::vector<int> home_site,
                       bool with_static)
    : problem_(problem),
      home_site_(std::move(home_site)),
      with_static_(with_static),
      move_energy_j_(problem.sites.size(), 0.0) {}

void Accountant::MoveEnded(const MoveOutcome& outcome, size_t from, size_t to) {
  if (outcome.state != "completed") return;
  const double energy_j = outcome.EnergyJ(problem_.energy_per_byte_j);
  std::lock_guard<std::mutex> lock(mutex_);
  move_energy_j_[from] += energy_j / 2;
  move_energy_j_[to] += energy_j / 2;
  totals_.migration_energy_j += energy_j;
}

std::optional<PeriodAccount> Accountant::Close(const Observation& observation,
                                               const std::vector<VmPlace>& fleet,
                                               int64_t period_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  const int64_t now = observation.time_ms;
  if (!started_ || now <= last_ms_) {
    if (!started_) std::fill(move_energy_j_.begin(), move_energy_j_.end(), 0.0);
    started_ = true;
    last_ms_ = std::max(last_ms_, now);
    return std::nullopt;
  }
  const size_t S = problem_.sites.size(), V = problem_.vms.size();
  PeriodAccount a;
  a.start_ms = last_ms_;
  a.end_ms = now;
  const int64_t span_ms = std::min<int64_t>(now - last_ms_, 2 * period_ms);
  a.hours = static_cast<double>(span_ms) / 3.6e6;
  last_ms_ = now;
  a.load_w.assign(S, 0.0);
  a.green_w.assign(S, 0.0);
  a.carbon_g_per_kwh.assign(S, 0.0);
  a.vms.assign(S, 0);
  for (size_t s = 0; s < S; ++s) {
    // The moves' energy as power over the period, half at each end.
    a.load_w[s] = move_energy_j_[s] / (a.hours * 3600);
    move_energy_j_[s] = 0;
    const SiteObservation& o = observation.sites[s];
    a.green_w[s] = std::isnan(o.green_w) ? 0.0 : o.green_w;
    a.carbon_g_per_kwh[s] = std::isnan(o.carbon_g_per_kwh) ? 0.0 : o.carbon_g_per_kwh;
  }
  std::vector<double> static_load(with_static_ ? S : 0, 0.0);
  for (size_t v = 0; v < V; ++v) {
    const double w = v < observation.vm_power_w.size() ? observation.vm_power_w[v] : 0.0;
    const int site = fleet[v].site;
    if (site >= 0) {
      a.load_w[static_cast<size_t>(site)] += w;
      a.vms[static_cast<size_t>(site)] += 1;
    }
    if (with_static_) static_load[static_cast<size_t>(home_site_[v])] += w;
  }
  for (size_t s = 0; s < S; ++s) {
    const double load = a.load_w[s];
    const double green = std::min(load, a.green_w[s]);
    a.load_wh += load * a.hours;
    a.green_used_wh += green * a.hours;
    a.co2_kg += placement::KgCo2((load - green) * a.hours, a.carbon_g_per_kwh[s]);
    if (with_static_) {
      const double static_green = std::min(static_load[s], a.green_w[s]);
      a.static_green_used_wh += static_green * a.hours;
      a.static_co2_kg +=
          placement::KgCo2((static_load[s] - static_green) * a.hours, a.carbon_g_per_kwh[s]);
    }
  }
  ++totals_.periods;
  totals_.load_wh += a.load_wh;
  totals_.green_used_wh += a.green_used_wh;
  totals_.co2_kg += a.co2_kg;
  totals_.static_green_used_wh += a.static_green_used_wh;
  totals_.static_co2_kg += a.static_co2_kg;
  return a;
}

AccountTotals Accountant::Totals() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return totals_;
}

}  // namespace greenshift::control
