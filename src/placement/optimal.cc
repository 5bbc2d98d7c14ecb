#include "placement/optimal.h"

#include <coin/Cbc_C_Interface.h>
#include <coin/Clp_C_Interface.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

namespace greenshift::placement {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// FNV-1a over an itinerary's sites: tells itineraries already in the master.
uint64_t PathHash(const int* sites, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<uint64_t>(static_cast<uint32_t>(sites[i]));
    h *= 1099511628211ull;
  }
  return h;
}

// A linear programme's columns, built one column at a time (compressed by column, as CLP and
// CBC take them whole: adding columns one by one costs them time that grows with the model).
struct Columns {
  std::vector<CoinBigIndex> start{0};
  std::vector<int> row;
  std::vector<double> value, lower, upper, cost;
  void Add(int r, double v) {
    row.push_back(r);
    value.push_back(v);
  }
  void Finish(double lo, double up, double c) {
    lower.push_back(lo);
    upper.push_back(up);
    cost.push_back(c);
    start.push_back(static_cast<CoinBigIndex>(row.size()));
  }
  int size() const { return static_cast<int>(lower.size()); }
  void Append(const Columns& more) {
    const CoinBigIndex base = start.back();
    for (size_t c = 1; c < more.start.size(); ++c) start.push_back(base + more.start[c]);
    row.insert(row.end(), more.row.begin(), more.row.end());
    value.insert(value.end(), more.value.begin(), more.value.end());
    lower.insert(lower.end(), more.lower.begin(), more.lower.end());
    upper.insert(upper.end(), more.upper.begin(), more.upper.end());
    cost.insert(cost.end(), more.cost.begin(), more.cost.end());
  }
};

// The horizon problem in path form (a Dantzig-Wolfe reformulation): a column is one VM's whole
// itinerary, a site for each slot of the horizon. Rows: each VM follows one itinerary
// (convexity); per site and slot, peak power within capacity and brown power >= load - green
// (the moves' energy is load at both ends, as the simulator counts it); per link and slot, the
// moves' predicted time fits in the slot. The minimum dwell time, the downtime budgets (only
// feasible moves) and where a VM is now live inside the itineraries, so the rows stay few:
// the arrival rows of the compact model, which made its LP relaxation hard, are gone.
class PathModel {
 public:
  PathModel(const Problem& problem, const MoveCosts& costs, const Outlook& outlook, size_t horizon,
            int64_t dwell)
      : p_(problem),
        o_(outlook),
        S_(problem.sites.size()),
        V_(problem.vms.size()),
        H_(horizon),
        dwell_(dwell) {
    kind_.resize(V_);
    hops_.resize(costs.Kinds() * S_ * S_);
    std::vector<bool> done(costs.Kinds(), false);
    for (size_t v = 0; v < V_; ++v) {
      const size_t kind = kind_[v] = costs.Kind(v);
      if (done[kind]) continue;
      done[kind] = true;
      for (size_t a = 0; a < S_; ++a) {
        for (size_t b = 0; b < S_; ++b) {
          if (a == b) continue;
          const MoveCost& cost = costs.At(v, a, b);
          hops_[(kind * S_ + a) * S_ + b] = {
              cost.feasible, cost.energy_j / 2 / static_cast<double>(p_.slot_s), cost.total_s};
        }
      }
    }
  }

