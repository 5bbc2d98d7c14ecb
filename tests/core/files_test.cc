#include "core/files.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

namespace greenshift {
namespace {

using std::chrono::milliseconds;

// Waits (2 s at most) until `done` holds; whether it did.
template <typename F>
bool Within2s(F done) {
  for (int i = 0; i < 200; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return done();
}

class BackgroundFsyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/gs_files_test.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/image";
    std::ofstream(path_) << "written by another process";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_, path_;
};

TEST_F(BackgroundFsyncTest, SyncsTheFileEveryPeriodUntilStopped) {
  Result<std::unique_ptr<BackgroundFsync>> flusher = BackgroundFsync::Start(path_, milliseconds(5));
  ASSERT_TRUE(flusher.ok()) << flusher.error();
  BackgroundFsync& f = **flusher;
  EXPECT_TRUE(Within2s([&] { return f.syncs() >= 3; })) << f.syncs() << " syncs in 2 s";
  EXPECT_EQ(f.error(), "");
  f.Stop();
  // An fsync under way when Stop() came may still return; none starts after it.
  std::this_thread::sleep_for(milliseconds(100));
  const int64_t after_stop = f.syncs();
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(f.syncs(), after_stop);
}

TEST_F(BackgroundFsyncTest, TheFirstSyncIsAtOnceNotAfterAPeriod) {
  // A period far longer than the test: only the first fsync can be seen.
  Result<std::unique_ptr<BackgroundFsync>> flusher =
      BackgroundFsync::Start(path_, milliseconds(60'000));
  ASSERT_TRUE(flusher.ok()) << flusher.error();
  EXPECT_TRUE(Within2s([&] { return (*flusher)->syncs() == 1; }));
  // Destroyed here while it waits out its period: the destructor must not wait a minute.
  const auto before = std::chrono::steady_clock::now();
  flusher->reset();
  EXPECT_LT(std::chrono::steady_clock::now() - before, milliseconds(1000));
}

TEST_F(BackgroundFsyncTest, AMissingFileIsRefusedByName) {
  Result<std::unique_ptr<BackgroundFsync>> flusher =
      BackgroundFsync::Start(dir_ + "/no-such-image", milliseconds(5));
  ASSERT_FALSE(flusher.ok());
  EXPECT_NE(flusher.error().find(dir_ + "/no-such-image"), std::string::npos) << flusher.error();
}

TEST_F(BackgroundFsyncTest, AFailedSyncIsReportedAndEndsTheSyncing) {
  // fsync(2) on /dev/null fails (EINVAL): the first sync fails, and no other is tried.
  Result<std::unique_ptr<BackgroundFsync>> flusher =
      BackgroundFsync::Start("/dev/null", milliseconds(5));
  ASSERT_TRUE(flusher.ok()) << flusher.error();
  BackgroundFsync& f = **flusher;
  ASSERT_TRUE(Within2s([&] { return !f.error().empty(); }));
  EXPECT_NE(f.error().find("cannot sync /dev/null"), std::string::npos) << f.error();
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(f.syncs(), 1);
}

TEST_F(BackgroundFsyncTest, AFileRemovedWhileSyncedIsStillSyncedSafely) {
  // A rolled-back migration removes the destination's image while its flusher runs.
  Result<std::unique_ptr<BackgroundFsync>> flusher = BackgroundFsync::Start(path_, milliseconds(5));
  ASSERT_TRUE(flusher.ok()) << flusher.error();
  ASSERT_EQ(unlink(path_.c_str()), 0);
  const int64_t before = (*flusher)->syncs();
  EXPECT_TRUE(Within2s([&] { return (*flusher)->syncs() >= before + 2; }));
  EXPECT_EQ((*flusher)->error(), "");
}

}  // namespace
}  // namespace greenshift
