#include "placement/optimal.h"

#include <coin/Cbc_C_Interface.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

namespace greenshift::placement {

namespace {

// Collects a linear programme's columns and rows, then hands CBC the whole matrix at once
// (adding columns and rows one by one costs CBC time that grows with the model).
class ModelBuilder {
 public:
  int AddCol(double lower, double upper, double objective, bool integer = false) {
    col_lower_.push_back(lower);
    col_upper_.push_back(upper);
    objective_.push_back(objective);
    if (integer) integers_.push_back(static_cast<int>(col_lower_.size() - 1));
    return static_cast<int>(col_lower_.size() - 1);
  }
  // One row: its terms, then its sense ('L' <=, 'G' >=, 'E' =) and right-hand side.
  void Add(int column, double coefficient) {
    entries_.push_back({column, static_cast<int>(row_lower_.size()), coefficient});
    ++pending_;
  }
  bool empty() const { return pending_ == 0; }
  void Finish(char sense, double rhs) {
    const double inf = std::numeric_limits<double>::infinity();
    row_lower_.push_back(sense == 'L' ? -inf : rhs);
    row_upper_.push_back(sense == 'G' ? inf : rhs);
    pending_ = 0;
  }
  void Load(Cbc_Model* model) const {
    const size_t columns = col_lower_.size();
    std::vector<CoinBigIndex> start(columns + 1, 0);
    for (const Entry& e : entries_) ++start[static_cast<size_t>(e.column) + 1];
    for (size_t c = 0; c < columns; ++c) start[c + 1] += start[c];
    std::vector<int> index(entries_.size());
    std::vector<double> value(entries_.size());
    std::vector<CoinBigIndex> next(start.begin(), start.end() - 1);
    for (const Entry& e : entries_) {
      const CoinBigIndex at = next[static_cast<size_t>(e.column)]++;
      index[static_cast<size_t>(at)] = e.row;
      value[static_cast<size_t>(at)] = e.value;
    }
    Cbc_loadProblem(model, static_cast<int>(columns), static_cast<int>(row_lower_.size()),
                    start.data(), index.data(), value.data(), col_lower_.data(), col_upper_.data(),
                    objective_.data(), row_lower_.data(), row_upper_.data());
    for (int c : integers_) Cbc_setInteger(model, c);
  }

 private:
  struct Entry {
    int column, row;
    double value;
  };
  std::vector<double> col_lower_, col_upper_, objective_, row_lower_, row_upper_;
  std::vector<int> integers_;
  std::vector<Entry> entries_;
  size_t pending_ = 0;
};

class OptimalPolicy : public Policy {
 public:
  explicit OptimalPolicy(PolicyOptions options) : options_(options) {
    PolicyOptions greedy = options;
    greedy.hysteresis_kg = 0;
    greedy.hysteresis_fraction = 0;
    start_ = std::move(MakePolicy("greedy-forecast", greedy).value());
  }
  std::string Name() const override { return "optimal"; }
  size_t HorizonSlots() const override {
    return options_.optimal_horizon_slots > 0 ? options_.optimal_horizon_slots
                                              : options_.horizon_slots;
  }
  int64_t ReplanEverySlots() const override { return options_.optimal_replan_slots; }
  double LastMipGap() const override { return gap_; }

