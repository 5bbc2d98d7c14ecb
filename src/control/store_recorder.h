// The service's recorder: everything the engine records goes to the store (readings, rejected
// readings, forecasts, plans, moves, events) and, as one structured line each, to the log
// (plans, moves, rejections, input problems). A write the store refuses (disk full, the database
// deleted under the service) is counted and logged, and shows in Health: the service keeps
// running and says so, rather than pretending.
//
// Thread safety: as Recorder (every call from any thread).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/recorder.h"
#include "store/store.h"

namespace greenshift::control {

struct StoreHealth {
  int64_t write_failures = 0;   // since the start
  std::string last_failure;     // the newest failure, in words
  int64_t last_failure_ms = 0;  // when (wall clock)
  int64_t last_success_ms = 0;  // the newest write that worked
  // The newest write failed (nothing has worked since): what the service writes is being lost.
  bool failing = false;
};

// A plan's moves as the store keeps them (and the API shows them): names, when, why, and what
// each is predicted to cost and save.
nlohmann::json PlanMovesJson(const std::vector<placement::Move>& moves,
                             const std::vector<std::string>& site_names,
                             const std::vector<std::string>& vm_names, int64_t slot_s);

class StoreRecorder : public Recorder {
 public:
  // `site_names`, `vm_names`: to name the engine's indices; `slot_s`: the engine's slot.
  StoreRecorder(store::Store& store, std::vector<std::string> site_names,
                std::vector<std::string> vm_names, int64_t slot_s,
                std::function<int64_t()> wall_clock);

  Status Readings(std::vector<store::StoredReading> readings, bool grouped) override;
  Result<bool> HasReading(const std::string& site, const std::string& sensor, int64_t time_utc_ms,
                          double power_w) override;
  void Rejected(const store::RejectedReading& rejected) override;
  void ForecastIssued(const Forecast& forecast) override;
  Result<int64_t> PlanMade(const PlanEntry& plan) override;
  Status PlanStatus(int64_t id, const std::string& from, const std::string& to) override;
  Status SupersedePending() override;
  Result<int64_t> MoveQueued(const MoveOrder& order, int64_t at_ms) override;
  void MoveStarted(const MoveOrder& order, int64_t at_ms) override;
  void MoveEnded(const MoveOrder& order, const MoveOutcome& outcome) override;
  void PeriodClosed(const PeriodAccount& account) override;
  void Event(LogLevel level, const std::string& kind, const std::string& message,
             int64_t at_ms) override;

  StoreHealth Health() const;
  // The store's own check (its file still there, readable) with the recorder's view of writes.
  Status Check();

 private:
  // Notes the outcome of a write (health, and a log line when it failed).
  void Wrote(const Status& status, const char* what);
  store::MoveRecord RecordOf(const MoveOrder& order) const;

  store::Store& store_;
  const std::vector<std::string> site_names_, vm_names_;
  const int64_t slot_s_;
  const std::function<int64_t()> wall_;
  mutable std::mutex mutex_;
  StoreHealth health_;
  std::map<int64_t, store::MoveRecord> in_flight_;  // moves between queued and ended
};

}  // namespace greenshift::control
