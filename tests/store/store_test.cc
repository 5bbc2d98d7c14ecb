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
