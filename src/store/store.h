// The service's memory: SQLite in WAL mode, with a versioned schema that migrates itself
// forward on open. Readings (and the readings that were rejected, with why: none is dropped
// silently), forecasts, plans, moves with their measured results, and events. Two connections,
// each serialized by a mutex: one writes, one queries (WAL: neither waits for the other). Safe to
// share between the API's threads and the control loop.
#pragma once

#include <sqlite3.h>

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/files.h"
#include "core/status.h"

namespace greenshift::store {

struct StoredReading {
  int64_t id = 0;
  std::string site, sensor;
  int64_t time_utc_ms = 0;
  double power_w = 0;
  int64_t received_utc_ms = 0;
};

struct RejectedReading {
  std::string site, sensor;
  int64_t time_utc_ms = 0;
  double power_w = 0;  // as received (may be NaN: stored as NULL)
  std::string reason;  // RejectReasonName, or what was wrong with the request
  std::string why;
  int64_t received_utc_ms = 0;
};

struct Event {
  int64_t id = 0;
  int64_t time_utc_ms = 0;
  std::string kind;
  std::string message;
};

// A plan the loop made: its moves as JSON in `body`. Status: "pending" (waits for approval),
// "approved", "rejected", "superseded" (a newer plan replaced it before approval), "recorded"
// (dry-run), "executed" (its moves were queued).
struct PlanRecord {
  int64_t id = 0;
  int64_t created_utc_ms = 0;
  std::string policy, mode, status, body;
};

// A move and what came of it. State: "queued", "running" (the migration was started),
// "completed", "failed" (the VM stayed on its source), "interrupted" (the service stopped during
// it; the reconciliation says where the VM was found), "cancelled" (never started).
struct MoveRecord {
  int64_t id = 0;
  int64_t plan_id = 0;  // 0: requested by hand through the API
  std::string vm, from_site, to_site, reason, state;
  int64_t requested_utc_ms = 0, started_utc_ms = 0, finished_utc_ms = 0;  // 0: not yet
  double downtime_ms = -1;                                                // measured; -1 when none
  std::string result;  // the driver's migration result (JSON), or why it did not run
};

struct ForecastPoint {
  int64_t slot_utc_ms = 0;
  double power_w = 0;
};

class Store {
 public:
  // Opens (creating if needed) and migrates the schema to the newest version. A database from a
  // newer greenshift (a schema version this one does not know) is an error, never touched.
  // `exclusive`: holds a lock (`path`.lock) for as long as it is open, so that a second service
  // on the same store fails to start (Conflict) instead of writing beside the first.
  static Result<std::unique_ptr<Store>> Open(const std::string& path, bool exclusive = false);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  static int LatestSchemaVersion();
  Result<int> SchemaVersion();

  // All in one transaction: either every reading is stored or none. A reading of a sensor at a
  // time it already has a reading for is not stored again.
  Status AddReadings(const std::vector<StoredReading>& readings);
  // The same, with group commit: concurrent callers' batches share one transaction (a writer
  // thread commits whatever has queued while the last commit ran). Returns once the caller's
  // readings are committed, or with the error that stopped their transaction.
  Status AddReadingsGrouped(std::vector<StoredReading> readings);
  Status AddRejected(const RejectedReading& rejected);
  // The newest first, at most `limit`; an empty site means every site.
  Result<std::vector<StoredReading>> Readings(const std::string& site, int64_t since_utc_ms,
                                              size_t limit);
  // Whether the sensor's reading at that time is stored, with exactly that power.
  Result<bool> HasReading(const std::string& site, const std::string& sensor, int64_t time_utc_ms,
                          double power_w);
  // Each sensor's newest stored reading.
  Result<std::vector<StoredReading>> NewestReadings();
  Result<int64_t> CountReadings();
  Result<int64_t> CountRejected();

  Result<int64_t> AddPlan(const PlanRecord& plan);
  // Plan `id` goes from status `from` to `to`, atomically: NotFound when there is no such plan,
  // Conflict when it is not in `from` (someone else changed it first).
  Status SetPlanStatus(int64_t id, const std::string& from, const std::string& to);
  // Every plan still "pending" becomes "superseded" (a newer plan, or a restart, replaced it).
  Status SupersedePendingPlans();
  Result<PlanRecord> GetPlan(int64_t id);               // an error naming the id when there is none
  Result<std::vector<PlanRecord>> Plans(size_t limit);  // newest first

  Result<int64_t> AddMove(const MoveRecord& move);
  // Writes state, times, downtime and result of the move `move.id`.
  Status UpdateMove(const MoveRecord& move);
  // Newest first; an empty state means every state.
  Result<std::vector<MoveRecord>> Moves(size_t limit, const std::string& state = "");

  // One forecast of a site, issued at `issued_utc_ms`: all points in one transaction.
  Status AddForecast(const std::string& site, int64_t issued_utc_ms,
                     const std::vector<ForecastPoint>& points);
  // The newest forecast of the site (empty when there is none) and when it was issued.
  Result<std::pair<int64_t, std::vector<ForecastPoint>>> LatestForecast(const std::string& site);

  // Small named values the service keeps across restarts (e.g. the replay's epoch).
  Result<std::optional<std::string>> Setting(const std::string& key);
  Status SetSetting(const std::string& key, const std::string& value);

  Status AddEvent(int64_t time_utc_ms, const std::string& kind, const std::string& message);
  Result<std::vector<Event>> Events(size_t limit);

  // Deletes readings, rejected readings, forecasts and events from before `before_utc_ms`, at
  // most `max_rows` (in short transactions); returns how many. Plans and moves are kept: they
  // are the audit trail.
  Result<int64_t> Prune(int64_t before_utc_ms, int64_t max_rows);
  // Unavailable when the database cannot be used any more: its file was deleted or replaced
  // under the service, or it cannot be read.
  Status Check();

 private:
  explicit Store(sqlite3* db) : db_(db) {}
  Status Exec(const std::string& sql);
  Status Migrate();
  std::string Error(const std::string& what) const;
  std::string ReadError(const std::string& what) const;

  void WriterLoop();

  sqlite3* db_;
  std::string path_;
  std::unique_ptr<FileLock> lock_;  // held while open when exclusive
  std::mutex mutex_;                // db_: every write
  sqlite3* reader_ = nullptr;
  std::mutex read_mutex_;  // reader_: every query
  // Group commit: batches waiting, the generation each belongs to, the last committed one.
  std::mutex queue_mutex_;
  std::condition_variable queued_, committed_;
  std::vector<StoredReading> queue_;
  uint64_t generation_ = 1, done_generation_ = 0;
  std::map<uint64_t, Status> failures_;  // generation -> why its commit failed
  std::map<uint64_t, int> waiters_;      // generation -> callers still to read its outcome
  bool stopping_ = false;
  std::thread writer_;
  void CheckpointLoop();
  sqlite3* checkpointer_ = nullptr;  // its own connection, for the checkpoint thread
  std::thread checkpoints_;
  std::condition_variable checkpoint_wake_;
};

}  // namespace greenshift::store
