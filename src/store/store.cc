#include "store/store.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace greenshift::store {

namespace {

// Each entry moves the schema from version i to i + 1. Never edit one that has shipped: add
// the next.
const char* const kMigrations[] = {
    // 1: readings, rejected readings, forecasts, plans, moves, events.
    R"sql(
    CREATE TABLE readings (
      id INTEGER PRIMARY KEY,
      site TEXT NOT NULL,
      sensor TEXT NOT NULL,
      time_utc_ms INTEGER NOT NULL,
      power_w REAL NOT NULL,
      received_utc_ms INTEGER NOT NULL
    );
    CREATE INDEX readings_site_time ON readings (site, time_utc_ms);
    CREATE TABLE rejected_readings (
      id INTEGER PRIMARY KEY,
      site TEXT NOT NULL,
      sensor TEXT NOT NULL,
      time_utc_ms INTEGER NOT NULL,
      power_w REAL,
      reason TEXT NOT NULL,
      why TEXT NOT NULL,
      received_utc_ms INTEGER NOT NULL
    );
    CREATE TABLE forecasts (
      id INTEGER PRIMARY KEY,
      site TEXT NOT NULL,
      issued_utc_ms INTEGER NOT NULL,
      slot_utc_ms INTEGER NOT NULL,
      power_w REAL NOT NULL
    );
    CREATE INDEX forecasts_site_issued ON forecasts (site, issued_utc_ms);
    CREATE TABLE plans (
      id INTEGER PRIMARY KEY,
      created_utc_ms INTEGER NOT NULL,
      policy TEXT NOT NULL,
      mode TEXT NOT NULL,
      status TEXT NOT NULL,
      body TEXT NOT NULL
    );
    CREATE TABLE moves (
      id INTEGER PRIMARY KEY,
      plan_id INTEGER REFERENCES plans (id),
      vm TEXT NOT NULL,
      from_site TEXT NOT NULL,
      to_site TEXT NOT NULL,
      reason TEXT NOT NULL,
      state TEXT NOT NULL,
      requested_utc_ms INTEGER NOT NULL,
      started_utc_ms INTEGER,
      finished_utc_ms INTEGER,
      downtime_ms REAL,
      result TEXT
    );
    CREATE TABLE events (
      id INTEGER PRIMARY KEY,
      time_utc_ms INTEGER NOT NULL,
      kind TEXT NOT NULL,
      message TEXT NOT NULL
    );
    )sql",
    // 2: settings kept across restarts; moves found by state (reconciliation) and by plan.
    R"sql(
    CREATE TABLE settings (
      key TEXT PRIMARY KEY,
      value TEXT NOT NULL
    );
    CREATE INDEX moves_state ON moves (state);
    CREATE INDEX moves_plan ON moves (plan_id);
    )sql",
    // 3: a reading is stored once: (site, sensor, time) is unique (a copy an earlier version
    // stored twice is dropped, the first kept); pruning by age finds old rows by index.
    R"sql(
    DELETE FROM readings WHERE id NOT IN
      (SELECT MIN(id) FROM readings GROUP BY site, sensor, time_utc_ms);
    DROP INDEX readings_site_time;
    CREATE UNIQUE INDEX readings_sensor_time ON readings (site, sensor, time_utc_ms);
    CREATE INDEX readings_time ON readings (time_utc_ms);
    CREATE INDEX rejected_received ON rejected_readings (received_utc_ms);
    CREATE INDEX forecasts_issued ON forecasts (issued_utc_ms);
    CREATE INDEX events_time ON events (time_utc_ms);
    )sql",
};

constexpr int kLatest = static_cast<int>(sizeof kMigrations / sizeof kMigrations[0]);

// A prepared statement, finalized when it goes out of scope.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() { return stmt_; }
  void Bind(int i, const std::string& s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  }
  void Bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void Bind(int i, double v) {
    if (std::isnan(v)) {
      sqlite3_bind_null(stmt_, i);
    } else {
      sqlite3_bind_double(stmt_, i, v);
    }
  }
  int Step() { return sqlite3_step(stmt_); }
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  int64_t Int(int i) { return sqlite3_column_int64(stmt_, i); }
  double Real(int i) { return sqlite3_column_double(stmt_, i); }
  std::string Text(int i) {
    const unsigned char* text = sqlite3_column_text(stmt_, i);
    return text ? reinterpret_cast<const char*>(text) : "";
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_ERROR;
};

}  // namespace