  int Rows() const { return static_cast<int>(V_ + 2 * S_ * H_ + S_ * S_ * H_); }
  int Convexity(size_t v) const { return static_cast<int>(v); }
  int Capacity(size_t s, size_t k) const { return static_cast<int>(V_ + s * H_ + k); }
  int Brown(size_t s, size_t k) const { return static_cast<int>(V_ + (S_ + s) * H_ + k); }
  int Link(size_t a, size_t b, size_t k) const {
    return static_cast<int>(V_ + 2 * S_ * H_ + (a * S_ + b) * H_ + k);
  }
  // kg CO2 of a watt drawn from the grid at site s over slot k: the cost of brown power, so the
  // most a watt of load there can be worth (the brown rows' duals stay within 0 .. this).
  double BrownPrice(size_t s, size_t k) const {
    return KgCo2(static_cast<double>(p_.slot_s) / 3600, o_.Carbon(s, k));
  }
  void RowBounds(std::vector<double>* lower, std::vector<double>* upper) const {
    lower->assign(static_cast<size_t>(Rows()), -kInf);
    upper->assign(static_cast<size_t>(Rows()), kInf);
    for (size_t v = 0; v < V_; ++v) (*lower)[Convexity(v)] = (*upper)[Convexity(v)] = 1;
    for (size_t s = 0; s < S_; ++s) {
      for (size_t k = 0; k < H_; ++k) {
        (*upper)[Capacity(s, k)] = p_.sites[s].capacity_w;
        (*lower)[Brown(s, k)] = -o_.Green(s, k);
        for (size_t b = 0; b < S_; ++b) {
          if (b != s) (*upper)[Link(s, b, k)] = static_cast<double>(p_.slot_s);
        }
      }
    }
  }
  // Brown power b[s,k] >= 0 at the grid's carbon intensity; where the VMs there now exceed a
  // site's capacity, an overload column priced far above any CO2 (so that the LP has a solution
  // and the MILP empties the site if it can).
  void AddSiteColumns(Columns* out, std::vector<int>* overload) const {
    for (size_t s = 0; s < S_; ++s) {
      for (size_t k = 0; k < H_; ++k) {
        out->Add(Brown(s, k), 1);
        out->Finish(0, kInf, BrownPrice(s, k));
      }
    }
    std::vector<double> used(S_, 0.0);
    for (size_t v = 0; v < V_; ++v) used[o_.site_of_vm[v]] += p_.vms[v].peak_power_w;
    for (size_t s = 0; s < S_; ++s) {
      if (used[s] <= p_.sites[s].capacity_w) continue;
      for (size_t k = 0; k < H_; ++k) {
        out->Add(Capacity(s, k), -1);
        overload->push_back(out->size());
        out->Finish(0, kInf, kOverloadKgPerW);
      }
    }
  }
  // The entries of VM v's column for itinerary `path` (a site per slot), each given to
  // entry(row, value); returns the column's cost.
  template <class Entry>
  double Entries(size_t v, const int* path, Entry entry) const {
    size_t at = static_cast<size_t>(o_.site_of_vm[v]);
    size_t moves = 0;
    entry(Convexity(v), 1.0);
    for (size_t k = 0; k < H_; ++k) {
      const size_t s = static_cast<size_t>(path[k]);
      double load = o_.Power(v, k);
      if (s != at) {
        const Hop& hop = HopOf(v, at, s);
        entry(Brown(at, k), -hop.move_w);
        entry(Link(at, s, k), hop.total_s);
        load += hop.move_w;
        ++moves;
      }
      entry(Capacity(s, k), p_.vms[v].peak_power_w);
      entry(Brown(s, k), -load);
      at = s;
    }
    return kMoveKg * static_cast<double>(moves);
  }
  void AddPath(size_t v, const int* path, Columns* out) const {
    const double cost = Entries(v, path, [&](int row, double value) { out->Add(row, value); });
    out->Finish(0, 1, cost);
  }
  // The shortest paths' working memory: one per thread.
  struct Scratch {
    std::vector<double> f, node, sum;
    std::vector<int> pred, forbidden;
  };
  // The cheapest itinerary of VM v, where being at site s in slot k costs node(s, k) and a move
  // from a to b into slot k costs arc(a, b, k, its Hop); infinity forbids either. Moves only
  // where the pre-copy model says they converge within the VM's budget, and only once the
  // dwell time since the VM's last arrival is over. A shortest path over (slot, site) where a
  // state is a VM free to move next slot: staying one slot is one edge; arriving at b in slot k
  // is one edge to slot k + dwell - 1 (the dwell spent at b; cut at the horizon's end), priced
  // with b's slots from prefix sums. Returns the cost (infinity: no itinerary).
  template <class Node, class Arc>
  double Cheapest(size_t v, Node node, Arc arc, int* path, Scratch& w) const {
    const size_t S = S_, H = H_;
    w.node.resize(S * H);
    w.sum.resize(S * (H + 1));
    w.forbidden.resize(S * (H + 1));
    for (size_t s = 0; s < S; ++s) {
      w.sum[s * (H + 1)] = 0;
      w.forbidden[s * (H + 1)] = 0;
      for (size_t k = 0; k < H; ++k) {
        const double c = w.node[s * H + k] = node(s, k);
        const bool no = c == kInf;
        w.sum[s * (H + 1) + k + 1] = w.sum[s * (H + 1) + k] + (no ? 0 : c);
        w.forbidden[s * (H + 1) + k + 1] = w.forbidden[s * (H + 1) + k] + (no ? 1 : 0);
      }
    }
    // Slots s..e of site b (inclusive): their cost, or infinity if any is forbidden.
    auto span = [&](size_t b, size_t from, size_t to) {
      const size_t row = b * (H + 1);
      if (w.forbidden[row + to + 1] != w.forbidden[row + from]) return kInf;
      return w.sum[row + to + 1] - w.sum[row + from];
    };
    // f[k * S + s]: least cost to be at s through slot k, free to move at k + 1. pred: -1 for
    // a stay, else the arrival (slot * S + from site) of the dwell that ends here.
    w.f.assign(S * H, kInf);
    w.pred.assign(S * H, -1);
    double* f = w.f.data();
    int* pred = w.pred.data();
    const size_t cur = static_cast<size_t>(o_.site_of_vm[v]);
    // The first slot it may arrive elsewhere: its dwell since its last arrival must be over.
    const int64_t since = o_.now_slot - o_.last_move_slot[v];
    const size_t first = static_cast<size_t>(std::clamp<int64_t>(dwell_ - since, 0, H));
    const size_t dwell = static_cast<size_t>(std::min<int64_t>(dwell_, H));
    // Pinned until then: it stays where it is.
    double pinned = first > 0 ? span(cur, 0, first - 1) : 0;
    if (pinned == kInf) return kInf;
    if (first > 0) f[(first - 1) * S + cur] = pinned;
    for (size_t k = first; k < H; ++k) {
      // Stays into slot k (from a free state at k - 1; before the horizon, only where it is).
      for (size_t s = 0; s < S; ++s) {
        const double before = k == 0 ? (s == cur ? 0 : kInf) : f[(k - 1) * S + s];
        const double via = before + w.node[s * H + k];
        if (via < f[k * S + s]) {
          f[k * S + s] = via;
          pred[k * S + s] = -1;
        }
      }
      // Arrivals into slot k: the dwell ends at slot k + dwell - 1, or the horizon's end.
      const size_t end = std::min(H - 1, k + dwell - 1);
      for (size_t a = 0; a < S; ++a) {
        const double before = k == 0 ? (a == cur ? 0 : kInf) : f[(k - 1) * S + a];
        if (before == kInf) continue;
        const Hop* hops = &HopOf(v, a, 0);
        for (size_t b = 0; b < S; ++b) {
          if (b == a || !hops[b].feasible) continue;
          const double stay = span(b, k, end);
          if (stay == kInf) continue;
          const double via = before + arc(a, b, k, hops[b]) + stay;
          if (via < f[end * S + b]) {
            f[end * S + b] = via;
            pred[end * S + b] = static_cast<int>(k * S + a);
          }
        }
      }
    }
    size_t at = 0;
    for (size_t s = 1; s < S; ++s) {
      if (f[(H - 1) * S + s] < f[(H - 1) * S + at]) at = s;
    }
    const double best = f[(H - 1) * S + at];
    if (best == kInf) return kInf;
    for (size_t k = H; k-- > 0;) {
      const int p = pred[k * S + at];
      if (p < 0) {
        path[k] = static_cast<int>(at);
        continue;
      }
      const size_t arrived = static_cast<size_t>(p) / S;
      for (size_t j = arrived; j <= k; ++j) path[j] = static_cast<int>(at);
      at = static_cast<size_t>(p) % S;
      k = arrived;  // the loop's k-- steps to the slot before the arrival
    }
    return best;
  }
  // The itinerary of VM v with the least reduced cost at row duals `pi`, and that cost.
  double Price(size_t v, const double* pi, int* path, Scratch& w) const {
    const double peak = p_.vms[v].peak_power_w;
    auto node = [&](size_t s, size_t k) {
      return -peak * pi[Capacity(s, k)] + o_.Power(v, k) * pi[Brown(s, k)];
    };
    auto arc = [&](size_t a, size_t b, size_t k, const Hop& hop) {
      return kMoveKg + hop.move_w * (pi[Brown(a, k)] + pi[Brown(b, k)]) -
             hop.total_s * pi[Link(a, b, k)];
    };
    return Cheapest(v, node, arc, path, w) - pi[Convexity(v)];
  }
  // Price for every VM (paths: H sites per VM), on up to two threads when there are enough VMs
  // to pay for them. Returns the sum of the least reduced costs (summed in VM order, so the
  // same whatever the threads).
  double PriceAll(const double* pi, int* paths) {
    reduced_.resize(V_);
    auto range = [&](size_t from, size_t to, Scratch& w) {
      for (size_t v = from; v < to; ++v) reduced_[v] = Price(v, pi, &paths[v * H_], w);
    };
    if (V_ >= 256 && std::thread::hardware_concurrency() > 1) {
      std::thread other(range, V_ / 2, V_, std::ref(scratch_[1]));
      range(0, V_ / 2, scratch_[0]);
      other.join();
    } else {
      range(0, V_, scratch_[0]);
    }
    double sum = 0;
    for (double d : reduced_) sum += d;
    return sum;
  }

