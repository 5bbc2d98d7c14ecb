#include "store/store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace greenshift::store {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/gs-store-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/greenshift.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_, path_;
};

TEST_F(StoreTest, CreatesTheNewestSchemaInWalMode) {
  auto store = Store::Open(path_);
  ASSERT_TRUE(store.ok()) << store.error();
  EXPECT_EQ((*store)->SchemaVersion().value(), Store::LatestSchemaVersion());
  EXPECT_TRUE(std::filesystem::exists(path_ + "-wal"));
}

TEST_F(StoreTest, ReadingsSurviveAReopenAndComeBackNewestFirst) {
  {
    auto store = Store::Open(path_);
    ASSERT_TRUE(store.ok()) << store.error();
    ASSERT_TRUE((*store)
                    ->AddReadings({{0, "frankfurt", "pv", 1000, 1500.5, 1001},
                                   {0, "frankfurt", "pv", 2000, 1600, 2001},
                                   {0, "london", "pv", 1500, 700, 1501}})
                    .ok());
    ASSERT_TRUE((*store)->AddEvent(5, "start", "service started").ok());
  }
  auto store = Store::Open(path_);  // migrations do not run twice
  ASSERT_TRUE(store.ok()) << store.error();
  auto all = (*store)->Readings("", 0, 10);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].time_utc_ms, 2000);
  auto frankfurt = (*store)->Readings("frankfurt", 1500, 10);
  ASSERT_EQ(frankfurt->size(), 1u);
  EXPECT_DOUBLE_EQ((*frankfurt)[0].power_w, 1600);
  EXPECT_EQ((*store)->Events(10)->at(0).message, "service started");
}

TEST_F(StoreTest, RejectedReadingsAreKeptWithTheirReasonNotAsReadings) {
  auto store = Store::Open(path_);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE(
      (*store)->AddRejected({"london", "pv", 100, NAN, "not-a-number", "power is NaN", 101}).ok());
  EXPECT_EQ((*store)->CountRejected().value(), 1);
  EXPECT_EQ((*store)->CountReadings().value(), 0);
}

TEST_F(StoreTest, ADatabaseFromANewerGreenshiftIsRefused) {
  {
    auto store = Store::Open(path_);
    ASSERT_TRUE(store.ok());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto store = Store::Open(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().find("schema version 99"), std::string::npos) << store.error();
}

TEST_F(StoreTest, GroupCommitStoresEveryConcurrentBatchOnce) {
  auto store = Store::Open(path_);
  ASSERT_TRUE(store.ok());
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      for (int n = 0; n < 50; ++n) {
        std::vector<StoredReading> batch;
        for (int k = 0; k < 3; ++k)
          batch.push_back({0, "site", "s" + std::to_string(i), n * 3 + k, 1.0 * k, 0});
        EXPECT_TRUE((*store)->AddReadingsGrouped(std::move(batch)).ok());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ((*store)->CountReadings().value(), 8 * 50 * 3);
}

TEST_F(StoreTest, AnUnwritablePathIsAClearError) {
  auto store = Store::Open(dir_ + "/no/such/dir/greenshift.db");
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().find("no/such/dir"), std::string::npos) << store.error();
}

}  // namespace
}  // namespace greenshift::store

