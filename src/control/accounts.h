// record: what each period cost. At every tick the accountant closes the period since the last
// one: per site, the power the VMs there drew and the moves' energy (half at each end), the green
// power measured, and the grid's carbon intensity; how much of the load was green, and its CO2.
// Optionally the same with every VM left on its home site ("static"), for the service's "with
// and without greenshift". The simulator's results and the service's green share are both these
// accounts.
//
// Thread safety: MoveEnded may come from the executor's threads; Close and Totals from the loop
// and the API.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "control/fleet.h"
#include "control/moves.h"
#include "control/observer.h"
#include "placement/problem.h"

namespace greenshift::control {

struct PeriodAccount {
  int64_t start_ms = 0, end_ms = 0;
  double hours = 0;
  std::vector<double> load_w;            // per site: the VMs there and the moves' energy
  std::vector<double> green_w;           // per site: measured (0 when nothing was)
  std::vector<double> carbon_g_per_kwh;  // per site
  std::vector<int> vms;                  // per site: VMs there
  double load_wh = 0, green_used_wh = 0, co2_kg = 0;   // this period, all sites
  double static_green_used_wh = 0, static_co2_kg = 0;  // the same with every VM at home
};

struct AccountTotals {
  int64_t periods = 0;
  double load_wh = 0, green_used_wh = 0, co2_kg = 0;
  double static_green_used_wh = 0, static_co2_kg = 0;
  double migration_energy_j = 0;
};

class Accountant {
 public:
  Accountant(const placement::Problem& problem, std::vector<int> home_site, bool with_static);

  // A move ended: a completed one's energy counts in the period it ended in.
  void MoveEnded(const MoveOutcome& outcome, size_t from, size_t to);
  // Closes the period since the last call: the VMs where the fleet has them, what was observed.
  // A gap longer than two periods (the service was down) counts as two. Nothing on the first
  // call, which only starts the first period.
  std::optional<PeriodAccount> Close(const Observation& observation,
                                     const std::vector<VmPlace>& fleet, int64_t period_ms);
  AccountTotals Totals() const;

 private:
  const placement::Problem& problem_;
  const std::vector<int> home_site_;
  const bool with_static_;
  mutable std::mutex mutex_;
  int64_t last_ms_ = 0;
  bool started_ = false;
  std::vector<double> move_energy_j_;  // per site, since the last Close
  AccountTotals totals_;
};

}  // namespace greenshift::control