  // A whole plan, improved one VM at a time: each VM in turn takes its cheapest itinerary given
  // where all the others are (the exact CO2 its power and its moves' energy add at each site,
  // within capacity and link time), until a sweep changes nothing, after at most kMaxSweeps
  // sweeps, or when `late()` says the safety net's time is up. `paths` holds H sites per VM.
  // Returns the plan's kg CO2 (with the tie-break per move), or infinity if it still breaks
  // capacity or link time.
  template <class Late>
  double Improve(std::vector<int>* paths, Late late) {
    const double slot_h = static_cast<double>(p_.slot_s) / 3600;
    std::vector<double> load(S_ * H_, 0.0), used(S_ * H_, 0.0), busy(S_ * S_ * H_, 0.0);
    auto kg = [&](size_t s, size_t k, double w) {
      return KgCo2(std::max(0.0, w - o_.Green(s, k)) * slot_h, o_.Carbon(s, k));
    };
    auto apply = [&](size_t v, const int* path, double sign) {
      size_t at = static_cast<size_t>(o_.site_of_vm[v]);
      for (size_t k = 0; k < H_; ++k) {
        const size_t s = static_cast<size_t>(path[k]);
        double w = o_.Power(v, k);
        if (s != at) {
          const Hop& hop = HopOf(v, at, s);
          load[at * H_ + k] += sign * hop.move_w;
          busy[(at * S_ + s) * H_ + k] += sign * hop.total_s;
          w += hop.move_w;
        }
        load[s * H_ + k] += sign * w;
        used[s * H_ + k] += sign * p_.vms[v].peak_power_w;
        at = s;
      }
    };
    for (size_t v = 0; v < V_; ++v) apply(v, &(*paths)[v * H_], 1);
    std::vector<int> best(H_);
    size_t sweeps = 0;
    for (bool changed = true; changed && sweeps < kMaxSweeps && !late(); ++sweeps) {
      changed = false;
      for (size_t v = 0; v < V_; ++v) {
        int* mine = &(*paths)[v * H_];
        apply(v, mine, -1);
        const double peak = p_.vms[v].peak_power_w;
        auto node = [&](size_t s, size_t k) {
          if (used[s * H_ + k] + peak > p_.sites[s].capacity_w * (1 + 1e-12)) return kInf;
          const double there = load[s * H_ + k];
          return kg(s, k, there + o_.Power(v, k)) - kg(s, k, there);
        };
        auto arc = [&](size_t a, size_t b, size_t k, const Hop& hop) {
          if (busy[(a * S_ + b) * H_ + k] + hop.total_s > static_cast<double>(p_.slot_s))
            return kInf;
          const double w = hop.move_w, there = load[b * H_ + k] + o_.Power(v, k);
          return kMoveKg + kg(a, k, load[a * H_ + k] + w) - kg(a, k, load[a * H_ + k]) +
                 kg(b, k, there + w) - kg(b, k, there);
        };
        // What its itinerary costs now, priced the same way.
        double now = 0;
        size_t at = static_cast<size_t>(o_.site_of_vm[v]);
        for (size_t k = 0; k < H_; ++k) {
          const size_t s = static_cast<size_t>(mine[k]);
          if (s != at) now += arc(at, s, k, HopOf(v, at, s));
          now += node(s, k);
          at = s;
        }
        const double cheapest = Cheapest(v, node, arc, best.data(), scratch_[0]);
        if (cheapest < kInf && (now == kInf || cheapest < now - 1e-9)) {
          std::copy(best.begin(), best.end(), mine);
          changed = true;
        }
        apply(v, mine, 1);
      }
    }
    // A start over capacity or link time is repaired on the way (a VM where it does not fit
    // takes any itinerary that does); one still not whole is no plan.
    for (size_t i = 0; i < S_ * H_; ++i) {
      if (used[i] > p_.sites[i / H_].capacity_w * (1 + 1e-9)) return kInf;
    }
    for (size_t i = 0; i < busy.size(); ++i) {
      if (busy[i] > static_cast<double>(p_.slot_s) * (1 + 1e-9)) return kInf;
    }
    double total = 0;
    for (size_t s = 0; s < S_; ++s) {
      for (size_t k = 0; k < H_; ++k) total += kg(s, k, load[s * H_ + k]);
    }
    for (size_t v = 0; v < V_; ++v) {
      int at = o_.site_of_vm[v];
      for (size_t k = 0; k < H_; ++k) {
        if ((*paths)[v * H_ + k] != at) total += kMoveKg;
        at = (*paths)[v * H_ + k];
      }
    }
    return total;
  }
  // Row duals as the LP's sense requires (<= rows non-positive, >= rows non-negative, free rows
  // zero, brown rows at most their price: the LP's are so only within its tolerances), so that
  // any of them, or a mix, prices to a valid bound.
  void ClampDuals(std::vector<double>* pi) const {
    std::vector<double> lower, upper;
    RowBounds(&lower, &upper);
    for (size_t i = 0; i < pi->size(); ++i) {
      if (lower[i] == -kInf) (*pi)[i] = std::min((*pi)[i], 0.0);
      if (upper[i] == kInf) (*pi)[i] = std::max((*pi)[i], 0.0);
    }
    for (size_t s = 0; s < S_; ++s) {
      for (size_t k = 0; k < H_; ++k)
        (*pi)[Brown(s, k)] = std::min((*pi)[Brown(s, k)], BrownPrice(s, k));
    }
  }
  // The Lagrangian at duals `pi`, all but the itineraries' part: pi . rhs, plus what the site
  // columns contribute at their best (b and overload columns whose reduced cost is negative
  // are unbounded: no bound then).
  double DualValue(const double* pi) const {
    double value = 0;
    for (size_t v = 0; v < V_; ++v) value += pi[Convexity(v)];
    for (size_t s = 0; s < S_; ++s) {
      for (size_t k = 0; k < H_; ++k) {
        value += pi[Capacity(s, k)] * p_.sites[s].capacity_w - pi[Brown(s, k)] * o_.Green(s, k);
        if (BrownPrice(s, k) - pi[Brown(s, k)] < -1e-12) return -kInf;
        for (size_t b = 0; b < S_; ++b) {
          if (b != s) value += pi[Link(s, b, k)] * static_cast<double>(p_.slot_s);
        }
      }
    }
    return value;
  }
  // The Lagrangian dual of the horizon problem, climbed by projected subgradient steps (Polyak's
  // step toward `upper`, the best whole plan's kg): at row duals `pi` every VM takes its
  // cheapest itinerary on its own, which bounds the problem from below; the rows' excess (load
  // beyond green, peak beyond capacity, link time beyond the slot) moves the duals. Every 20
  // steps the itineraries of all VMs go to `heuristic(paths)`, which may return a better
  // `upper`. Stops after `max_steps`, when the step has shrunk to nothing, when the bound meets
  // `upper`, or when `late()`. Leaves in `pi` the duals of the best bound, and returns that bound.
  template <class Late, class Heuristic>
  double Climb(std::vector<double>* pi, double upper, size_t max_steps, Late late, size_t* steps,
               Heuristic heuristic) {
    std::vector<double> lower, up, activity(pi->size()), g(pi->size()), best_pi = *pi;
    RowBounds(&lower, &up);
    std::vector<int> paths(V_ * H_);
    double best = -kInf, theta = 1;
    int stale = 0;
    while (*steps < max_steps && !late()) {
      ++*steps;
      std::fill(activity.begin(), activity.end(), 0.0);
      const double value = DualValue(pi->data()) + PriceAll(pi->data(), paths.data());
      for (size_t v = 0; v < V_; ++v)
        Entries(v, &paths[v * H_], [&](int row, double x) { activity[row] += x; });
      if (*steps % 20 == 0) upper = std::min(upper, heuristic(paths));
      if (best == -kInf || value > best + 1e-9 * std::abs(best)) {
        best = value;
        best_pi = *pi;
        stale = 0;
      } else if (++stale >= 10) {
        theta /= 2;
        stale = 0;
        if (theta < 1e-4) break;
      }
      if (upper < kInf && upper - best <= 1e-5 * std::max(1.0, std::abs(upper))) break;
      // Projected subgradient: rows' bound minus activity; nothing where the dual sits on the
      // edge it would be pushed over.
      double norm = 0;
      for (size_t i = V_; i < pi->size(); ++i) {
        double d = 0;
        if (lower[i] > -kInf) {
          d = lower[i] - activity[i];  // brown rows: load - green (b at 0)
          const size_t sk = i - (V_ + S_ * H_);
          const double price = BrownPrice(sk / H_, sk % H_);
          if (((*pi)[i] <= 0 && d < 0) || ((*pi)[i] >= price && d > 0)) d = 0;
        } else if (up[i] < kInf) {
          d = up[i] - activity[i];
          if ((*pi)[i] >= 0 && d > 0) d = 0;
        }
        g[i] = d;
        norm += d * d;
      }
      if (norm <= 0) break;  // the cheapest itineraries are a whole plan meeting every row
      // Polyak's step toward the best plan's kg; with none yet, toward half again the bound.
      const double target = upper < kInf ? upper : value + 0.5 * std::abs(value) + 1e-3;
      const double step = theta * (target - value) / norm;
      for (size_t i = V_; i < pi->size(); ++i) {
        if (g[i] == 0) continue;
        double x = (*pi)[i] + step * g[i];
        if (lower[i] > -kInf) {
          const size_t sk = i - (V_ + S_ * H_);
          x = std::clamp(x, 0.0, BrownPrice(sk / H_, sk % H_));
        } else {
          x = std::min(x, 0.0);
        }
        (*pi)[i] = x;
      }
    }
    *pi = best_pi;
    return best;
  }
  // The reduced cost of VM v's itinerary `path` at duals `pi`.
  double ReducedCost(size_t v, const int* path, const double* pi) const {
    double priced = 0;
    const double cost = Entries(v, path, [&](int row, double value) { priced += pi[row] * value; });
    return cost - priced;
  }
  // The VM's itinerary when it stays where it is, and with a plan's moves.
  void PathOf(size_t v, const Plan* plan, int* path) const {
    std::fill(path, path + H_, o_.site_of_vm[v]);
    if (plan == nullptr) return;
    for (const Move& m : plan->moves) {
      if (m.vm != v) continue;
      const int64_t k = m.slot - o_.now_slot;
      if (k < 0 || k >= static_cast<int64_t>(H_)) continue;
      std::fill(path + k, path + H_, static_cast<int>(m.to));
    }
  }