int Store::LatestSchemaVersion() {
  return kLatest;
}

std::string Store::Error(const std::string& what) const {
  return "store: " + what + ": " + sqlite3_errmsg(db_);
}

std::string Store::ReadError(const std::string& what) const {
  return "store: " + what + ": " + sqlite3_errmsg(reader_);
}

Status Store::Exec(const std::string& sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    std::string why = message ? message : "unknown error";
    sqlite3_free(message);
    return Status::Unavailable("store: " + why);
  }
  return Status::Ok();
}

namespace {

// One connection to the database at `path`; `purpose` (" for reading", ...) goes in the error.
Result<sqlite3*> Connect(const std::string& path, int flags, const std::string& purpose) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string why = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Status::Unavailable("store: cannot open " + path + purpose + ": " + why);
  }
  return db;
}

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const std::string& path, bool exclusive) {
  std::unique_ptr<FileLock> lock;
  if (exclusive) {
    Result<FileLock> taken =
        FileLock::TryAcquire(path + ".lock", "the store " + path + " (another greenshift serve?)");
    if (!taken.ok()) return Status::Conflict(taken.error());
    lock = std::make_unique<FileLock>(std::move(*taken));
  }
  sqlite3* db = nullptr;
  GS_ASSIGN(db, Connect(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, ""));
  std::unique_ptr<Store> store(new Store(db));
  store->lock_ = std::move(lock);
  store->path_ = path;
  sqlite3_busy_timeout(db, 5000);
  // WAL: readers (the API) never wait for the writer (the loop); NORMAL sync is durable across
  // a process crash (SIGKILL), which is what the service must survive.
  GS_RETURN_IF_ERROR(store
                         ->Exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
                                "PRAGMA foreign_keys = ON;")
                         .Context(path));
  GS_RETURN_IF_ERROR(store->Migrate().Context(path));
  // Queries go through a second connection: in WAL mode a reader sees the last commit and
  // neither waits for the writer nor makes it wait (the API's GETs and the loop's reads run
  // while readings are committed).
  GS_ASSIGN(store->reader_, Connect(path, SQLITE_OPEN_READONLY, " for reading"));
  sqlite3_busy_timeout(store->reader_, 5000);
  // Checkpoints (copying the WAL back into the database, with an fsync) would otherwise run
  // inside whichever commit crosses 1000 pages and stall it: they run on a thread and a
  // connection of their own, once a second, without blocking the writer (PASSIVE).
  GS_ASSIGN(store->checkpointer_, Connect(path, SQLITE_OPEN_READWRITE, " for checkpoints"));
  GS_RETURN_IF_ERROR(store->Exec("PRAGMA wal_autocheckpoint = 0").Context(path));
  Store* self = store.get();
  store->checkpoints_ = std::thread([self] { self->CheckpointLoop(); });
  return store;
}