  Plan Decide(const Problem& problem, const MoveCosts& costs, const Outlook& outlook) override {
    const size_t S = problem.sites.size(), V = problem.vms.size();
    const size_t H = std::min(outlook.slots, std::max<size_t>(1, HorizonSlots()));
    const double slot_h = static_cast<double>(problem.slot_s) / 3600;
    const int64_t dwell = options_.min_dwell_slots;
    ModelBuilder lp;
    auto x = [&](size_t v, size_t s, size_t k) { return static_cast<int>((v * S + s) * H + k); };
    const int y0 = static_cast<int>(V * S * H);
    auto y = [&](size_t v, size_t s, size_t k) { return y0 + x(v, s, k); };
    const int b0 = 2 * y0;
    auto b = [&](size_t s, size_t k) { return b0 + static_cast<int>(s * H + k); };
    // x: binaries; fixed where a VM may not be.
    for (size_t v = 0; v < V; ++v) {
      const size_t cur = static_cast<size_t>(outlook.site_of_vm[v]);
      const int64_t since = outlook.now_slot - outlook.last_move_slot[v];
      for (size_t s = 0; s < S; ++s) {
        const bool reachable = s == cur || costs.At(v, cur, s).feasible;
        for (size_t k = 0; k < H; ++k) {
          // Still within its dwell time: stays where it is.
          const bool pinned = since + static_cast<int64_t>(k) < dwell;
          double upper = reachable ? 1 : 0;
          if (pinned) upper = s == cur ? 1 : 0;
          const double lower = pinned && s == cur ? 1 : 0;
          lp.AddCol(lower, upper, 0, true);
        }
      }
    }
    // y: arrivals, priced at the move's energy and the destination's carbon intensity.
    for (size_t v = 0; v < V; ++v) {
      const size_t cur = static_cast<size_t>(outlook.site_of_vm[v]);
      for (size_t s = 0; s < S; ++s) {
        const MoveCost& cost = costs.At(v, cur, s == cur ? (cur + 1) % S : s);
        for (size_t k = 0; k < H; ++k) {
          const double kg = KgCo2(cost.energy_j / 3600, outlook.Carbon(s, k)) + 1e-6;
          lp.AddCol(0, 1, S > 1 ? kg : 0);
        }
      }
    }
    // b: brown power, priced at the grid's carbon intensity.
    for (size_t s = 0; s < S; ++s) {
      for (size_t k = 0; k < H; ++k) {
        lp.AddCol(0, std::numeric_limits<double>::infinity(), KgCo2(slot_h, outlook.Carbon(s, k)));
      }
    }
    ModelBuilder& row = lp;
    for (size_t v = 0; v < V; ++v) {
      const size_t cur = static_cast<size_t>(outlook.site_of_vm[v]);
      for (size_t k = 0; k < H; ++k) {
        for (size_t s = 0; s < S; ++s) row.Add(x(v, s, k), 1);
        row.Finish('E', 1);  // one site at a time
        for (size_t s = 0; s < S; ++s) {
          // y >= x[k] - x[k-1] (before slot 0: where it is now)
          row.Add(y(v, s, k), 1);
          row.Add(x(v, s, k), -1);
          double rhs = 0;
          if (k > 0) {
            row.Add(x(v, s, k - 1), 1);
          } else {
            rhs = s == cur ? -1 : 0;
          }
          row.Finish('G', rhs);
        }
      }
      // At most one arrival within any dwell window.
      for (size_t k = 0; k < H; ++k) {
        for (size_t j = k; j < std::min(H, k + static_cast<size_t>(dwell)); ++j) {
          for (size_t s = 0; s < S; ++s) row.Add(y(v, s, j), 1);
        }
        row.Finish('L', 1);
      }
    }
    for (size_t s = 0; s < S; ++s) {
      for (size_t k = 0; k < H; ++k) {
        // Capacity: peak power of the VMs there.
        for (size_t v = 0; v < V; ++v) row.Add(x(v, s, k), problem.vms[v].peak_power_w);
        row.Finish('L', problem.sites[s].capacity_w);
        // Brown power: b >= load - green.
        row.Add(b(s, k), 1);
        for (size_t v = 0; v < V; ++v) row.Add(x(v, s, k), -outlook.Power(v, k));
        row.Finish('G', -outlook.Green(s, k));
      }
    }
    // Link time in the first slot: the moves on each link fit in the slot.
    for (size_t a = 0; a < S; ++a) {
      for (size_t s = 0; s < S; ++s) {
        if (a == s) continue;
        for (size_t v = 0; v < V; ++v) {
          if (static_cast<size_t>(outlook.site_of_vm[v]) != a) continue;
          const MoveCost& cost = costs.At(v, a, s);
          if (cost.feasible) row.Add(x(v, s, 0), cost.total_s);
        }
        if (!row.empty()) row.Finish('L', static_cast<double>(problem.slot_s));
      }
    }
    Cbc_Model* model = Cbc_newModel();
    Cbc_setLogLevel(model, 0);
    lp.Load(model);
    // Start from the greedy plan held over the horizon.
    const Plan greedy = start_->Decide(problem, costs, outlook);
    std::vector<int> site = outlook.site_of_vm;
    for (const Move& m : greedy.moves) site[m.vm] = static_cast<int>(m.to);
    std::vector<int> start_idx;
    std::vector<double> start_val;
    for (size_t v = 0; v < V; ++v) {
      for (size_t s = 0; s < S; ++s) {
        for (size_t k = 0; k < H; ++k) {
          start_idx.push_back(x(v, s, k));
          start_val.push_back(site[v] == static_cast<int>(s) ? 1 : 0);
        }
      }
    }
    Cbc_setMIPStartI(model, static_cast<int>(start_idx.size()), start_idx.data(), start_val.data());
    Cbc_setMaximumSeconds(model, options_.optimal_time_limit_s);
    Cbc_setAllowableFractionGap(model, 1e-4);
    Cbc_solve(model);

    Plan plan{Name(), {}};
    gap_ = std::numeric_limits<double>::quiet_NaN();
    const double* solution = Cbc_getColSolution(model);
    if (solution == nullptr || Cbc_numberSavedSolutions(model) < 1) {
      Cbc_deleteModel(model);
      gap_ = 1;
      return greedy;  // no solution within the limit: the greedy start is the best known
    }
    const double best = Cbc_getObjValue(model), bound = Cbc_getBestPossibleObjValue(model);
    gap_ = Cbc_isProvenOptimal(model) ? 0 : std::abs(best - bound) / std::max(1e-9, std::abs(best));
    for (size_t v = 0; v < V; ++v) {
      size_t at = static_cast<size_t>(outlook.site_of_vm[v]);
      for (size_t k = 0; k < H; ++k) {
        size_t next = at;
        for (size_t s = 0; s < S; ++s) {
          if (solution[x(v, s, k)] > 0.5) next = s;
        }
        if (next != at) {
          Move move;
          move.vm = v;
          move.from = at;
          move.to = next;
          move.slot = outlook.now_slot + static_cast<int64_t>(k);
          move.predicted = costs.At(v, at, next);
          char reason[160];
          std::snprintf(reason, sizeof reason,
                        "optimal: MILP over the next %zu slots (objective %.3f kg, gap %.2f%%)", H,
                        best, 100 * gap_);
          move.reason = reason;
          plan.moves.push_back(std::move(move));
          at = next;
        }
      }
    }
    Cbc_deleteModel(model);
    return plan;
  }

