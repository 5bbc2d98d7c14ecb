#include "api/best_site.h"

#include <algorithm>
#include <cmath>

#include "core/clock.h"

namespace greenshift::api {

using nlohmann::json;

json BestSite(const BestSiteQuestion& q) {
  const control::Forecast& f = q.forecast;
  const placement::Problem& p = q.problem;
  const size_t S = p.sites.size(), V = p.vms.size(), K = std::min(q.slots, f.slots);
  const double slot_h = static_cast<double>(f.slot_s) / 3600;
  const int at = q.vm < q.vms.size() ? q.vms[q.vm].site : -1;
  struct Row {
    size_t site;
    bool fits, feasible;
    double run_kg, move_kg, brown_kwh, green_share;
    json move;
  };
  std::vector<Row> rows;
  for (size_t s = 0; s < S; ++s) {
    // What the other VMs there take of its room now, and draw in each slot.
    double peak_w = 0;
    std::vector<double> others_w(K, 0.0);
    for (size_t u = 0; u < V && u < q.vms.size(); ++u) {
      if (u == q.vm || q.vms[u].site != static_cast<int>(s)) continue;
      peak_w += p.vms[u].peak_power_w;
      for (size_t k = 0; k < K; ++k) others_w[k] += f.VmPower(u, k);
    }
    Row row{s,    peak_w + p.vms[q.vm].peak_power_w <= p.sites[s].capacity_w * (1 + 1e-9),
            true, 0,
            0,    0,
            0,    nullptr};
    double own_wh = 0, brown_wh = 0;
    for (size_t k = 0; k < K; ++k) {
      const double green = f.sites[s].green_w[k], vm_w = f.VmPower(q.vm, k);
      // The VM's share of the site's brown power: what the site draws with it minus without.
      const double brown_w =
          std::max(0.0, others_w[k] + vm_w - green) - std::max(0.0, others_w[k] - green);
      own_wh += vm_w * slot_h;
      brown_wh += brown_w * slot_h;
      row.run_kg += placement::KgCo2(brown_w * slot_h, f.sites[s].carbon_g_per_kwh[k]);
    }
    row.brown_kwh = brown_wh / 1000;
    row.green_share = own_wh > 0 ? 1 - brown_wh / own_wh : 1;
    if (at >= 0 && static_cast<size_t>(at) != s) {
      const placement::MoveCost cost = placement::PredictMove(p, q.vm, static_cast<size_t>(at), s);
      // The move's energy, half at each end, at each end's intensity in the first slot.
      const double mean_g =
          (f.sites[static_cast<size_t>(at)].carbon_g_per_kwh[0] + f.sites[s].carbon_g_per_kwh[0]) /
          2;
      row.feasible = cost.feasible;
      row.move_kg = placement::KgCo2(cost.energy_j / 3600, mean_g);
      row.move = {{"feasible", cost.feasible},
                  {"downtime_ms", cost.downtime_s * 1000},
                  {"total_s", cost.total_s},
                  {"energy_kwh", cost.energy_j / 3.6e6},
                  {"kg_co2", row.move_kg},
                  {"why_not", cost.why_not.empty() ? json(nullptr) : json(cost.why_not)}};
    }
    rows.push_back(std::move(row));
  }
  // Best first; a site without room, or one the VM cannot reach, after every one it can use.
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    const bool ua = a.fits && a.feasible, ub = b.fits && b.feasible;
    if (ua != ub) return ua;
    return a.run_kg + a.move_kg < b.run_kg + b.move_kg;
  });
  json sites = json::array();
  for (const Row& r : rows) {
    sites.push_back({{"site", p.sites[r.site].name},
                     {"kg_co2", r.run_kg + r.move_kg},
                     {"run_kg_co2", r.run_kg},
                     {"brown_kwh", r.brown_kwh},
                     {"green_share", r.green_share},
                     {"fits", r.fits},
                     {"move", r.move}});
  }
  const int64_t from_s = f.first_slot * f.slot_s;
  const bool usable = !rows.empty() && rows.front().fits && rows.front().feasible;
  return {{"vm", p.vms[q.vm].name},
          {"at", at >= 0 ? json(p.sites[static_cast<size_t>(at)].name) : json(nullptr)},
          {"from", FormatUtcSeconds(from_s)},
          {"to", FormatUtcSeconds(from_s + static_cast<int64_t>(K) * f.slot_s)},
          {"sites", sites},
          {"best", usable ? json(p.sites[rows.front().site].name) : json(nullptr)}};
}

}  // namespace greenshift::api
