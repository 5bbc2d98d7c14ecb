#include "placement/policy.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>

#include "placement/optimal.h"

namespace greenshift::placement {

namespace {

// `value` with three decimals, as "%.3f" writes it.
void AppendFixed3(std::string* out, double value) {
  char text[48];
  const std::to_chars_result r =
      std::to_chars(text, text + sizeof text, value, std::chars_format::fixed, 3);
  out->append(text, r.ec == std::errc() ? r.ptr : text);
}

class StaticPolicy : public Policy {
 public:
  std::string Name() const override { return "static"; }
  size_t HorizonSlots() const override { return 1; }
  Plan Decide(const Problem&, const MoveCosts&, const Outlook&) override { return {Name(), {}}; }
};

// Greedy over the horizon. For each VM that may move (dwell time over), those that would emit
// the most staying where they are first: take it out of its site, price it at every site as the
// brown power it would add there (its power beyond the green left after the VMs placed so far)
// times the grid's carbon intensity, plus the move's energy; move it when that saves more than the
// hysteresis, capacity, downtime budget and link time allowing, and when the same move made
// later in the horizon would not save more (then it waits). A destination's forecast green is
// counted less its margin (`green_margin_fraction`): a move must pay under the forecast's
// error, staying need not. With a one-slot horizon fed with what the sensors measure now, this
// is the talk's follow-the-sensor rule.
//
// Why this order and the wait (measured on 2022's three sites, docs/placement.md): ordered by
// energy, the biggest VMs took the green even where their grid was clean and a move saved little,
// and a move priced as "now or never" was made hours before the sun it went for; both cost moves
// and CO2, and made a longer horizon worse instead of better.
class GreedyPolicy : public Policy {
 public:
  GreedyPolicy(std::string name, PolicyOptions options, bool sensor_only)
      : name_(std::move(name)), options_(options), sensor_only_(sensor_only) {}
  std::string Name() const override { return name_; }
  size_t HorizonSlots() const override { return options_.horizon_slots; }
  bool SeesOnlySensors() const override { return sensor_only_; }

