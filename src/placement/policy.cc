#include "placement/policy.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>

#include "placement/optimal.h"

namespace greenshift::placement {

namespace {

class StaticPolicy : public Policy {
 public:
  std::string Name() const override { return "static"; }
  Plan Decide(const Problem&, const MoveCosts&, const Outlook&) override { return {Name(), {}}; }
};

// Greedy over the horizon. For each VM that may move (dwell time over), in order of decreasing
// predicted energy: take it out of its site, price it at every site as the brown power it would
// add there (its power beyond the green left after the VMs placed so far) times the grid's carbon
// intensity, plus the move's energy; move it when that saves more than the hysteresis, capacity,
// downtime budget and link time allowing. With a one-slot horizon fed with what the sensors
// measure now, this is the talk's follow-the-sensor rule.
class GreedyPolicy : public Policy {
 public:
  GreedyPolicy(std::string name, PolicyOptions options)
      : name_(std::move(name)), options_(options) {}
  std::string Name() const override { return name_; }

  Plan Decide(const Problem& problem, const MoveCosts& costs, const Outlook& outlook) override {
    Plan plan{name_, {}};
    const size_t sites = problem.sites.size(), vms = problem.vms.size();
    const size_t horizon = std::min(outlook.slots, std::max<size_t>(1, options_.horizon_slots));
    const double slot_h = static_cast<double>(problem.slot_s) / 3600;
    std::vector<double> load(sites * horizon, 0.0), peak_used(sites, 0.0);
    for (size_t v = 0; v < vms; ++v) {
      const size_t s = static_cast<size_t>(outlook.site_of_vm[v]);
      peak_used[s] += problem.vms[v].peak_power_w;
      for (size_t k = 0; k < horizon; ++k) load[s * horizon + k] += outlook.Power(v, k);
    }
    std::vector<double> energy(vms, 0.0);
    for (size_t v = 0; v < vms; ++v) {
      for (size_t k = 0; k < horizon; ++k) energy[v] += outlook.Power(v, k);
    }
    std::vector<size_t> order(vms);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return energy[a] > energy[b]; });
    std::vector<double> link_busy_s(sites * sites, 0.0);
    const double link_time = static_cast<double>(problem.slot_s);

    // CO2 the VM adds at site s over the horizon, given the load already there.
    auto marginal_kg = [&](size_t v, size_t s) {
      double kg = 0;
      const double* site_load = &load[s * horizon];
      for (size_t k = 0; k < horizon; ++k) {
        const double left = std::max(0.0, outlook.Green(s, k) - site_load[k]);
        const double brown = std::max(0.0, outlook.Power(v, k) - left);
        kg += KgCo2(brown * slot_h, outlook.Carbon(s, k));
      }
      return kg;
    };

    for (size_t v : order) {
      const size_t from = static_cast<size_t>(outlook.site_of_vm[v]);
      const bool may_move =
          outlook.now_slot - outlook.last_move_slot[v] >= options_.min_dwell_slots;
      for (size_t k = 0; k < horizon; ++k) load[from * horizon + k] -= outlook.Power(v, k);
      size_t to = from;
      if (may_move && sites > 1) {
        const double stay_kg = marginal_kg(v, from);
        double best_kg = stay_kg;
        for (size_t s = 0; s < sites; ++s) {
          if (s == from) continue;
          if (peak_used[s] + problem.vms[v].peak_power_w > problem.sites[s].capacity_w) continue;
          const MoveCost& cost = costs.At(v, from, s);
          if (!cost.feasible) continue;
          if (link_busy_s[from * sites + s] + cost.total_s > link_time) continue;
          // The move's energy, at both ends' carbon intensity now.
          const double move_kg =
              KgCo2(cost.energy_j / 3600, (outlook.Carbon(from, 0) + outlook.Carbon(s, 0)) / 2);
          const double kg = marginal_kg(v, s) + move_kg;
          if (kg < best_kg) {
            best_kg = kg;
            to = s;
          }
        }
        const double saving = stay_kg - best_kg;
        if (to != from && (saving <= options_.hysteresis_kg ||
                           saving <= options_.hysteresis_fraction * stay_kg)) {
          to = from;
        }
        if (to != from) {
          const MoveCost& cost = costs.At(v, from, to);
          Move move;
          move.vm = v;
          move.from = from;
          move.to = to;
          move.slot = outlook.now_slot;
          move.predicted = cost;
          move.predicted_saving_kg = saving;
          char reason[200];
          std::snprintf(reason, sizeof reason,
                        "%s: %.3f kg CO2 at %s vs %.3f kg staying at %s over the next %zu h",
                        name_.c_str(), best_kg, problem.sites[to].name.c_str(), stay_kg,
                        problem.sites[from].name.c_str(),
                        static_cast<size_t>(static_cast<double>(horizon) * slot_h));
          move.reason = reason;
          plan.moves.push_back(std::move(move));
          link_busy_s[from * sites + to] += cost.total_s;
          peak_used[from] -= problem.vms[v].peak_power_w;
          peak_used[to] += problem.vms[v].peak_power_w;
        }
      }
      for (size_t k = 0; k < horizon; ++k) load[to * horizon + k] += outlook.Power(v, k);
    }
    return plan;
  }

 private:
  std::string name_;
  PolicyOptions options_;
};

}  // namespace

double Policy::LastMipGap() const {
  return std::numeric_limits<double>::quiet_NaN();
}

std::vector<std::string> PolicyNames() {
  return {"static", "follow-sensor", "greedy-forecast", "optimal"};
}

Result<std::unique_ptr<Policy>> MakePolicy(const std::string& name, const PolicyOptions& options) {
  if (options.min_dwell_slots < 1) return Status::Error("policy: minimum dwell must be >= 1 slot");
  if (!(options.hysteresis_kg >= 0) || !(options.hysteresis_fraction >= 0))
    return Status::Error("policy: hysteresis must be >= 0");
  if (options.horizon_slots < 1) return Status::Error("policy: horizon must be >= 1 slot");
  if (name == "static") return std::unique_ptr<Policy>(new StaticPolicy());
  if (name == "follow-sensor") {
    // The talk's rule: what the sensors say now, no look-ahead, no hysteresis beyond a move
    // having to pay for itself. The minimum dwell time is the operator's rule for every policy.
    PolicyOptions now = options;
    now.horizon_slots = 1;
    now.hysteresis_kg = 0;
    now.hysteresis_fraction = 0;
    return std::unique_ptr<Policy>(new GreedyPolicy(name, now));
  }
  if (name == "greedy-forecast") return std::unique_ptr<Policy>(new GreedyPolicy(name, options));
  if (name == "optimal") return MakeOptimalPolicy(options);
  std::string known;
  for (const std::string& n : PolicyNames()) known += (known.empty() ? "" : ", ") + n;
  return Status::Error("unknown policy '" + name + "' (policies: " + known + ")");
}

}  // namespace greenshift::placement