void Store::CheckpointLoop() {
  std::unique_lock<std::mutex> lock(queue_mutex_);
  while (!stopping_) {
    checkpoint_wake_.wait_for(lock, std::chrono::seconds(1));
    if (stopping_) break;
    lock.unlock();
    sqlite3_wal_checkpoint_v2(checkpointer_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    lock.lock();
  }
}

Store::~Store() {
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    stopping_ = true;
  }
  queued_.notify_all();
  checkpoint_wake_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (checkpoints_.joinable()) checkpoints_.join();
  if (checkpointer_) {
    sqlite3_wal_checkpoint_v2(checkpointer_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
    sqlite3_close(checkpointer_);
  }
  sqlite3_close(reader_);
  sqlite3_close(db_);
}

Status Store::AddReadingsGrouped(std::vector<StoredReading> readings) {
  std::unique_lock<std::mutex> lock(queue_mutex_);
  if (stopping_) return Status::Unavailable("store: closing; the readings were not stored");
  if (!writer_.joinable()) writer_ = std::thread([this] { WriterLoop(); });
  const uint64_t mine = generation_;
  ++waiters_[mine];
  queue_.insert(queue_.end(), std::make_move_iterator(readings.begin()),
                std::make_move_iterator(readings.end()));
  queued_.notify_one();
  committed_.wait(lock, [&] { return done_generation_ >= mine; });
  auto failed = failures_.find(mine);
  const Status status = failed == failures_.end() ? Status::Ok() : failed->second;
  if (--waiters_[mine] == 0) {  // the last waiter of its generation tidies up
    waiters_.erase(mine);
    failures_.erase(mine);
  }
  return status;
}

void Store::WriterLoop() {
  std::unique_lock<std::mutex> lock(queue_mutex_);
  for (;;) {
    queued_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left
    std::vector<StoredReading> batch;
    batch.swap(queue_);
    const uint64_t generation = generation_++;
    lock.unlock();
    Status status = AddReadings(batch);
    lock.lock();
    if (!status.ok()) failures_[generation] = status;
    done_generation_ = generation;
    committed_.notify_all();
  }
}

Result<int> Store::SchemaVersion() {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement q(db_, "PRAGMA user_version");
  if (!q.ok() || q.Step() != SQLITE_ROW)
    return Status::Unavailable(Error("reading the schema version"));
  return static_cast<int>(q.Int(0));
}

Status Store::Migrate() {
  Result<int> version = SchemaVersion();
  if (!version.ok()) return version.status();
  if (*version > kLatest) {
    return Status::Error("store: the database has schema version " + std::to_string(*version) +
                         ", newer than this greenshift knows (" + std::to_string(kLatest) +
                         "); refusing to touch it");
  }
  std::lock_guard<std::mutex> lock(mutex_);
  for (int v = *version; v < kLatest; ++v) {
    // Each step and its version bump commit together, or not at all.
    GS_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    Status step = Exec(kMigrations[v]);
    if (step.ok()) step = Exec("PRAGMA user_version = " + std::to_string(v + 1));
    if (!step.ok()) {
      Exec("ROLLBACK").ok();
      return step.Context("migrating the schema to version " + std::to_string(v + 1));
    }
    GS_RETURN_IF_ERROR(Exec("COMMIT"));
  }
  return Status::Ok();
}

Status Store::AddReadings(const std::vector<StoredReading>& readings) {
  std::lock_guard<std::mutex> lock(mutex_);
  GS_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  // A reading already stored (the same sensor at the same time) is not stored twice.
  Statement insert(db_,
                   "INSERT OR IGNORE INTO readings (site, sensor, time_utc_ms, power_w, "
                   "received_utc_ms) VALUES (?, ?, ?, ?, ?)");
  if (!insert.ok()) {
    const std::string why = Error("preparing a reading insert");
    Exec("ROLLBACK").ok();
    return Status::Unavailable(why);
  }
  for (const StoredReading& r : readings) {
    insert.Bind(1, r.site);
    insert.Bind(2, r.sensor);
    insert.Bind(3, r.time_utc_ms);
    insert.Bind(4, r.power_w);
    insert.Bind(5, r.received_utc_ms);
    if (insert.Step() != SQLITE_DONE) {
      const std::string why = Error("storing a reading of site '" + r.site + "'");
      insert.Reset();
      Exec("ROLLBACK").ok();
      return Status::Unavailable(why);
    }
    insert.Reset();
  }
  Status committed = Exec("COMMIT");
  if (!committed.ok()) Exec("ROLLBACK").ok();
  return committed;
}

Result<bool> Store::HasReading(const std::string& site, const std::string& sensor,
                               int64_t time_utc_ms, double power_w) {
  std::lock_guard<std::mutex> lock(read_mutex_);
  Statement q(reader_,
              "SELECT power_w FROM readings WHERE site = ? AND sensor = ? AND time_utc_ms = ?");
  if (!q.ok()) return Status::Unavailable(ReadError("preparing a reading lookup"));
  q.Bind(1, site);
  q.Bind(2, sensor);
  q.Bind(3, time_utc_ms);
  const int rc = q.Step();
  if (rc == SQLITE_DONE) return false;
  if (rc != SQLITE_ROW) return Status::Unavailable(ReadError("looking up a reading"));
  return q.Real(0) == power_w;
}

Result<std::vector<StoredReading>> Store::NewestReadings() {
  std::lock_guard<std::mutex> lock(read_mutex_);
  // SQLite takes the other columns from the row that holds the MAX.
  Statement q(reader_,
              "SELECT 0, site, sensor, MAX(time_utc_ms), power_w, received_utc_ms FROM readings "
              "GROUP BY site, sensor");
  if (!q.ok()) return Status::Unavailable(ReadError("preparing a newest-readings query"));
  std::vector<StoredReading> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    out.push_back({q.Int(0), q.Text(1), q.Text(2), q.Int(3), q.Real(4), q.Int(5)});
  }
  if (rc != SQLITE_DONE) return Status::Unavailable(ReadError("reading the newest readings"));
  return out;
}