namespace greenshift::store {
namespace {

class StoreV3Test : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/gs-store3-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/greenshift.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_, path_;
};

TEST_F(StoreV3Test, AReadingIsStoredOnceAndFoundAgain) {
  auto store = Store::Open(path_);
  ASSERT_TRUE(store.ok()) << store.error();
  ASSERT_TRUE((*store)->AddReadings({{0, "a", "pv", 1000, 500, 1}}).ok());
  // The same sensor at the same time again (a batch sent twice): not stored twice.
  ASSERT_TRUE(
      (*store)->AddReadings({{0, "a", "pv", 1000, 500, 2}, {0, "a", "pv", 2000, 600, 2}}).ok());
  ASSERT_TRUE((*store)->AddReadingsGrouped({{0, "a", "pv", 2000, 600, 3}}).ok());
  EXPECT_EQ((*store)->CountReadings().value(), 2);
  EXPECT_TRUE((*store)->HasReading("a", "pv", 1000, 500).value());
  EXPECT_FALSE((*store)->HasReading("a", "pv", 1000, 501).value());  // not that reading
  EXPECT_FALSE((*store)->HasReading("a", "wind", 1000, 500).value());
  const std::vector<StoredReading> newest = (*store)->NewestReadings().value();
  ASSERT_EQ(newest.size(), 1u);
  EXPECT_EQ(newest[0].time_utc_ms, 2000);
  EXPECT_EQ(newest[0].power_w, 600);
}

TEST_F(StoreV3Test, SchemaThreeDropsCopiesAnOlderVersionStoredTwice) {
  {
    // A version-2 database, as an earlier greenshift left it, with one reading stored twice.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    const char* v2 =
        "CREATE TABLE readings (id INTEGER PRIMARY KEY, site TEXT NOT NULL, sensor TEXT NOT NULL,"
        " time_utc_ms INTEGER NOT NULL, power_w REAL NOT NULL, received_utc_ms INTEGER NOT NULL);"
        "CREATE INDEX readings_site_time ON readings (site, time_utc_ms);"
        "CREATE TABLE rejected_readings (id INTEGER PRIMARY KEY, site TEXT NOT NULL, sensor TEXT "
        "NOT NULL, time_utc_ms INTEGER NOT NULL, power_w REAL, reason TEXT NOT NULL, why TEXT NOT "
        "NULL, received_utc_ms INTEGER NOT NULL);"
        "CREATE TABLE forecasts (id INTEGER PRIMARY KEY, site TEXT NOT NULL, issued_utc_ms INTEGER"
        " NOT NULL, slot_utc_ms INTEGER NOT NULL, power_w REAL NOT NULL);"
        "CREATE INDEX forecasts_site_issued ON forecasts (site, issued_utc_ms);"
        "CREATE TABLE plans (id INTEGER PRIMARY KEY, created_utc_ms INTEGER NOT NULL, policy TEXT "
        "NOT NULL, mode TEXT NOT NULL, status TEXT NOT NULL, body TEXT NOT NULL);"
        "CREATE TABLE moves (id INTEGER PRIMARY KEY, plan_id INTEGER REFERENCES plans (id), vm "
        "TEXT NOT NULL, from_site TEXT NOT NULL, to_site TEXT NOT NULL, reason TEXT NOT NULL, "
        "state TEXT NOT NULL, requested_utc_ms INTEGER NOT NULL, started_utc_ms INTEGER, "
        "finished_utc_ms INTEGER, downtime_ms REAL, result TEXT);"
        "CREATE TABLE events (id INTEGER PRIMARY KEY, time_utc_ms INTEGER NOT NULL, kind TEXT NOT "
        "NULL, message TEXT NOT NULL);"
        "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE INDEX moves_state ON moves (state); CREATE INDEX moves_plan ON moves (plan_id);"
        "INSERT INTO readings VALUES (1, 'a', 'pv', 1000, 500, 1), (2, 'a', 'pv', 1000, 500, 2),"
        " (3, 'a', 'pv', 2000, 600, 3);"
        "PRAGMA user_version = 2;";
    ASSERT_EQ(sqlite3_exec(db, v2, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  auto store = Store::Open(path_);
  ASSERT_TRUE(store.ok()) << store.error();
  EXPECT_EQ((*store)->SchemaVersion().value(), 3);
  EXPECT_EQ((*store)->CountReadings().value(), 2);
}

TEST_F(StoreV3Test, APlanChangesStatusOnlyFromTheOneItIsIn) {
  auto store = Store::Open(path_);
  ASSERT_TRUE(store.ok());
  const int64_t id = (*store)->AddPlan({0, 1, "greedy", "approve", "pending", "{}"}).value();
  EXPECT_TRUE((*store)->SetPlanStatus(id, "pending", "approved").ok());
  Status again = (*store)->SetPlanStatus(id, "pending", "rejected");
  EXPECT_TRUE(again.IsConflict()) << again.message();
  EXPECT_NE(again.message().find("is approved, not pending"), std::string::npos);
  EXPECT_TRUE((*store)->SetPlanStatus(id + 7, "pending", "approved").IsNotFound());
  EXPECT_EQ((*store)->GetPlan(id).value().status, "approved");
  EXPECT_TRUE((*store)->GetPlan(id + 7).status().IsNotFound());
}

TEST_F(StoreV3Test, OldRowsArePrunedPlansAndMovesKept) {
  auto store = Store::Open(path_);
  ASSERT_TRUE(store.ok());
  std::vector<StoredReading> readings;
  for (int64_t t = 0; t < 12000; ++t) readings.push_back({0, "a", "pv", t, 1, t});
  ASSERT_TRUE((*store)->AddReadings(readings).ok());
  ASSERT_TRUE((*store)->AddForecast("a", 10, {{100, 5}, {200, 6}}).ok());
  ASSERT_TRUE((*store)->AddForecast("a", 20000, {{20100, 5}}).ok());
  ASSERT_TRUE((*store)->AddEvent(10, "old", "long ago").ok());
  ASSERT_TRUE((*store)->AddEvent(20000, "new", "just now").ok());
  ASSERT_TRUE((*store)->AddRejected({"a", "pv", 5, 1, "negative", "why", 5}).ok());
  const int64_t plan = (*store)->AddPlan({0, 1, "greedy", "auto", "executed", "{}"}).value();
  MoveRecord move{0, plan, "web", "a", "b", "why", "completed", 1, 2, 3, 4.0, "{}"};
  ASSERT_TRUE((*store)->AddMove(move).ok());
  Result<int64_t> removed = (*store)->Prune(10000, 1000000);
  ASSERT_TRUE(removed.ok()) << removed.error();
  EXPECT_EQ(*removed, 10000 + 2 + 1 + 1);  // readings, forecast points, event, rejection
  EXPECT_EQ((*store)->CountReadings().value(), 2000);
  EXPECT_EQ((*store)->CountRejected().value(), 0);
  EXPECT_EQ((*store)->Events(10).value().size(), 1u);
  EXPECT_EQ((*store)->Plans(10).value().size(), 1u);  // the audit trail stays
  EXPECT_EQ((*store)->Moves(10).value().size(), 1u);
  // Bounded: at most `max_rows` a call.
  EXPECT_EQ((*store)->Prune(11000, 300).value(), 300);
}

TEST_F(StoreV3Test, OneStoreHasOneService) {
  auto first = Store::Open(path_, true);
  ASSERT_TRUE(first.ok()) << first.error();
  auto second = Store::Open(path_, true);
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(second.status().IsConflict());
  EXPECT_NE(second.error().find("another greenshift serve?"), std::string::npos) << second.error();
  first->reset();
  EXPECT_TRUE(Store::Open(path_, true).ok());  // released with the first
}

TEST_F(StoreV3Test, ADeletedDatabaseIsNoticed) {
  auto store = Store::Open(path_);
  ASSERT_TRUE(store.ok());
  EXPECT_TRUE((*store)->Check().ok());
  std::filesystem::remove(path_);
  Status checked = (*store)->Check();
  EXPECT_TRUE(checked.IsUnavailable());
  EXPECT_NE(checked.message().find("deleted or replaced"), std::string::npos) << checked.message();
}

}  // namespace
}  // namespace greenshift::store
