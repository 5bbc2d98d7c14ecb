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

// max(x, 0) without a branch: (x + |x|) / 2, exact for finite x. GCC compiles std::max of two
// doubles as a branch, which mispredicts where the sign comes and goes (a site's green left
// against a VM's power), and that was the greedy's slowest line.
double PositivePart(double x) {
  return 0.5 * (x + std::abs(x));
}

// out[k] = (power[k] - left[k])'s positive part x per[k], and their sum. Four at a time, in
// four running sums: GCC at -O2 turns a fixed block of four into vector instructions (a loop of
// unknown length it leaves scalar), and no addition waits for the one before.
double PositivePartTimes(const double* __restrict power, const double* __restrict left,
                         const double* __restrict per, double* __restrict out, size_t n) {
  double sum[4] = {0, 0, 0, 0};
  size_t k = 0;
  for (; k + 4 <= n; k += 4) {
    for (size_t i = 0; i < 4; ++i) {
      out[k + i] = PositivePart(power[k + i] - left[k + i]) * per[k + i];
      sum[i] += out[k + i];
    }
  }
  for (; k < n; ++k) {
    out[k] = PositivePart(power[k] - left[k]) * per[k];
    sum[0] += out[k];
  }
  return (sum[0] + sum[1]) + (sum[2] + sum[3]);
}