Result<int64_t> Store::Prune(int64_t before_utc_ms, int64_t max_rows) {
  // In batches, each its own short transaction: the API's readings never wait long.
  const char* const deletes[] = {
      "DELETE FROM readings WHERE id IN (SELECT id FROM readings WHERE time_utc_ms < ?1 "
      "LIMIT ?2)",
      "DELETE FROM rejected_readings WHERE id IN (SELECT id FROM rejected_readings WHERE "
      "received_utc_ms < ?1 LIMIT ?2)",
      "DELETE FROM forecasts WHERE id IN (SELECT id FROM forecasts WHERE issued_utc_ms < ?1 "
      "LIMIT ?2)",
      "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE time_utc_ms < ?1 LIMIT ?2)",
  };
  int64_t removed = 0;
  for (const char* sql : deletes) {
    for (;;) {
      std::lock_guard<std::mutex> lock(mutex_);
      Statement q(db_, sql);
      if (!q.ok()) return Status::Unavailable(Error("preparing a prune"));
      q.Bind(1, before_utc_ms);
      q.Bind(2, std::min<int64_t>(max_rows - removed, 5000));
      if (q.Step() != SQLITE_DONE) return Status::Unavailable(Error("pruning old rows"));
      const int changed = sqlite3_changes(db_);
      removed += changed;
      if (changed < 5000 || removed >= max_rows) break;
    }
    if (removed >= max_rows) break;
  }
  return removed;
}

Status Store::Check() {
  // The file the service writes must still be the one at its path: deleted or replaced, every
  // write would go to a file nobody will ever open again.
  {
    std::lock_guard<std::mutex> lock(mutex_);
    int moved = 0;
    if (sqlite3_file_control(db_, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK && moved)
      return Status::Unavailable("store: " + path_ +
                                 " was deleted or replaced while the service had it open");
  }
  std::lock_guard<std::mutex> lock(read_mutex_);
  Result<int64_t> pages = [&]() -> Result<int64_t> {
    Statement q(reader_, "PRAGMA page_count");
    if (!q.ok() || q.Step() != SQLITE_ROW)
      return Status::Unavailable(ReadError("reading the database"));
    return q.Int(0);
  }();
  return pages.ok() ? Status::Ok() : pages.status();
}

Status Store::AddRejected(const RejectedReading& r) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement insert(db_,
                   "INSERT INTO rejected_readings (site, sensor, time_utc_ms, power_w, reason, "
                   "why, received_utc_ms) VALUES (?, ?, ?, ?, ?, ?, ?)");
  if (!insert.ok()) return Status::Unavailable(Error("preparing a rejection insert"));
  insert.Bind(1, r.site);
  insert.Bind(2, r.sensor);
  insert.Bind(3, r.time_utc_ms);
  insert.Bind(4, r.power_w);
  insert.Bind(5, r.reason);
  insert.Bind(6, r.why);
  insert.Bind(7, r.received_utc_ms);
  if (insert.Step() != SQLITE_DONE) return Status::Unavailable(Error("storing a rejected reading"));
  return Status::Ok();
}