  static constexpr double kMoveKg = 1e-6;  // a tie-break: of equal plans, the fewer moves
  // Each sweep lowers the plan's kg or ends the search; this only bounds a long slide of tiny
  // gains.
  static constexpr size_t kMaxSweeps = 100;
  static constexpr double kOverloadKgPerW = 1e3;

 private:
  // A move as the model needs it: its energy as power at each end over the slot, its time on
  // the link. Looked up for every arc of every shortest path, so kept per VM kind and site pair.
  struct Hop {
    bool feasible = false;
    double move_w = 0, total_s = 0;
  };
  const Hop& HopOf(size_t v, size_t a, size_t b) const {
    return hops_[(kind_[v] * S_ + a) * S_ + b];
  }

  const Problem& p_;
  const Outlook& o_;
  const size_t S_, V_, H_;
  const int64_t dwell_;       // slots a VM stays where it arrived
  std::vector<size_t> kind_;  // per VM
  std::vector<Hop> hops_;     // per VM kind, from, to
  Scratch scratch_[2];
  std::vector<double> reduced_;
};

class OptimalPolicy : public Policy {
 public:
  explicit OptimalPolicy(PolicyOptions options) : options_(options) {
    PolicyOptions greedy = options;
    greedy.hysteresis_kg = 0;
    greedy.hysteresis_fraction = 0;
    greedy.green_margin_fraction = 0;  // its first plan, priced on the forecast as the MIP is
    start_ = MakePolicy("greedy-forecast", greedy).value();
  }
  std::string Name() const override { return "optimal"; }
  // Its plan must last until it plans again: at least the re-plan interval.
  size_t HorizonSlots() const override {
    const size_t horizon = options_.optimal_horizon_slots > 0 ? options_.optimal_horizon_slots
                                                              : options_.horizon_slots;
    return std::max(horizon, static_cast<size_t>(options_.optimal_replan_slots));
  }
  int64_t ReplanEverySlots() const override { return options_.optimal_replan_slots; }
  SolveReport LastSolve() const override { return last_; }
  std::string LastSolveNote() const override {
    char note[320], mip[64];
    if (stats_.mip_skipped) {
      std::snprintf(mip, sizeof mip, "no CBC (over %d itineraries)", kMipMaxItineraries);
    } else {
      std::snprintf(mip, sizeof mip, "after CBC %.3f kg", stats_.objective);
    }
    std::snprintf(note, sizeof note,
                  "subgradient: %zu steps, bound %.3f kg, %.2f s; column generation: %zu rounds, "
                  "%zu itineraries, LP %.3f kg, bound %.3f kg, %.2f s; best plan improved VM by "
                  "VM %.3f kg, %s; %.2f s in all%s",
                  stats_.steps, stats_.climb_bound, stats_.climb_s, stats_.rounds, stats_.columns,
                  stats_.lp_objective, stats_.bound, stats_.pricing_s, stats_.improved_kg, mip,
                  stats_.seconds, last_.stopped_by_clock ? " (stopped by the time limit)" : "");
    return note;
  }