// The sum of the lesser of a[k] and b[k], four at a time likewise (within rounding: b less
// b - a's positive part).
double SumOfLesser(const double* a, const double* b, size_t n) {
  double sum[4] = {0, 0, 0, 0};
  size_t k = 0;
  for (; k + 4 <= n; k += 4)
    for (size_t i = 0; i < 4; ++i) sum[i] += b[k + i] - PositivePart(b[k + i] - a[k + i]);
  for (; k < n; ++k) sum[0] += b[k] - PositivePart(b[k] - a[k]);
  return (sum[0] + sum[1]) + (sum[2] + sum[3]);
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
// later in the horizon would not save more (then it waits). Of a destination's forecast green a
// move counts the share that came when such forecasts were made lately (the outlook's
// `green_realized_share`, learned by the forecaster per site, lead and hour of the day), less a
// margin the operator may add (`green_margin_fraction`): a move must pay under the forecast's
// error, staying need not. With a one-slot horizon fed with what the sensors measure now, this is
// the talk's follow-the-sensor rule.
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
    // The VMs' peak power side by side: the decisions below visit the VMs in the order of their
    // CO2, where reading it from each VM's record missed the cache once per VM (a fifth of the
    // decision's time, measured with perf on bench_simulate).
    peak_w_.resize(vms);
    for (size_t v = 0; v < vms; ++v) {
      const size_t s = static_cast<size_t>(outlook.site_of_vm[v]);
      peak_w_[v] = problem.vms[v].peak_power_w;
      peak_used[s] += peak_w_[v];
      for (size_t k = 0; k < horizon; ++k) load[s * horizon + k] += outlook.Power(v, k);
    }
    std::vector<double> link_busy_s(sites * sites, 0.0);
    double least_carbon_now = std::numeric_limits<double>::infinity();
    for (size_t s = 0; s < sites; ++s)
      least_carbon_now = std::min(least_carbon_now, outlook.Carbon(s, 0));
    const double link_time = slot_s;
    const double counted_green = 1 - options_.green_margin_fraction;

    // Per site and slot: the CO2 of a watt over the slot (kg), and the green left after the
    // load there, counting of the forecast green the share that came in the forecaster's
    // record, less the margin (found again for the two sites whose load a move changes). A VM's
    // CO2 at a site in a slot is then its power beyond that green times the first: three
    // operations, no division, for each of the sites x slots x VMs priced each decision.
    std::vector<double> kg_per_w(sites * horizon), green_left_w(sites * horizon);
    for (size_t s = 0; s < sites; ++s)
      for (size_t k = 0; k < horizon; ++k)
        kg_per_w[s * horizon + k] = KgCo2(slot_h, outlook.Carbon(s, k));
    auto find_green_left = [&](size_t s) {
      for (size_t k = 0; k < horizon; ++k) {
        const double counted = counted_green * outlook.RealizedShare(s, k);
        green_left_w[s * horizon + k] =
            std::max(0.0, outlook.Green(s, k) * counted - load[s * horizon + k]);
      }
    };
    for (size_t s = 0; s < sites; ++s) find_green_left(s);
    // CO2 the VM emits at its own site `from` in slot k (the green left after the others' load),
    // all the green counted: staying needs no margin.
    auto at_from_kg = [&](size_t v, size_t from, size_t k) {
      const double others = load[from * horizon + k] - outlook.Power(v, k);
      const double left = PositivePart(outlook.Green(from, k) - others);
      return PositivePart(outlook.Power(v, k) - left) * kg_per_w[from * horizon + k];
    };
    // Whether v may go to s in this decision: capacity, a feasible move, link time.
    auto may_go = [&](size_t v, size_t from, size_t s, const MoveCost& cost) {
      if (peak_used[s] + peak_w_[v] > problem.sites[s].capacity_w) return false;
      return cost.feasible && link_busy_s[from * sites + s] + cost.total_s <= link_time;
    };
    // A move's energy is counted at both ends' carbon intensity now: kg CO2 per joule, by link.
    std::vector<double> move_kg_per_j(sites * sites);
    for (size_t from = 0; from < sites; ++from)
      for (size_t s = 0; s < sites; ++s)
        move_kg_per_j[from * sites + s] =
            KgCo2(1.0 / 3600, (outlook.Carbon(from, 0) + outlook.Carbon(s, 0)) / 2);
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
      for (size_t k = 0; k < horizon; ++k) stay_kg += at_from_kg(v, from, k);
      keyed_.push_back({DescendingKey(static_cast<float>(stay_kg)), static_cast<uint32_t>(v)});
    }
    RadixSort(keyed_, scratch_);

    // Per slot of the horizon, the CO2 of the VM at its site and at every destination (kept from
    // pricing the move now to pricing the wait: the load does not change in between), the sum
    // at each destination, and sums of them by slot, so that leaving at any slot is priced in
    // O(1).
    std::vector<double> at_from(horizon), at_site_all(sites * horizon), site_kg(sites),
        site_after(horizon + 1), diff_before(horizon + 1, 0.0);
    struct Copy {
      size_t whole = 0;  // slots the copy takes whole...
      double part = 0;   // ...and the share of the next
      double energy_kg = 0;
    };
    const double per_slot_s = 1 / slot_s;
    auto copy_of = [&](size_t from, size_t s, const MoveCost& cost) {
      Copy copy;
      const double copy_slots = std::max(0.0, cost.total_s * per_slot_s);
      copy.whole = static_cast<size_t>(std::min(copy_slots, static_cast<double>(horizon)));
      copy.part = copy_slots - static_cast<double>(copy.whole);
      copy.energy_kg = cost.energy_j * move_kg_per_j[from * sites + s];
      return copy;
    };
    // The VM's CO2 over the horizon if it leaves for s now: at `from` for the slots its copy
    // takes (and the share of the next), at s after. Keeps its per-slot CO2 at s for the wait.
    auto leaving_now_kg = [&](size_t v, size_t from, size_t s, const MoveCost& cost) {
      const Copy copy = copy_of(from, s, cost);
      double* at_site = &at_site_all[s * horizon];
      const double* power = &outlook.vm_power_w[v * outlook.slots];
      const double* left = &green_left_w[s * horizon];
      const double* per_w = &kg_per_w[s * horizon];
      site_kg[s] = PositivePartTimes(power, left, per_w, at_site, horizon);
      const size_t end = copy.whole;
      double diff = 0;  // staying at `from` while the copy runs, instead of at s
      for (size_t k = 0; k < end; ++k) diff = diff + at_from[k] - at_site[k];
      double kg = site_kg[s] + copy.energy_kg + diff;
      if (end < horizon) kg += copy.part * (at_from[end] - at_site[end]);
      return kg;
    };
    // Whether leaving for s at a later slot of the horizon emits less than `best_kg`, from the
    // per-slot figures `leaving_now_kg` kept. Each slot is spent at `from`, at s or (the copy's
    // last) a share of each, so no departure emits less than the energy plus the lesser of the
    // two in every slot: a site whose bound is over `best_kg` (by more than rounding) is passed.
    auto later_is_cheaper = [&](size_t from, size_t s, const MoveCost& cost, double best_kg,
                                double stay_kg) {
      if (horizon < 2) return false;  // no later slot
      const Copy copy = copy_of(from, s, cost);
      const double* at_site = &at_site_all[s * horizon];
      const double bound = copy.energy_kg + SumOfLesser(at_from.data(), at_site, horizon);
      if (bound > best_kg + 1e-9 * (copy.energy_kg + stay_kg + site_kg[s])) return false;
      for (size_t k = 0; k < horizon; ++k)
        diff_before[k + 1] = diff_before[k] + at_from[k] - at_site[k];
      site_after[horizon] = 0;
      for (size_t k = horizon; k-- > 0;) site_after[k] = site_after[k + 1] + at_site[k];
      double stay_before = at_from[0];
      for (size_t at = 1; at < horizon; ++at) {
        const size_t end = std::min(horizon, at + copy.whole);
        double kg =
            stay_before + site_after[at] + copy.energy_kg + diff_before[end] - diff_before[at];
        if (end < horizon) kg += copy.part * (at_from[end] - at_site[end]);
        if (kg < best_kg) return true;
        stay_before += at_from[at];
      }
      return false;
    };
    for (const Keyed& entry : keyed_) {
      const size_t v = entry.index;
      const size_t from = static_cast<size_t>(outlook.site_of_vm[v]);
      size_t to = from;
      // What staying emits, slot by slot (kept: every later price starts from it).
      double stay_kg = 0;
      for (size_t k = 0; sites > 1 && k < horizon; ++k) {
        at_from[k] = at_from_kg(v, from, k);
        stay_kg += at_from[k];
      }
      if (worth_pricing(v, stay_kg)) {
        double best_kg = stay_kg;
        for (size_t s = 0; s < sites; ++s) {
          if (s == from) continue;
          const MoveCost& cost = costs.At(v, from, s);
          if (!may_go(v, from, s, cost)) continue;
          const double kg = leaving_now_kg(v, from, s, cost);
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
        // less (the sun it would go for comes later, or this site's lasts a while). The same
        // move first: it is the likeliest to be cheaper later, and one is enough to wait.
        if (to != from && later_is_cheaper(from, to, costs.At(v, from, to), best_kg, stay_kg))
          to = from;
        for (size_t s = 0; to != from && s < sites; ++s) {
          if (s == from || s == to) continue;
          const MoveCost& cost = costs.At(v, from, s);
          if (may_go(v, from, s, cost) && later_is_cheaper(from, s, cost, best_kg, stay_kg))
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
          peak_used[from] -= peak_w_[v];
          peak_used[to] += peak_w_[v];
          for (size_t k = 0; k < horizon; ++k) {
            load[from * horizon + k] -= outlook.Power(v, k);
            load[to * horizon + k] += outlook.Power(v, k);
          }
          find_green_left(from);
          find_green_left(to);
        }
      }
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
  // less than pricing them. The four bytes' counts come from one read of the keys, and a byte
  // that all keys share (the top one, of CO2 figures of one magnitude) moves nothing: skipped.
  static void RadixSort(std::vector<Keyed>& items, std::vector<Keyed>& scratch) {
    auto digit = [](const Keyed& item, int byte) { return (item.key >> (8 * byte)) & 0xff; };
    scratch.resize(items.size());
    size_t count[4][257] = {};
    for (const Keyed& item : items)
      for (int byte = 0; byte < 4; ++byte) ++count[byte][digit(item, byte) + 1];
    for (int byte = 0; byte < 4; ++byte) {
      size_t* at = count[byte];
      if (!items.empty() && at[digit(items[0], byte) + 1] == items.size()) continue;
      for (size_t i = 0; i < 256; ++i) at[i + 1] += at[i];
      for (const Keyed& item : items) scratch[at[digit(item, byte)]++] = item;
      items.swap(scratch);
    }
  }

  std::string name_;
  PolicyOptions options_;
  bool sensor_only_;
  std::vector<Keyed> keyed_, scratch_;  // kept between decisions
  std::vector<double> peak_w_;          // per VM, found again each decision
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