Result<std::vector<StoredReading>> Store::Readings(const std::string& site, int64_t since_utc_ms,
                                                   size_t limit) {
  std::lock_guard<std::mutex> lock(read_mutex_);
  Statement q(reader_,
              "SELECT id, site, sensor, time_utc_ms, power_w, received_utc_ms FROM readings "
              "WHERE (?1 = '' OR site = ?1) AND time_utc_ms >= ?2 "
              "ORDER BY time_utc_ms DESC, id DESC LIMIT ?3");
  if (!q.ok()) return Status::Unavailable(ReadError("preparing a readings query"));
  q.Bind(1, site);
  q.Bind(2, since_utc_ms);
  q.Bind(3, static_cast<int64_t>(limit));
  std::vector<StoredReading> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    out.push_back({q.Int(0), q.Text(1), q.Text(2), q.Int(3), q.Real(4), q.Int(5)});
  }
  if (rc != SQLITE_DONE) return Status::Unavailable(ReadError("reading readings"));
  return out;
}

namespace {
Result<int64_t> Count(sqlite3* db, const char* sql) {
  Statement q(db, sql);
  if (!q.ok() || q.Step() != SQLITE_ROW)
    return Status::Unavailable(std::string("store: counting: ") + sqlite3_errmsg(db));
  return q.Int(0);
}
}  // namespace

Result<int64_t> Store::CountReadings() {
  std::lock_guard<std::mutex> lock(read_mutex_);
  return Count(reader_, "SELECT COUNT(*) FROM readings");
}

Result<int64_t> Store::CountRejected() {
  std::lock_guard<std::mutex> lock(read_mutex_);
  return Count(reader_, "SELECT COUNT(*) FROM rejected_readings");
}

Result<int64_t> Store::AddPlan(const PlanRecord& plan) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement insert(db_,
                   "INSERT INTO plans (created_utc_ms, policy, mode, status, body) "
                   "VALUES (?, ?, ?, ?, ?)");
  if (!insert.ok()) return Status::Unavailable(Error("preparing a plan insert"));
  insert.Bind(1, plan.created_utc_ms);
  insert.Bind(2, plan.policy);
  insert.Bind(3, plan.mode);
  insert.Bind(4, plan.status);
  insert.Bind(5, plan.body);
  if (insert.Step() != SQLITE_DONE) return Status::Unavailable(Error("storing a plan"));
  return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
}

Status Store::SetPlanStatus(int64_t id, const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> lock(mutex_);
  // Only from `from`: two callers (approve, reject) racing for one plan cannot both win.
  Statement update(db_, "UPDATE plans SET status = ? WHERE id = ? AND status = ?");
  if (!update.ok()) return Status::Unavailable(Error("preparing a plan update"));
  update.Bind(1, to);
  update.Bind(2, id);
  update.Bind(3, from);
  if (update.Step() != SQLITE_DONE)
    return Status::Unavailable(Error("updating plan " + std::to_string(id)));
  if (sqlite3_changes(db_) == 1) return Status::Ok();
  Statement q(db_, "SELECT status FROM plans WHERE id = ?");
  if (!q.ok()) return Status::Unavailable(Error("preparing a plan query"));
  q.Bind(1, id);
  if (q.Step() != SQLITE_ROW) return Status::NotFound("there is no plan " + std::to_string(id));
  return Status::Conflict("plan " + std::to_string(id) + " is " + q.Text(0) + ", not " + from);
}

Status Store::SupersedePendingPlans() {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement update(db_, "UPDATE plans SET status = 'superseded' WHERE status = 'pending'");
  if (!update.ok() || update.Step() != SQLITE_DONE)
    return Status::Unavailable(Error("superseding pending plans"));
  return Status::Ok();
}

namespace {
const char kPlanColumns[] = "SELECT id, created_utc_ms, policy, mode, status, body FROM plans ";
PlanRecord PlanFrom(Statement& q) {
  return {q.Int(0), q.Int(1), q.Text(2), q.Text(3), q.Text(4), q.Text(5)};
}
const char kMoveColumns[] =
    "SELECT id, plan_id, vm, from_site, to_site, reason, state, requested_utc_ms, "
    "started_utc_ms, finished_utc_ms, downtime_ms, result FROM moves ";
MoveRecord MoveFrom(Statement& q) {
  MoveRecord m;
  m.id = q.Int(0);
  m.plan_id = q.Int(1);
  m.vm = q.Text(2);
  m.from_site = q.Text(3);
  m.to_site = q.Text(4);
  m.reason = q.Text(5);
  m.state = q.Text(6);
  m.requested_utc_ms = q.Int(7);
  m.started_utc_ms = q.Int(8);
  m.finished_utc_ms = q.Int(9);
  m.downtime_ms = sqlite3_column_type(q.get(), 10) == SQLITE_NULL ? -1 : q.Real(10);
  m.result = q.Text(11);
  return m;
}
}  // namespace

