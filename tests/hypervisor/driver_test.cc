// The neutral helpers every driver shares: what greenshift's tuning asks of a delta encoder,
// and how a migration's own share of its counters is found.
#include "hypervisor/driver.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
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

}  // namespace
}  // namespace greenshift::hypervisor