  Plan Decide(const Problem& problem, const MoveCosts& costs, const Outlook& outlook) override {
    Plan plan{name_, {}};
    const size_t sites = problem.sites.size(), vms = problem.vms.size();
    const size_t horizon = std::min(outlook.slots, std::max<size_t>(1, options_.horizon_slots));
    const double slot_h = static_cast<double>(problem.slot_s) / 3600;
    const double slot_s = static_cast<double>(problem.slot_s);
    std::vector<double> load(sites * horizon, 0.0), peak_used(sites, 0.0);
    for (size_t v = 0; v < vms; ++v) {
      const size_t s = static_cast<size_t>(outlook.site_of_vm[v]);
      peak_used[s] += problem.vms[v].peak_power_w;
      for (size_t k = 0; k < horizon; ++k) load[s * horizon + k] += outlook.Power(v, k);
    }
    std::vector<double> link_busy_s(sites * sites, 0.0);
    double least_carbon_now = std::numeric_limits<double>::infinity();
    for (size_t s = 0; s < sites; ++s)
      least_carbon_now = std::min(least_carbon_now, outlook.Carbon(s, 0));
    const double link_time = slot_s;
    const double counted_green = 1 - options_.green_margin_fraction;

    // CO2 the VM adds at site s in slot k, given the load already there, counting `green_share`
    // of the forecast green.
    auto slot_kg = [&](size_t v, size_t s, size_t k, double green_share) {
      const double left = std::max(0.0, outlook.Green(s, k) * green_share - load[s * horizon + k]);
      const double brown = std::max(0.0, outlook.Power(v, k) - left);
      return KgCo2(brown * slot_h, outlook.Carbon(s, k));
    };
    // Whether v may go to s in this decision: capacity, a feasible move, link time.
    auto may_go = [&](size_t v, size_t from, size_t s) {
      if (peak_used[s] + problem.vms[v].peak_power_w > problem.sites[s].capacity_w) return false;
      const MoveCost& cost = costs.At(v, from, s);
      return cost.feasible && link_busy_s[from * sites + s] + cost.total_s <= link_time;
    };
    // The move's energy, at both ends' carbon intensity now.
    auto move_kg = [&](size_t v, size_t from, size_t s) {
      return KgCo2(costs.At(v, from, s).energy_j / 3600,
                   (outlook.Carbon(from, 0) + outlook.Carbon(s, 0)) / 2);
    };
    // A move is worth pricing only when staying costs more than the cheapest move's CO2 by more
    // than the hysteresis: no move can save more.
    auto worth_pricing = [&](size_t v, double stay_kg) {
      const double move_floor_kg = KgCo2(costs.LeastEnergyJ(v) / 3600, least_carbon_now);
      return sites > 1 && stay_kg - move_floor_kg > options_.hysteresis_kg &&
             stay_kg - move_floor_kg > options_.hysteresis_fraction * stay_kg;
    };

    // The VMs free to move, those that would emit the most staying where they are first (ties:
    // lower index first): the most to gain from a move. (Ordered by the saving each move would
    // make, priced at every site, the 2022 halves came out the same to 0.06 points, at the price
    // of a second pricing pass per decision.)
    keyed_.clear();
    for (size_t v = 0; v < vms; ++v) {
      if (outlook.now_slot - outlook.last_move_slot[v] < options_.min_dwell_slots) continue;
      const size_t from = static_cast<size_t>(outlook.site_of_vm[v]);
      double stay_kg = 0;
      for (size_t k = 0; k < horizon; ++k) {
        const double others = load[from * horizon + k] - outlook.Power(v, k);
        const double left = std::max(0.0, outlook.Green(from, k) - others);
        stay_kg +=
            KgCo2(std::max(0.0, outlook.Power(v, k) - left) * slot_h, outlook.Carbon(from, k));
      }
      keyed_.push_back({DescendingKey(static_cast<float>(stay_kg)), static_cast<uint32_t>(v)});
    }
    RadixSort(keyed_, scratch_);

    // Per slot of the horizon, the CO2 of the VM at its site and at a destination, and sums of
    // them, so that leaving at any slot is priced in O(1).
    std::vector<double> at_from(horizon), at_site(horizon), site_after(horizon + 1),
        diff_before(horizon + 1, 0.0);
    size_t whole = 0;  // slots the copy to the site priced last takes whole...
    double part = 0;   // ...and the share of the next
    double energy_kg = 0;
    auto price_site = [&](size_t v, size_t from, size_t s) {
      const double copy_slots = std::max(0.0, costs.At(v, from, s).total_s / slot_s);
      whole = static_cast<size_t>(std::min(copy_slots, static_cast<double>(horizon)));
      part = copy_slots - static_cast<double>(whole);
      for (size_t k = 0; k < horizon; ++k) {
        at_site[k] = slot_kg(v, s, k, counted_green);
        diff_before[k + 1] = diff_before[k] + at_from[k] - at_site[k];
      }
      site_after[horizon] = 0;
      for (size_t k = horizon; k-- > 0;) site_after[k] = site_after[k + 1] + at_site[k];
      energy_kg = move_kg(v, from, s);
    };
    // The VM's CO2 over the horizon if it leaves for the site priced last at the start of slot
    // `at` (`stay_before`: its CO2 at `from` until then): at `from` until then and for the share
    // of the slots its copy takes, at the site after.
    auto leaving_at_kg = [&](size_t at, double stay_before) {
      const size_t end = std::min(horizon, at + whole);
      double kg = stay_before + site_after[at] + energy_kg + diff_before[end] - diff_before[at];
      if (end < horizon) kg += part * (at_from[end] - at_site[end]);
      return kg;
    };
    for (const Keyed& entry : keyed_) {
      const size_t v = entry.index;
      const size_t from = static_cast<size_t>(outlook.site_of_vm[v]);
      for (size_t k = 0; k < horizon; ++k) load[from * horizon + k] -= outlook.Power(v, k);
      size_t to = from;
      // What staying emits, slot by slot (kept: every later price starts from it).
      double stay_kg = 0;
      for (size_t k = 0; sites > 1 && k < horizon; ++k) {
        at_from[k] = slot_kg(v, from, k, 1);
        stay_kg += at_from[k];
      }
      if (worth_pricing(v, stay_kg)) {
        double best_kg = stay_kg;
        for (size_t s = 0; s < sites; ++s) {
          if (s == from || !may_go(v, from, s)) continue;
          price_site(v, from, s);
          const double kg = leaving_at_kg(0, 0);
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
        // Not yet: the same move, or one to another of these sites, later in the horizon emits
        // less (the sun it would go for comes later, or this site's lasts a while).
        for (size_t s = 0; to != from && s < sites; ++s) {
          if (s == from || !may_go(v, from, s)) continue;
          price_site(v, from, s);
          double stay_before = at_from[0];
          for (size_t at = 1; at < horizon && to != from; ++at) {
            if (leaving_at_kg(at, stay_before) < best_kg) to = from;
            stay_before += at_from[at];
          }
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
          // Built by hand: a year of 10,000 VMs makes millions of these, and printf's
          // formatting was a twentieth of the simulation's time.
          std::string& reason = move.reason;
          reason.reserve(96);
          reason += name_;
          reason += ": ";
          AppendFixed3(&reason, best_kg);
          reason += " kg CO2 at ";
          reason += problem.sites[to].name;
          reason += " vs ";
          AppendFixed3(&reason, stay_kg);
          reason += " kg staying at ";
          reason += problem.sites[from].name;
          reason += " over the next ";
          reason += std::to_string(static_cast<size_t>(static_cast<double>(horizon) * slot_h));
          reason += " h";
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
  struct Keyed {
    uint32_t key, index;
  };
  // Non-negative floats order as their bits; inverted, the largest comes first.
  static uint32_t DescendingKey(float value) {
    uint32_t bits = 0;
    std::memcpy(&bits, &value, sizeof bits);
    return ~bits;
  }
  // Stable LSD radix sort by key, a byte at a time: sorting 100,000 VMs each decision costs
  // less than pricing them.
  static void RadixSort(std::vector<Keyed>& items, std::vector<Keyed>& scratch) {
    scratch.resize(items.size());
    for (int shift = 0; shift < 32; shift += 8) {
      size_t count[257] = {};
      for (const Keyed& item : items) ++count[((item.key >> shift) & 0xff) + 1];
      for (size_t i = 0; i < 256; ++i) count[i + 1] += count[i];
      for (const Keyed& item : items) scratch[count[(item.key >> shift) & 0xff]++] = item;
      items.swap(scratch);
    }
  }

  std::string name_;
  PolicyOptions options_;
  bool sensor_only_;
  std::vector<Keyed> keyed_, scratch_;  // kept between decisions
};

}  // namespace

double SolveReport::Gap() const {
  if (std::isnan(objective_kg) || std::isnan(bound_kg))
    return std::numeric_limits<double>::quiet_NaN();
  if (std::isinf(objective_kg)) return 1;  // no whole plan found: nothing is proven
  return std::max(0.0, objective_kg - bound_kg) / std::max(1e-9, std::abs(objective_kg));
}

std::vector<std::string> PolicyNames() {
  return {"static", "follow-sensor", "greedy-forecast", "optimal"};
}

Result<std::unique_ptr<Policy>> MakePolicy(const std::string& name, const PolicyOptions& options) {
  if (options.min_dwell_slots < 1) return Status::Error("policy: minimum dwell must be >= 1 slot");
  if (!(options.hysteresis_kg >= 0) || !(options.hysteresis_fraction >= 0))
    return Status::Error("policy: hysteresis must be >= 0");
  if (!(options.green_margin_fraction >= 0 && options.green_margin_fraction < 1))
    return Status::Error("policy: green margin must be >= 0 and < 1");
  if (options.horizon_slots < 1) return Status::Error("policy: horizon must be >= 1 slot");
  if (options.optimal_replan_slots < 1)
    return Status::Error("policy: optimal's re-plan interval must be >= 1 slot");
  if (name == "static") return std::unique_ptr<Policy>(new StaticPolicy());
  if (name == "follow-sensor") {
    // The talk's rule: what the sensors say now, no look-ahead, no hysteresis beyond a move
    // having to pay for itself. The minimum dwell time is the operator's rule for every policy.
    PolicyOptions now = options;
    now.horizon_slots = 1;
    now.hysteresis_kg = 0;
    now.hysteresis_fraction = 0;
    now.green_margin_fraction = 0;  // it sees what the sensors measure, not a forecast
    return std::unique_ptr<Policy>(new GreedyPolicy(name, now, true));
  }
  if (name == "greedy-forecast")
    return std::unique_ptr<Policy>(new GreedyPolicy(name, options, false));
  if (name == "optimal") return MakeOptimalPolicy(options);
  std::string known;
  for (const std::string& n : PolicyNames()) known += (known.empty() ? "" : ", ") + n;
  return Status::Error("unknown policy '" + name + "' (policies: " + known + ")");
}

}  // namespace greenshift::placement