Result<PlanRecord> Store::GetPlan(int64_t id) {
  std::lock_guard<std::mutex> lock(read_mutex_);
  Statement q(reader_, (std::string(kPlanColumns) + "WHERE id = ?").c_str());
  if (!q.ok()) return Status::Unavailable(ReadError("preparing a plan query"));
  q.Bind(1, id);
  const int rc = q.Step();
  if (rc == SQLITE_DONE) return Status::NotFound("there is no plan " + std::to_string(id));
  if (rc != SQLITE_ROW) return Status::Unavailable(ReadError("reading plan " + std::to_string(id)));
  return PlanFrom(q);
}

Result<std::vector<PlanRecord>> Store::Plans(size_t limit) {
  std::lock_guard<std::mutex> lock(read_mutex_);
  Statement q(reader_, (std::string(kPlanColumns) + "ORDER BY id DESC LIMIT ?").c_str());
  if (!q.ok()) return Status::Unavailable(ReadError("preparing a plans query"));
  q.Bind(1, static_cast<int64_t>(limit));
  std::vector<PlanRecord> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) out.push_back(PlanFrom(q));
  if (rc != SQLITE_DONE) return Status::Unavailable(ReadError("reading plans"));
  return out;
}

Result<int64_t> Store::AddMove(const MoveRecord& m) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement insert(db_,
                   "INSERT INTO moves (plan_id, vm, from_site, to_site, reason, state, "
                   "requested_utc_ms) VALUES (?, ?, ?, ?, ?, ?, ?)");
  if (!insert.ok()) return Status::Unavailable(Error("preparing a move insert"));
  if (m.plan_id > 0) {
    insert.Bind(1, m.plan_id);
  } else {
    sqlite3_bind_null(insert.get(), 1);
  }
  insert.Bind(2, m.vm);
  insert.Bind(3, m.from_site);
  insert.Bind(4, m.to_site);
  insert.Bind(5, m.reason);
  insert.Bind(6, m.state);
  insert.Bind(7, m.requested_utc_ms);
  if (insert.Step() != SQLITE_DONE) return Status::Unavailable(Error("storing a move"));
  return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
}

Status Store::UpdateMove(const MoveRecord& m) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement update(db_,
                   "UPDATE moves SET state = ?, started_utc_ms = ?, finished_utc_ms = ?, "
                   "downtime_ms = ?, result = ? WHERE id = ?");
  if (!update.ok()) return Status::Unavailable(Error("preparing a move update"));
  update.Bind(1, m.state);
  auto bind_time = [&](int i, int64_t t) {
    if (t > 0) {
      update.Bind(i, t);
    } else {
      sqlite3_bind_null(update.get(), i);
    }
  };
  bind_time(2, m.started_utc_ms);
  bind_time(3, m.finished_utc_ms);
  update.Bind(4, m.downtime_ms >= 0 ? m.downtime_ms : NAN);
  update.Bind(5, m.result);
  update.Bind(6, m.id);
  if (update.Step() != SQLITE_DONE)
    return Status::Unavailable(Error("updating move " + std::to_string(m.id)));
  if (sqlite3_changes(db_) != 1)
    return Status::NotFound("store: there is no move " + std::to_string(m.id));
  return Status::Ok();
}

Result<std::vector<MoveRecord>> Store::Moves(size_t limit, const std::string& state) {
  std::lock_guard<std::mutex> lock(read_mutex_);
  Statement q(reader_, (std::string(kMoveColumns) +
                        "WHERE (?1 = '' OR state = ?1) ORDER BY id DESC LIMIT ?2")
                           .c_str());
  if (!q.ok()) return Status::Unavailable(ReadError("preparing a moves query"));
  q.Bind(1, state);
  q.Bind(2, static_cast<int64_t>(limit));
  std::vector<MoveRecord> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) out.push_back(MoveFrom(q));
  if (rc != SQLITE_DONE) return Status::Unavailable(ReadError("reading moves"));
  return out;
}