  Plan Decide(const Problem& problem, const MoveCosts& costs, const Outlook& outlook) override {
    using Clock = std::chrono::steady_clock;
    const auto began = Clock::now();
    auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - began).count(); };
    // The safety net: each phase may run until its share of the time limit. Work limits end
    // a solve first on any sensible machine; when the clock does, the report says so.
    bool clock_stopped = false;
    auto late = [&](double fraction) {
      if (elapsed() < fraction * options_.optimal_time_limit_s) return false;
      clock_stopped = true;
      return true;
    };
    const size_t V = problem.vms.size();
    const size_t H = std::min(outlook.slots, std::max<size_t>(1, HorizonSlots()));
    stats_ = {};
    if (H == 0 || V == 0 || problem.sites.empty()) {
      last_ = SolveReport{0, 0, false};
      return Plan{Name(), {}};  // nothing to place, or no slot to place it in
    }
    PathModel model(problem, costs, outlook, H, options_.min_dwell_slots);
    // Its first plan priced on the forecast as the MIP is: all of the forecast green, not the
    // share of it the forecasts' record says came (the greedy's own rule).
    Plan greedy;
    if (outlook.green_realized_share.empty()) {
      greedy = start_->Decide(problem, costs, outlook);
    } else {
      Outlook as_forecast = outlook;
      as_forecast.green_realized_share.clear();
      greedy = start_->Decide(problem, costs, as_forecast);
    }

    // The restricted master: the site columns, every VM staying, every VM as the greedy plan
    // moves it.
    Columns cols;
    std::vector<int> overload;
    model.AddSiteColumns(&cols, &overload);
    const int first_path = cols.size();
    std::vector<int> path_vm, path_site;  // per path column: its VM, its sites (H each)
    std::vector<int> greedy_paths(V * H), stay(H);
    auto add_path = [&](size_t v, const int* sites, Columns* to) {
      model.AddPath(v, sites, to);
      path_vm.push_back(static_cast<int>(v));
      path_site.insert(path_site.end(), sites, sites + H);
    };
    for (size_t v = 0; v < V; ++v) {
      int* mine = &greedy_paths[v * H];
      model.PathOf(v, nullptr, stay.data());
      model.PathOf(v, &greedy, mine);
      add_path(v, stay.data(), &cols);
      if (!std::equal(stay.begin(), stay.end(), mine)) add_path(v, mine, &cols);
    }
    std::vector<double> row_lower, row_upper;
    model.RowBounds(&row_lower, &row_upper);

    // The incumbent, the best whole plan so far: the greedy one improved VM by VM.
    std::vector<int> incumbent = greedy_paths;
    double incumbent_kg = model.Improve(&incumbent, [&] { return late(0.1); });
    auto consider = [&](std::vector<int>* paths) {
      const double kg = model.Improve(paths, [&] { return late(0.9); });
      if (kg < incumbent_kg) {
        incumbent_kg = kg;
        incumbent.swap(*paths);
      }
      return incumbent_kg;
    };

    // The bound, and prices for itineraries: the Lagrangian dual climbed by subgradient steps
    // from brown power at half the grid's carbon price. Every 20 steps the VMs' cheapest
    // itineraries at the prices, improved VM by VM, are a candidate incumbent (a Lagrangian
    // heuristic).
    std::vector<double> duals(static_cast<size_t>(model.Rows()), 0.0);
    for (size_t s = 0; s < problem.sites.size(); ++s) {
      for (size_t k = 0; k < H; ++k) duals[model.Brown(s, k)] = 0.5 * model.BrownPrice(s, k);
    }
    std::vector<int> candidate;
    double bound = model.Climb(
        &duals, incumbent_kg, options_.optimal_max_steps, [&] { return late(kClimbUntil); },
        &stats_.steps,
        [&](const std::vector<int>& paths) {
          candidate = paths;
          return consider(&candidate);
        });
    stats_.climb_bound = bound;
    stats_.climb_s = elapsed();
    // The master starts with each VM's cheapest itinerary at the best duals and the incumbent's.
    std::vector<std::unordered_set<uint64_t>> seen(V);
    for (size_t i = 0; i < path_vm.size(); ++i)
      seen[path_vm[i]].insert(PathHash(&path_site[i * H], H));
    std::vector<int> priced(V * H);
    model.PriceAll(duals.data(), priced.data());
    for (size_t v = 0; v < V; ++v) {
      for (const int* sites : {&priced[v * H], &incumbent[v * H]}) {
        if (seen[v].insert(PathHash(sites, H)).second) add_path(v, sites, &cols);
      }
    }

    Clp_Simplex* lp = Clp_newModel();
    Clp_setLogLevel(lp, 0);
    Clp_loadProblem(lp, cols.size(), model.Rows(), cols.start.data(), cols.row.data(),
                    cols.value.data(), cols.lower.data(), cols.upper.data(), cols.cost.data(),
                    row_lower.data(), row_upper.data());
    Clp_setMaximumSeconds(
        lp, std::max(0.05, kColumnsUntil * options_.optimal_time_limit_s - elapsed()));
    Clp_dual(lp, 0);

    // Column generation from there: price every VM's best itinerary, add those that would lower
    // the LP's objective, re-solve (primal simplex from the last basis). Pricing at any dual
    // point gives a bound, so itineraries are priced between the duals of the best bound so far
    // and the LP's (Wentges smoothing), and at the LP's own when that finds nothing for it.
    // Stops when the bound meets the LP (its optimum over all itineraries), after
    // optimal_max_rounds rounds, or at its share of the safety net's time.
    std::vector<double> center = duals, lp_pi, at;
    while (Clp_status(lp) == 0 && stats_.rounds < options_.optimal_max_rounds &&
           !late(kColumnsUntil)) {
      const double* row_duals = Clp_dualRowSolution(lp);
      lp_pi.assign(row_duals, row_duals + model.Rows());
      model.ClampDuals(&lp_pi);
      const double objective = Clp_objectiveValue(lp);
      ++stats_.rounds;
      stats_.lp_objective = objective;
      Columns fresh;
      for (int attempt = 0; attempt < 2 && fresh.size() == 0; ++attempt) {
        at = lp_pi;
        if (attempt == 0) {
          for (size_t i = 0; i < at.size(); ++i)
            at[i] = kSmoothing * center[i] + (1 - kSmoothing) * lp_pi[i];
        }
        const double lagrangian =
            model.DualValue(at.data()) + model.PriceAll(at.data(), priced.data());
        if (lagrangian > bound) {
          bound = lagrangian;
          center = at;
        }
        for (size_t v = 0; v < V; ++v) {
          if (model.ReducedCost(v, &priced[v * H], lp_pi.data()) < -1e-9)
            add_path(v, &priced[v * H], &fresh);
        }
      }
      if (fresh.size() == 0) bound = std::max(bound, objective);  // nothing prices out: optimal
      if (fresh.size() == 0 || objective - bound <= 1e-5 * std::max(1.0, std::abs(objective))) {
        path_vm.resize(static_cast<size_t>(cols.size() - first_path));
        path_site.resize(path_vm.size() * H);
        break;
      }
      Clp_addColumns(lp, fresh.size(), fresh.lower.data(), fresh.upper.data(), fresh.cost.data(),
                     fresh.start.data(), fresh.row.data(), fresh.value.data());
      cols.Append(fresh);
      Clp_setMaximumSeconds(
          lp, std::max(0.05, kColumnsUntil * options_.optimal_time_limit_s - elapsed()));
      Clp_primal(lp, 0);
    }
    if (Clp_status(lp) == 3) clock_stopped = true;  // no iteration limit is set: the clock
    stats_.columns = static_cast<size_t>(cols.size() - first_path);
    stats_.pricing_s = elapsed() - stats_.climb_s;
    stats_.bound = bound;

    // The LP's solution rounded (each VM on its heaviest itinerary), improved VM by VM, may be a
    // better incumbent.
    if (Clp_status(lp) == 0) {
      const double* z = Clp_primalColumnSolution(lp);
      std::vector<double> heaviest(V, -1);
      candidate.assign(V * H, 0);
      for (int c = first_path; c < Clp_getNumCols(lp); ++c) {
        const size_t i = static_cast<size_t>(c - first_path), v = static_cast<size_t>(path_vm[i]);
        if (z[c] <= heaviest[v]) continue;
        heaviest[v] = z[c];
        std::copy(&path_site[i * H], &path_site[i * H] + H, &candidate[v * H]);
      }
      consider(&candidate);
    }
    Clp_deleteModel(lp);
    stats_.improved_kg = incumbent_kg;

    // The MILP over every itinerary found, the incumbent's among them: CBC, from the incumbent,
    // for at most its nodes. Not over more than kMipMaxItineraries: CBC's root alone (its LP,
    // cuts and heuristics, which no node limit bounds) then takes longer than everything
    // before it (11 s of 17 at 1,000 VMs, 4,772 itineraries, cuts and heuristics off), and it
    // never improved such a plan.
    std::vector<int> chosen_paths;
    double best = incumbent_kg;
    if (incumbent_kg < kInf) chosen_paths = incumbent;
    const bool open = bound < best - 1e-5 * std::abs(best) && incumbent_kg < kInf &&
                      options_.optimal_max_nodes > 0;
    stats_.mip_skipped = open && cols.size() - first_path > kMipMaxItineraries;
    if (open && !stats_.mip_skipped && !late(kMipFrom)) {
      const int first_incumbent = cols.size();
      for (size_t v = 0; v < V; ++v) add_path(v, &incumbent[v * H], &cols);
      Cbc_Model* mip = Cbc_newModel();
      Cbc_setLogLevel(mip, 0);
      Cbc_loadProblem(mip, cols.size(), model.Rows(), cols.start.data(), cols.row.data(),
                      cols.value.data(), cols.lower.data(), cols.upper.data(), cols.cost.data(),
                      row_lower.data(), row_upper.data());
      std::vector<int> start_idx;
      std::vector<double> start_val;
      for (int c = first_path; c < cols.size(); ++c) {
        Cbc_setInteger(mip, c);
        start_idx.push_back(c);
        start_val.push_back(c >= first_incumbent ? 1 : 0);
      }
      Cbc_setMIPStartI(mip, static_cast<int>(start_idx.size()), start_idx.data(), start_val.data());
      Cbc_setMaximumSeconds(mip,
                            std::max(0.05, kMipUntil * options_.optimal_time_limit_s - elapsed()));
      Cbc_setMaximumNodes(mip, options_.optimal_max_nodes);
      Cbc_setAllowableFractionGap(mip, 1e-4);
      Cbc_solve(mip);
      if (Cbc_isSecondsLimitReached(mip)) clock_stopped = true;
      const double* z = Cbc_getColSolution(mip);
      bool whole = z != nullptr && Cbc_numberSavedSolutions(mip) >= 1;
      for (int c : overload) whole = whole && z[c] <= 1e-6;
      if (whole && Cbc_getObjValue(mip) < best - 1e-9) {
        best = Cbc_getObjValue(mip);
        for (int c = first_path; c < cols.size(); ++c) {
          if (z[c] < 0.5) continue;
          const size_t i = static_cast<size_t>(c - first_path);
          std::copy(&path_site[i * H], &path_site[i * H] + H,
                    &chosen_paths[static_cast<size_t>(path_vm[i]) * H]);
        }
      }
      Cbc_deleteModel(mip);
    }
    stats_.seconds = elapsed();
    // Every plan's kg is at least 0, whatever the dual side says.
    bound = std::max(bound, 0.0);
    if (chosen_paths.empty()) {
      last_ = SolveReport{kInf, bound, clock_stopped};
      return greedy;  // no whole plan within capacity and link time: the greedy one
    }
    last_ = SolveReport{best, bound, clock_stopped};
    stats_.objective = best;

    Plan plan{Name(), {}};
    char reason[200];
    std::snprintf(reason, sizeof reason,
                  "optimal: MILP over the next %zu slots (objective %.3f kg CO2, gap %.2f%%)", H,
                  best, 100 * last_.Gap());
    for (size_t v = 0; v < V; ++v) {
      size_t from = static_cast<size_t>(outlook.site_of_vm[v]);
      for (size_t k = 0; k < H; ++k) {
        const size_t next = static_cast<size_t>(chosen_paths[v * H + k]);
        if (next == from) continue;
        Move move;
        move.vm = v;
        move.from = from;
        move.to = next;
        move.slot = outlook.now_slot + static_cast<int64_t>(k);
        move.predicted = costs.At(v, from, next);
        move.reason = reason;
        plan.moves.push_back(std::move(move));
        from = next;
      }
    }
    std::stable_sort(plan.moves.begin(), plan.moves.end(),
                     [](const Move& a, const Move& b) { return a.slot < b.slot; });
    return plan;
  }

 private:
  static constexpr double kSmoothing = 0.7;  // weight of the best bound's duals when pricing
  // How the safety net's time is shared (fractions of it): the subgradient climb until the
  // first, column generation until the second; CBC starts only before the third and is told to
  // stop at the fourth (it checks its limit between nodes, not inside its root LP).
  static constexpr double kClimbUntil = 0.7, kColumnsUntil = 0.8, kMipFrom = 0.85, kMipUntil = 0.9;
  static constexpr int kMipMaxItineraries = 2000;
  PolicyOptions options_;
  std::unique_ptr<Policy> start_;
  SolveReport last_;
  struct Stats {
    size_t rounds = 0, columns = 0;
    size_t steps = 0;
    bool mip_skipped = false;  // too many itineraries for CBC
    double climb_bound = 0, lp_objective = 0, bound = 0, improved_kg = 0, objective = 0;
    double climb_s = 0, pricing_s = 0, seconds = 0;
  } stats_;
};

}  // namespace

