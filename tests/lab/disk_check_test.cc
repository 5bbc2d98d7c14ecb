// The disk verifier against images built in memory: every way a record can be lost or torn is
// found, and nothing that is whole is called lost.
#include "lab/disk_check.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "lab/guest/disk_record.h"

namespace greenshift::lab {
namespace {

// A disk of `slots` slots in memory, written the way the guest writes it.
struct FakeDisk {
  explicit FakeDisk(uint64_t slots) : bytes(slots * disk::kRecordBytes, 0), slot_count(slots) {}
  void Write(uint64_t run, uint64_t seq) {
    disk::Fill(&bytes[((seq - 1) % slot_count) * disk::kRecordBytes], run, seq);
  }
  uint8_t* Slot(uint64_t seq) { return &bytes[((seq - 1) % slot_count) * disk::kRecordBytes]; }
  DiskReport Check(uint64_t acked, uint64_t run = 0) {
    Result<DiskReport> report =
        CheckDiskRecords(slot_count, acked, run, [&](uint64_t slot, uint8_t* buffer) {
          std::memcpy(buffer, &bytes[slot * disk::kRecordBytes], disk::kRecordBytes);
          return Status::Ok();
        });
    EXPECT_TRUE(report.ok()) << report.error();
    return *report;
  }
  std::vector<uint8_t> bytes;
  uint64_t slot_count;
};

TEST(DiskCheckTest, EveryAcknowledgedRecordWholeIsClean) {
  FakeDisk d(64);
  for (uint64_t seq = 1; seq <= 40; ++seq) d.Write(7, seq);
  DiskReport r = d.Check(38);  // two more were written after the last acknowledgement seen
  EXPECT_TRUE(r.Clean());
  EXPECT_EQ(r.checked, 38u);
  EXPECT_EQ(r.present, 38u);
  EXPECT_EQ(r.highest, 40u);
  EXPECT_EQ(r.run, 7u);
}

TEST(DiskCheckTest, ARecordNeverWrittenIsMissing) {
  FakeDisk d(64);
  for (uint64_t seq = 1; seq <= 30; ++seq) {
    if (seq != 17) d.Write(7, seq);
  }
  DiskReport r = d.Check(30);
  EXPECT_FALSE(r.Clean());
  EXPECT_EQ(r.missing, 1u);
  ASSERT_EQ(r.missing_examples.size(), 1u);
  EXPECT_EQ(r.missing_examples[0], 17u);
}

TEST(DiskCheckTest, AcknowledgedRecordsPastTheDiskEndAreMissing) {
  FakeDisk d(64);
  for (uint64_t seq = 1; seq <= 20; ++seq) d.Write(7, seq);
  DiskReport r = d.Check(25);  // the guest said 25 were on the disk: 21..25 are lost
  EXPECT_EQ(r.missing, 5u);
  EXPECT_EQ(r.present, 20u);
}

TEST(DiskCheckTest, AHalfWrittenRecordIsTorn) {
  FakeDisk d(64);
  for (uint64_t seq = 1; seq <= 30; ++seq) d.Write(7, seq);
  // Record 12's second half never reached the disk: it holds zeros.
  std::memset(d.Slot(12) + disk::kRecordBytes / 2, 0, disk::kRecordBytes / 2);
  // One flipped byte in record 20's payload.
  d.Slot(20)[1000] ^= 0x40;
  DiskReport r = d.Check(30);
  EXPECT_EQ(r.torn, 2u);
  EXPECT_EQ(r.missing, 0u);
  EXPECT_EQ(r.torn_examples, (std::vector<uint64_t>{12, 20}));
}

TEST(DiskCheckTest, ATornRecordPastTheAcknowledgedOneIsOnlyInFlight) {
  FakeDisk d(64);
  for (uint64_t seq = 1; seq <= 31; ++seq) d.Write(7, seq);
  std::memset(d.Slot(31) + 4096, 0, disk::kRecordBytes - 4096);
  DiskReport r = d.Check(30);
  EXPECT_TRUE(r.Clean());
  EXPECT_EQ(r.in_flight_torn, 1u);
}

TEST(DiskCheckTest, AnOlderRecordLeftInTheSlotIsMissingNotPresent) {
  // The ring wrapped: slot of 70 holds 6 (the write of 70 was lost), and 70 was acknowledged.
  FakeDisk d(64);
  for (uint64_t seq = 1; seq <= 80; ++seq) {
    if (seq != 70) d.Write(7, seq);
  }
  DiskReport r = d.Check(80);
  EXPECT_EQ(r.checked, 64u);  // the ring keeps only the last 64
  EXPECT_EQ(r.missing, 1u);
  EXPECT_EQ(r.missing_examples[0], 70u);
}

TEST(DiskCheckTest, RecordsOfAnEarlierBootDoNotCount) {
  FakeDisk d(64);
  for (uint64_t seq = 1; seq <= 50; ++seq) d.Write(1, seq);  // an earlier boot's run
  for (uint64_t seq = 1; seq <= 10; ++seq) d.Write(2, seq);  // the current run, newest record 10
  // Told the run (the guest's status line shows it), the checker counts only its records:
  // run 1's 11..50 do not stand in for run 2's.
  DiskReport r = d.Check(12, 2);
  EXPECT_EQ(r.run, 2u);
  EXPECT_EQ(r.present, 10u);
  EXPECT_EQ(r.missing, 2u);
  // Not told, it checks the run of the newest record.
  EXPECT_EQ(d.Check(10).run, 1u);
}

TEST(DiskCheckTest, AHeaderClaimingAnotherSlotIsNotTheRecord) {
  FakeDisk d(64);
  for (uint64_t seq = 1; seq <= 10; ++seq) d.Write(7, seq);
  // Slot of record 5 holds a copy of record 9 (a misdirected write).
  std::memcpy(d.Slot(5), d.Slot(9), disk::kRecordBytes);
  DiskReport r = d.Check(10);
  EXPECT_EQ(r.missing, 1u);
  EXPECT_EQ(r.missing_examples[0], 5u);
}

TEST(DiskCheckTest, AnEmptyDiskWithNothingAcknowledgedIsClean) {
  FakeDisk d(8);
  DiskReport r = d.Check(0);
  EXPECT_TRUE(r.Clean());
  EXPECT_EQ(r.checked, 0u);
  EXPECT_EQ(r.highest, 0u);
}

TEST(DiskCheckTest, ADiskSmallerThanARecordIsAnError) {
  Result<DiskReport> r = CheckDiskRecords(0, 0, 0, [](uint64_t, uint8_t*) { return Status::Ok(); });
  EXPECT_FALSE(r.ok());
}

TEST(DiskCheckTest, AReadErrorIsReported) {
  Result<DiskReport> r = CheckDiskRecords(4, 1, 0, [](uint64_t slot, uint8_t*) {
    return slot == 2 ? Status::Error("EIO at slot 2") : Status::Ok();
  });
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("EIO"), std::string::npos);
}

}  // namespace
}  // namespace greenshift::lab
