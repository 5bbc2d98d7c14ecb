// Where the engine writes down what it sees and does: readings, forecasts, plans, moves, the
// energy accounts of each period, and events. The service's recorder (StoreRecorder) keeps them
// in the store and logs each one; the simulator's adds up its results. The engine never reads
// back what it wrote, except through the calls below that say so.
//
// Thread safety: the loop, the executor's threads and the API's threads call a recorder at once;
// every implementation is thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "control/moves.h"
#include "core/log.h"
#include "core/status.h"
#include "placement/problem.h"
#include "store/store.h"

namespace greenshift::control {

struct PeriodAccount;
struct Forecast;

// A plan as it is recorded: what the policy decided at `made_ms` for the slots from
// `first_slot`, and what happens to it ("executed" in auto mode, "pending" for approval,
// "recorded" in dry-run).
struct PlanEntry {
  int64_t made_ms = 0;
  int64_t first_slot = 0;
  std::string policy, mode, status;
  const placement::Plan* plan = nullptr;
  std::string note;  // e.g. which sites' inputs were stale
};

class Recorder {
 public:
  virtual ~Recorder() = default;

  // Accepted readings, all or none. `grouped`: may share a transaction with other callers'
  // (group commit); returns once they are durable, or with why not (Unavailable).
  virtual Status Readings(std::vector<store::StoredReading> readings, bool grouped) = 0;
  // Whether exactly this reading (site, sensor, time, power) is stored already: a client
  // re-sending what it was not sure arrived.
  virtual Result<bool> HasReading(const std::string& site, const std::string& sensor,
                                  int64_t time_utc_ms, double power_w) = 0;
  virtual void Rejected(const store::RejectedReading& rejected) = 0;

  virtual void ForecastIssued(const Forecast& forecast) = 0;

  virtual Result<int64_t> PlanMade(const PlanEntry& plan) = 0;
  // Moves plan `id` from status `from` to `to` if, and only if, it is in `from` now: two callers
  // racing (approve and reject) cannot both win. NotFound / Conflict otherwise.
  virtual Status PlanStatus(int64_t id, const std::string& from, const std::string& to) = 0;
  // Every pending plan becomes superseded (a newer plan, or a restart, replaced it).
  virtual Status SupersedePending() = 0;

  virtual Result<int64_t> MoveQueued(const MoveOrder& order, int64_t at_ms) = 0;
  virtual void MoveStarted(const MoveOrder& order, int64_t at_ms) = 0;
  virtual void MoveEnded(const MoveOrder& order, const MoveOutcome& outcome) = 0;

  virtual void PeriodClosed(const PeriodAccount& account) = 0;

  // Something an operator should know (an input problem, a reconciliation), with its kind.
  virtual void Event(LogLevel level, const std::string& kind, const std::string& message,
                     int64_t at_ms) = 0;
};

}  // namespace greenshift::control
