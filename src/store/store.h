// The service's memory: SQLite in WAL mode, with a versioned schema that migrates itself
// forward on open. Readings (and the readings that were rejected, with why: none is dropped
// silently), forecasts, plans, moves with their measured results, and events. One connection,
// serialized by a mutex: safe to share between the API's threads and the control loop.
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

class Store {
 public:
  // Opens (creating if needed) and migrates the schema to the newest version. A database from a
  // newer greenshift (a schema version this one does not know) is an error, never touched.
  static Result<std::unique_ptr<Store>> Open(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  static int LatestSchemaVersion();
  Result<int> SchemaVersion();

  // All in one transaction: either every reading is stored or none.
  Status AddReadings(const std::vector<StoredReading>& readings);
  // The same, with group commit: concurrent callers' batches share one transaction (a writer
  // thread commits whatever has queued while the last commit ran). Returns once the caller's
  // readings are committed, or with the error that stopped their transaction.
  Status AddReadingsGrouped(std::vector<StoredReading> readings);
  Status AddRejected(const RejectedReading& rejected);
  // The newest first, at most `limit`; an empty site means every site.
  Result<std::vector<StoredReading>> Readings(const std::string& site, int64_t since_utc_ms,
                                              size_t limit);
  Result<int64_t> CountReadings();
  Result<int64_t> CountRejected();

  Status AddEvent(int64_t time_utc_ms, const std::string& kind, const std::string& message);
  Result<std::vector<Event>> Events(size_t limit);

 private:
  explicit Store(sqlite3* db) : db_(db) {}
  Status Exec(const std::string& sql);
  Status Migrate();
  std::string Error(const std::string& what) const;

  void WriterLoop();

  sqlite3* db_;
  std::mutex mutex_;
  // Group commit: batches waiting, the generation each belongs to, the last committed one.
  std::mutex queue_mutex_;
  std::condition_variable queued_, committed_;
  std::vector<StoredReading> queue_;
  uint64_t generation_ = 1, done_generation_ = 0;
  std::map<uint64_t, Status> failures_;  // generation -> why its commit failed
  std::map<uint64_t, int> waiters_;      // generation -> callers still to read its outcome
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace greenshift::store