Result<OracleSlot> OracleBound(const Problem& problem, const std::vector<double>& green_w,
                               const std::vector<double>& carbon_g_per_kwh,
                               const std::vector<double>& vm_power_w) {
  const size_t S = problem.sites.size(), V = problem.vms.size();
  const double slot_h = static_cast<double>(problem.slot_s) / 3600;
  // Rows: each VM placed once (v), then per site its capacity (V + 2s) and brown power >= load
  // - green (V + 2s + 1). Columns: f[v,s], the share of VM v at site s; then b[s], brown power.
  const int vm_rows = static_cast<int>(V);
  auto capacity = [&](size_t s) { return vm_rows + 2 * static_cast<int>(s); };
  Columns cols;
  for (size_t v = 0; v < V; ++v) {
    for (size_t s = 0; s < S; ++s) {
      cols.Add(static_cast<int>(v), 1);
      cols.Add(capacity(s), problem.vms[v].peak_power_w);
      cols.Add(capacity(s) + 1, -vm_power_w[v]);
      cols.Finish(0, 1, 0);
    }
  }
  const int b0 = cols.size();
  for (size_t s = 0; s < S; ++s) {
    cols.Add(capacity(s) + 1, 1);
    cols.Finish(0, kInf, KgCo2(slot_h, carbon_g_per_kwh[s]));
  }
  std::vector<double> row_lower(V + 2 * S, 1), row_upper(V + 2 * S, 1);
  for (size_t s = 0; s < S; ++s) {
    row_lower[capacity(s)] = -kInf;
    row_upper[capacity(s)] = problem.sites[s].capacity_w;
    row_lower[capacity(s) + 1] = -std::max(0.0, green_w[s]);
    row_upper[capacity(s) + 1] = kInf;
  }
  Cbc_Model* model = Cbc_newModel();
  Cbc_setLogLevel(model, 0);
  Cbc_loadProblem(model, cols.size(), static_cast<int>(row_lower.size()), cols.start.data(),
                  cols.row.data(), cols.value.data(), cols.lower.data(), cols.upper.data(),
                  cols.cost.data(), row_lower.data(), row_upper.data());
  Cbc_solve(model);
  const double* x = Cbc_getColSolution(model);
  if (!Cbc_isProvenOptimal(model) || x == nullptr) {
    Cbc_deleteModel(model);
    return Status::Error("oracle: the relaxation has no solution (do the VMs fit the sites?)");
  }
  OracleSlot slot;
  for (size_t s = 0; s < S; ++s) {
    double load = 0;
    for (size_t v = 0; v < V; ++v) load += vm_power_w[v] * x[v * S + s];
    const double brown = std::max(0.0, x[b0 + static_cast<int>(s)]);
    slot.co2_kg += KgCo2(brown * slot_h, carbon_g_per_kwh[s]);
    slot.green_wh += std::max(0.0, load - brown) * slot_h;
    slot.load_wh += load * slot_h;
  }
  Cbc_deleteModel(model);
  return slot;
}

std::unique_ptr<Policy> MakeOptimalPolicy(const PolicyOptions& options) {
  return std::unique_ptr<Policy>(new OptimalPolicy(options));
}

}  // namespace greenshift::placement
