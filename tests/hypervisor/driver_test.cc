// The neutral helpers every driver shares: what greenshift's tuning asks of a delta encoder,
// how a migration's own share of its counters is found, when pre-copy is stuck, and how fast a
// copy went.
#include "hypervisor/driver.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace greenshift::hypervisor {
namespace {

// Every guest size a driver moves (64 MiB to 64 GiB): a size QEMU takes (a power of two, at
// least a page), within QEMU's default and a quarter of the guest, and the largest such.
TEST(DeltaCacheTest, APowerOfTwoWithinAQuarterOfTheGuestAndQemusDefault) {
  EXPECT_EQ(DeltaCacheBytes(256), int64_t{64} << 20);
  EXPECT_EQ(DeltaCacheBytes(200), int64_t{32} << 20);  // 50 MiB is not a power of two
  EXPECT_EQ(DeltaCacheBytes(64), int64_t{16} << 20);
  for (int memory_mib = 64; memory_mib <= 65536; ++memory_mib) {
    const int64_t bytes = DeltaCacheBytes(memory_mib);
    const int64_t most = std::min<int64_t>(int64_t{64} << 20, (int64_t{memory_mib} << 20) / 4);
    ASSERT_GE(bytes, 4096) << memory_mib;
    ASSERT_EQ(bytes & (bytes - 1), 0) << memory_mib;
    ASSERT_LE(bytes, most) << memory_mib;
    ASSERT_GT(bytes * 2, most) << memory_mib;
  }
}

// A lab source QEMU's XBZRLE counters (libvirt reports the same as compression job stats),
// read when a migration's third pass began and at its end: what went in between.
TEST(ResentBetweenTest, CountsWhatWentBetweenTwoReadings) {
  const DeltaCounters third_pass{/*encoded_pages=*/942955, /*encoded_bytes=*/20108948,
                                 /*cache_misses=*/691591, /*overflows=*/0};
  const DeltaCounters end{1175169, 25048628, 855817, 12};
  const auto [pages, wire] = ResentBetween(third_pass, end, 4096);
  // 232,214 pages encoded in 4,939,680 bytes; 164,226 missed and 12 overflowed: sent whole.
  EXPECT_EQ(pages, (int64_t{232214} + 164226 + 12) * 4096);
  EXPECT_EQ(wire, int64_t{4939680} + (int64_t{164226} + 12) * 4096);
  // Nothing happened between two equal readings; larger pages count as such.
  EXPECT_EQ(ResentBetween(end, end, 4096), std::make_pair(int64_t{0}, int64_t{0}));
  EXPECT_EQ(ResentBetween({}, {10, 100, 1, 0}, 65536).first, 11 * 65536);
}

TEST(ResentBetweenTest, ResetOrBrokenCountersAreNeverNegative) {
  // A hypervisor that reset its counters between the readings: what it counts now is all new.
  const auto [pages, wire] = ResentBetween({100, 5000, 7, 3}, {10, 300, 0, 1}, 4096);
  EXPECT_EQ(pages, (10 + 0 + 1) * 4096);
  EXPECT_EQ(wire, 300 + 1 * 4096);
  // Negative readings (a broken report) count as nothing.
  const auto [bad_pages, bad_wire] = ResentBetween({}, {-5, -100, -1, -1}, 4096);
  EXPECT_EQ(bad_pages, 0);
  EXPECT_EQ(bad_wire, 0);
}

// The lab's hot guest over 100 Mbit/s (tests/integration/postcopy.sh): pass 2 began with 96 MiB
// to send, pass 3 with as much: stuck, and the reason names both.
TEST(PrecopyStuckTest, APassThatBeganWithNearlyAsMuchAsTheOneBefore) {
  const int64_t mib = int64_t{1} << 20;
  const std::optional<std::string> why = PrecopyStuck(3, 96 * mib, 96 * mib + mib / 2);
  ASSERT_TRUE(why.has_value());
  EXPECT_EQ(*why,
            "pass 3 began with 96.0 MiB to send, the pass before with 96.5 MiB: pre-copy was "
            "not converging");
  // A hot set below a MiB still reads as what it is.
  EXPECT_NE(PrecopyStuck(4, mib / 2, mib / 2)->find("began with 0.5 MiB"), std::string::npos);
}

// The rule's edges: more than 80 % (not 80 % itself), from the third pass on (the first is the
// bulk copy, the second shows what the guest rewrites), never on an unknown pass before.
TEST(PrecopyStuckTest, ConvergingEarlyOrUnknownIsNotStuck) {
  EXPECT_FALSE(PrecopyStuck(3, 80, 100));  // exactly 80 %: converging, slowly
  EXPECT_TRUE(PrecopyStuck(3, 81, 100));
  EXPECT_TRUE(PrecopyStuck(7, 150, 100));   // growing: the guest outruns the link
  EXPECT_FALSE(PrecopyStuck(2, 100, 100));  // the second pass: too early to tell
  EXPECT_FALSE(PrecopyStuck(1, 100, 100));
  EXPECT_FALSE(PrecopyStuck(3, 100, -1));  // the pass before was not seen
  EXPECT_FALSE(PrecopyStuck(3, 100, 0));
  EXPECT_FALSE(PrecopyStuck(3, 0, 100));  // nothing left: it converged
  // No overflow for the largest guests: 4 TiB left of 4 TiB.
  EXPECT_TRUE(PrecopyStuck(3, int64_t{4} << 40, int64_t{4} << 40));
}

// A QEMU mirror over a 100 Mbit/s link: its progress moves a whole 1 MiB request at a time,
// one every 83.9 ms at 12.5 MB/s, and the driver reads it every 100-120 ms (its loop polls
// every 20 ms). Over spans of a second the rate is the link's; the median over each reading's
// own span reads about one request per reading (10.5 MB/s here, 9.0 measured in the lab).
TEST(MedianCopyRateTest, ARequestAtATimeReadsAsTheLinksRateOverSeconds) {
  constexpr double kLinkBytesS = 12.5e6;
  constexpr int64_t kRequest = int64_t{1} << 20;
  std::vector<CopyReading> readings;
  double at_ms = 0;
  for (int i = 0; at_ms < 40000; ++i) {
    const int64_t requests = static_cast<int64_t>(at_ms / 1000 * kLinkBytesS / kRequest);
    readings.push_back({at_ms, requests * kRequest});
    at_ms += 100 + 10 * (i * 7 % 3);  // 100, 110 or 120 ms
  }
  EXPECT_NEAR(MedianCopyRate(readings, 1000, 5), kLinkBytesS, 0.03 * kLinkBytesS);
  EXPECT_LT(MedianCopyRate(readings, 50, 5), 0.9 * kLinkBytesS);
}

// 256 MiB of data at 10 MB/s, then the rest of a 1 GiB disk, all zeros, skipped within one
// reading, and a link cut for 3 s: the rate is the data's.
TEST(MedianCopyRateTest, ZerosSkippedAtOnceAndAStallAreOutliers) {
  std::vector<CopyReading> readings;
  int64_t done = 0;
  for (int i = 0; i <= 300; ++i) {
    const double at_ms = 100.0 * i;
    if (i == 150) done += int64_t{768} << 20;    // the zeros
    if (i < 200 || i >= 230) done += 1'000'000;  // 10 MB/s, but for 3 s
    readings.push_back({at_ms, done});
  }
  EXPECT_NEAR(MedianCopyRate(readings, 1000, 5), 10e6, 1);
}

TEST(MedianCopyRateTest, TooShortACopyTellsNothing) {
  EXPECT_EQ(MedianCopyRate({}, 1000, 5), 0);
  EXPECT_EQ(MedianCopyRate({{0, 0}}, 1000, 1), 0);
  // 4.5 s of readings: four whole spans of a second, fewer than five.
  std::vector<CopyReading> readings;
  for (int i = 0; i <= 45; ++i) readings.push_back({100.0 * i, int64_t{1'000'000} * i});
  EXPECT_EQ(MedianCopyRate(readings, 1000, 5), 0);
  EXPECT_NEAR(MedianCopyRate(readings, 1000, 4), 10e6, 1);
}

// Spans of 1, 2, 3 and 4 MB a second: the middle two's mean. A count that went down (a
// reading from a restarted job) is no progress, never a negative rate.
TEST(MedianCopyRateTest, AnEvenCountTakesTheMiddleTwosMeanAndNothingIsNegative) {
  const std::vector<CopyReading> readings = {
      {0, 0}, {1000, 1'000'000}, {2000, 3'000'000}, {3000, 6'000'000}, {4000, 10'000'000}};
  EXPECT_NEAR(MedianCopyRate(readings, 1000, 4), 2.5e6, 1);
  const std::vector<CopyReading> fell = {{0, 5'000'000}, {1000, 1'000'000}, {2000, 1'000'000}};
  EXPECT_EQ(MedianCopyRate(fell, 1000, 2), 0);
  // Readings closer than the span are joined: two spans of 1.5 s here.
  const std::vector<CopyReading> close = {
      {0, 0}, {500, 500'000}, {1500, 1'500'000}, {2000, 2'000'000}, {3000, 3'000'000}};
  EXPECT_NEAR(MedianCopyRate(close, 1000, 2), 1e6, 1);
}

}  // namespace
}  // namespace greenshift::hypervisor