Status Store::AddForecast(const std::string& site, int64_t issued_utc_ms,
                          const std::vector<ForecastPoint>& points) {
  std::lock_guard<std::mutex> lock(mutex_);
  GS_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Statement insert(db_,
                   "INSERT INTO forecasts (site, issued_utc_ms, slot_utc_ms, power_w) "
                   "VALUES (?, ?, ?, ?)");
  bool ok = insert.ok();
  for (size_t i = 0; ok && i < points.size(); ++i) {
    insert.Bind(1, site);
    insert.Bind(2, issued_utc_ms);
    insert.Bind(3, points[i].slot_utc_ms);
    insert.Bind(4, points[i].power_w);
    ok = insert.Step() == SQLITE_DONE;
    insert.Reset();
  }
  if (!ok) {
    const std::string why = Error("storing a forecast of site '" + site + "'");
    Exec("ROLLBACK").ok();
    return Status::Error(why);
  }
  return Exec("COMMIT");
}

Result<std::pair<int64_t, std::vector<ForecastPoint>>> Store::LatestForecast(
    const std::string& site) {
  std::lock_guard<std::mutex> lock(read_mutex_);
  Statement q(reader_,
              "SELECT issued_utc_ms, slot_utc_ms, power_w FROM forecasts WHERE site = ?1 AND "
              "issued_utc_ms = (SELECT MAX(issued_utc_ms) FROM forecasts WHERE site = ?1) "
              "ORDER BY slot_utc_ms");
  if (!q.ok()) return Status::Unavailable(ReadError("preparing a forecast query"));
  q.Bind(1, site);
  std::pair<int64_t, std::vector<ForecastPoint>> out{0, {}};
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    out.first = q.Int(0);
    out.second.push_back({q.Int(1), q.Real(2)});
  }
  if (rc != SQLITE_DONE) return Status::Unavailable(ReadError("reading a forecast"));
  return out;
}

Result<std::optional<std::string>> Store::Setting(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement q(db_, "SELECT value FROM settings WHERE key = ?");
  if (!q.ok()) return Status::Unavailable(Error("preparing a settings query"));
  q.Bind(1, key);
  const int rc = q.Step();
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  if (rc != SQLITE_ROW) return Status::Unavailable(Error("reading setting '" + key + "'"));
  return std::optional<std::string>(q.Text(0));
}

Status Store::SetSetting(const std::string& key, const std::string& value) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement q(db_,
              "INSERT INTO settings (key, value) VALUES (?, ?) "
              "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
  if (!q.ok()) return Status::Unavailable(Error("preparing a settings update"));
  q.Bind(1, key);
  q.Bind(2, value);
  if (q.Step() != SQLITE_DONE) return Status::Unavailable(Error("storing setting '" + key + "'"));
  return Status::Ok();
}

Status Store::AddEvent(int64_t time_utc_ms, const std::string& kind, const std::string& message) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement insert(db_, "INSERT INTO events (time_utc_ms, kind, message) VALUES (?, ?, ?)");
  if (!insert.ok()) return Status::Unavailable(Error("preparing an event insert"));
  insert.Bind(1, time_utc_ms);
  insert.Bind(2, kind);
  insert.Bind(3, message);
  if (insert.Step() != SQLITE_DONE) return Status::Unavailable(Error("storing an event"));
  return Status::Ok();
}

Result<std::vector<Event>> Store::Events(size_t limit) {
  std::lock_guard<std::mutex> lock(read_mutex_);
  Statement q(reader_,
              "SELECT id, time_utc_ms, kind, message FROM events ORDER BY id DESC LIMIT ?");
  if (!q.ok()) return Status::Unavailable(ReadError("preparing an events query"));
  q.Bind(1, static_cast<int64_t>(limit));
  std::vector<Event> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) out.push_back({q.Int(0), q.Int(1), q.Text(2), q.Text(3)});
  if (rc != SQLITE_DONE) return Status::Unavailable(ReadError("reading events"));
  return out;
}

}  // namespace greenshift::store
