// The neutral helpers every driver shares: what greenshift's tuning asks of a delta encoder,
// how a migration's own share of its counters is found, and when pre-copy is stuck.
#include "hypervisor/driver.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

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

}  // namespace
}  // namespace greenshift::hypervisor