 private:
  PolicyOptions options_;
  std::unique_ptr<Policy> start_;
  double gap_ = std::numeric_limits<double>::quiet_NaN();
};

}  // namespace

Result<OracleSlot> OracleBound(const Problem& problem, const std::vector<double>& green_w,
                               const std::vector<double>& carbon_g_per_kwh,
                               const std::vector<double>& vm_power_w) {
  const size_t S = problem.sites.size(), V = problem.vms.size();
  const double slot_h = static_cast<double>(problem.slot_s) / 3600;
  ModelBuilder row;
  // f[v,s]: the share of VM v at site s; b[s]: brown power at s.
  for (size_t v = 0; v < V; ++v) {
    for (size_t s = 0; s < S; ++s) row.AddCol(0, 1, 0);
  }
  const int b0 = static_cast<int>(V * S);
  for (size_t s = 0; s < S; ++s) {
    row.AddCol(0, std::numeric_limits<double>::infinity(), KgCo2(slot_h, carbon_g_per_kwh[s]));
  }
  for (size_t v = 0; v < V; ++v) {
    for (size_t s = 0; s < S; ++s) row.Add(static_cast<int>(v * S + s), 1);
    row.Finish('E', 1);
  }
  for (size_t s = 0; s < S; ++s) {
    for (size_t v = 0; v < V; ++v)
      row.Add(static_cast<int>(v * S + s), problem.vms[v].peak_power_w);
    row.Finish('L', problem.sites[s].capacity_w);
    row.Add(b0 + static_cast<int>(s), 1);
    for (size_t v = 0; v < V; ++v) row.Add(static_cast<int>(v * S + s), -vm_power_w[v]);
    row.Finish('G', -std::max(0.0, green_w[s]));
  }
  Cbc_Model* model = Cbc_newModel();
  Cbc_setLogLevel(model, 0);
  row.Load(model);
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
