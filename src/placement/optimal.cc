#include "placement/optimal.h"

#include <coin/Cbc_C_Interface.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

namespace greenshift::placement {

namespace {

// Collects one constraint's terms, then adds the row to the model.
class RowBuilder {
 public:
  explicit RowBuilder(Cbc_Model* model) : model_(model) {}
  void Add(int column, double coefficient) {
    columns_.push_back(column);
    coefficients_.push_back(coefficient);
  }
  bool empty() const { return columns_.empty(); }
  void Finish(char sense, double rhs) {
    Cbc_addRow(model_, "", static_cast<int>(columns_.size()), columns_.data(), coefficients_.data(),
               sense, rhs);
    columns_.clear();
    coefficients_.clear();
  }

 private:
  Cbc_Model* model_;
  std::vector<int> columns_;
  std::vector<double> coefficients_;
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
  double LastMipGap() const override { return gap_; }

  Plan Decide(const Problem& problem, const MoveCosts& costs, const Outlook& outlook) override {
    const size_t S = problem.sites.size(), V = problem.vms.size();
    const size_t H = std::min(outlook.slots, std::max<size_t>(1, options_.horizon_slots));
    const double slot_h = static_cast<double>(problem.slot_s) / 3600;
    const int64_t dwell = options_.min_dwell_slots;
    Cbc_Model* model = Cbc_newModel();
    Cbc_setLogLevel(model, 0);
    auto x = [&](size_t v, size_t s, size_t k) { return static_cast<int>((v * S + s) * H + k); };
    const int y0 = static_cast<int>(V * S * H);
    auto y = [&](size_t v, size_t s, size_t k) { return y0 + x(v, s, k); };
    const int b0 = 2 * y0;
    auto b = [&](size_t s, size_t k) { return b0 + static_cast<int>(s * H + k); };
    char name[80];
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
          std::snprintf(name, sizeof name, "x_%zu_%zu_%zu", v, s, k);
          Cbc_addCol(model, name, lower, upper, 0, 1, 0, nullptr, nullptr);
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
          std::snprintf(name, sizeof name, "y_%zu_%zu_%zu", v, s, k);
          Cbc_addCol(model, name, 0, 1, S > 1 ? kg : 0, 0, 0, nullptr, nullptr);
        }
      }
    }
    // b: brown power, priced at the grid's carbon intensity.
    for (size_t s = 0; s < S; ++s) {
      for (size_t k = 0; k < H; ++k) {
        std::snprintf(name, sizeof name, "b_%zu_%zu", s, k);
        Cbc_addCol(model, name, 0, std::numeric_limits<double>::infinity(),
                   KgCo2(slot_h, outlook.Carbon(s, k)), 0, 0, nullptr, nullptr);
      }
    }
    RowBuilder row(model);
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
  Cbc_Model* model = Cbc_newModel();
  Cbc_setLogLevel(model, 0);
  // f[v,s]: the share of VM v at site s; b[s]: brown power at s.
  for (size_t v = 0; v < V; ++v) {
    for (size_t s = 0; s < S; ++s) Cbc_addCol(model, "", 0, 1, 0, 0, 0, nullptr, nullptr);
  }
  const int b0 = static_cast<int>(V * S);
  for (size_t s = 0; s < S; ++s) {
    Cbc_addCol(model, "", 0, std::numeric_limits<double>::infinity(),
               KgCo2(slot_h, carbon_g_per_kwh[s]), 0, 0, nullptr, nullptr);
  }
  RowBuilder row(model);
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
