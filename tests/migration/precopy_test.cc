#include "migration/precopy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace greenshift::migration {
namespace {

constexpr int64_t kMiB = 1024 * 1024;

PrecopyInput Base() {
  PrecopyInput in;
  in.memory_bytes = 1024 * kMiB;
  in.bandwidth_bytes_s = 100.0 * kMiB;  // 1 GiB takes 10.24 s
  in.downtime_limit_s = 0.3;
  in.device_state_bytes = 0;
  return in;
}

TEST(PrecopyTest, AnIdleGuestNeedsOneRound) {
  PrecopyInput in = Base();
  in.device_state_bytes = kMiB;
  Result<PrecopyPrediction> p = PredictPrecopy(in);
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_TRUE(p->converges);
  EXPECT_EQ(p->rounds, 1);
  EXPECT_EQ(p->bytes_sent, 1025 * kMiB);
  EXPECT_NEAR(p->downtime_s, 0.01, 1e-9);
  EXPECT_NEAR(p->total_s, 10.25, 1e-9);
}

TEST(PrecopyTest, RoundsShrinkGeometricallyWithTheDirtyToBandwidthRatio) {
  PrecopyInput in = Base();
  in.dirty_rate_bytes_s = 50.0 * kMiB;  // ratio 0.5
  Result<PrecopyPrediction> p = PredictPrecopy(in);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p->converges);
  // Round i sends 1024 MiB * 0.5^(i-1); stop once the rest (0.5^i GiB) copies within 300 ms,
  // i.e. is at most 30 MiB: 0.5^i * 1024 <= 30 -> i = 6 (16 MiB left).
  EXPECT_EQ(p->rounds, 6);
  for (size_t i = 1; i < p->schedule.size(); ++i) {
    EXPECT_EQ(p->schedule[i].bytes, p->schedule[i - 1].bytes / 2);
  }
  EXPECT_NEAR(p->downtime_s, 16.0 / 100.0, 1e-6);
  EXPECT_EQ(p->bytes_sent, (1024 + 512 + 256 + 128 + 64 + 32 + 16) * kMiB);
}

TEST(PrecopyTest, AGuestDirtyingFasterThanTheLinkNeverConverges) {
  PrecopyInput in = Base();
  in.dirty_rate_bytes_s = 150.0 * kMiB;
  Result<PrecopyPrediction> p = PredictPrecopy(in);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->converges);
  EXPECT_EQ(p->rounds, in.max_rounds);
  EXPECT_NE(p->reason.find("does not converge"), std::string::npos);
}

TEST(PrecopyTest, AStuckGuestMovesByPostcopyAfterTwoRounds) {
  // The lab's hot guest, scaled: 1 GiB rewriting a 256 MiB working set faster than the link.
  PrecopyInput in = Base();
  in.dirty_rate_bytes_s = 150.0 * kMiB;
  in.working_set_bytes = 256 * kMiB;
  in.device_state_bytes = kMiB;
  ASSERT_FALSE(PredictPrecopy(in)->converges);
  Result<PrecopyPrediction> p = PredictPostcopy(in);
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_TRUE(p->converges);
  EXPECT_TRUE(p->postcopy);
  ASSERT_EQ(p->schedule.size(), 2u);  // the bulk round and one more, then the switch
  EXPECT_EQ(p->schedule[0].bytes, 1024 * kMiB);
  EXPECT_EQ(p->schedule[1].bytes, 256 * kMiB);
  // Paused for the device state only; the 256 MiB it rewrote then follow once, at 100 MiB/s.
  EXPECT_NEAR(p->downtime_s, 0.01, 1e-9);
  EXPECT_NEAR(p->postcopy_blocktime_s, 2.56, 1e-9);
  EXPECT_NEAR(p->total_s, 10.24 + 2.56 + 0.01 + 2.56, 1e-9);
  EXPECT_EQ(p->bytes_sent, (1024 + 256 + 256 + 1) * kMiB);
  // A guest that converges by pre-copy never switches: the same prediction.
  PrecopyInput calm = Base();
  calm.dirty_rate_bytes_s = 1.0 * kMiB;
  Result<PrecopyPrediction> pre = PredictPrecopy(calm), post = PredictPostcopy(calm);
  EXPECT_FALSE(post->postcopy);
  EXPECT_EQ(post->rounds, pre->rounds);
  EXPECT_DOUBLE_EQ(post->total_s, pre->total_s);
}

TEST(PrecopyTest, AStuckGuestWithADiskCopiedAlongSwitchesOnceTheDiskCaughtUp) {
  // The same hot guest with 1 GiB of disk data, writing 10 MiB/s: the disk first (at what the
  // writes leave of the link, 90 MiB/s), then two memory rounds beside the mirrored writes, then
  // the switch, which ends the mirror; the rest follows at the whole link's rate.
  PrecopyInput in = Base();
  in.dirty_rate_bytes_s = 150.0 * kMiB;
  in.working_set_bytes = 256 * kMiB;
  in.device_state_bytes = kMiB;
  in.disk_bytes = 1024 * kMiB;
  in.disk_write_rate_bytes_s = 10.0 * kMiB;
  Result<PrecopyPrediction> p = PredictPostcopy(in);
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_TRUE(p->converges);
  EXPECT_TRUE(p->postcopy);
  ASSERT_EQ(p->schedule.size(), 2u);
  const double disk_s = 1024.0 / 90, memory_s = (1024.0 + 256) / 90;
  EXPECT_NEAR(p->disk_s, disk_s, 1e-9);
  EXPECT_NEAR(p->downtime_s, 0.01, 1e-9);
  EXPECT_NEAR(p->postcopy_blocktime_s, 2.56, 1e-9);
  EXPECT_NEAR(p->total_s, disk_s + memory_s + 0.01 + 2.56, 1e-9);
  // The disk, the writes during its copy and those mirrored during the memory rounds; none after.
  const double disk_mib = 1024 + 10 * (disk_s + memory_s);
  EXPECT_NEAR(static_cast<double>(p->disk_bytes_sent) / kMiB, disk_mib, 1e-5);
  EXPECT_NEAR(static_cast<double>(p->bytes_sent) / kMiB, 1024 + 256 + 256 + 1 + disk_mib, 1e-5);
  // Writes as fast as the link: the disk never catches up, and no switch mends that.
  in.disk_write_rate_bytes_s = 100.0 * kMiB;
  p = PredictPostcopy(in);
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_FALSE(p->converges);
  EXPECT_FALSE(p->postcopy);
}

TEST(PrecopyTest, AutoConvergeThrottlesTheGuestUntilItConverges) {
  PrecopyInput in = Base();
  in.dirty_rate_bytes_s = 150.0 * kMiB;
  in.auto_converge = true;
  in.max_rounds = 200;
  Result<PrecopyPrediction> p = PredictPrecopy(in);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->converges) << p->reason;
  EXPECT_GT(p->final_throttle, 0.3);  // 150 MiB/s must drop below 100 MiB/s and well beyond
  EXPECT_LE(p->final_throttle, 0.99);
  for (size_t i = 1; i < p->schedule.size(); ++i) {
    EXPECT_GE(p->schedule[i].throttle, p->schedule[i - 1].throttle);  // never relaxes
  }
}

TEST(PrecopyTest, ASmallWorkingSetConvergesWhateverTheRate) {
  PrecopyInput in = Base();
  in.dirty_rate_bytes_s = 10000.0 * kMiB;  // rewrites its working set all the time
  in.working_set_bytes = 20 * kMiB;        // but only 20 MiB of it: 200 ms to copy
  Result<PrecopyPrediction> p = PredictPrecopy(in);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->converges);
  EXPECT_EQ(p->rounds, 1);
  EXPECT_NEAR(p->downtime_s, 0.2, 1e-6);
  in.working_set_bytes = 40 * kMiB;  // 400 ms: above the limit in every round
  p = PredictPrecopy(in);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->converges);
}

TEST(PrecopyTest, ZeroPagesAreNotSentAsData) {
  PrecopyInput in = Base();
  in.nonzero_bytes = 100 * kMiB;
  Result<PrecopyPrediction> p = PredictPrecopy(in);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->bytes_sent, 100 * kMiB);
  EXPECT_NEAR(p->total_s, 1.0, 1e-9);
}

// Downtime is not monotonic in bandwidth (QEMU stops at the first round whose rest fits the
// limit, anywhere below it), but it never exceeds the limit, and the total time only shrinks.
TEST(PrecopyTest, MoreBandwidthNeverTakesLongerAndDowntimeStaysWithinTheLimit) {
  PrecopyInput in = Base();
  in.dirty_rate_bytes_s = 40.0 * kMiB;
  double last_total = INFINITY;
  for (double mib_s : {60.0, 100.0, 200.0, 400.0, 1000.0}) {
    in.bandwidth_bytes_s = mib_s * kMiB;
    Result<PrecopyPrediction> p = PredictPrecopy(in);
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE(p->converges) << mib_s;
    EXPECT_LT(p->total_s, last_total) << mib_s;
    EXPECT_LE(p->downtime_s, in.downtime_limit_s) << mib_s;
    last_total = p->total_s;
  }
}

TEST(PrecopyTest, StopAndCopyPausesForTheWholeCopy) {
  PrecopyInput in = Base();
  in.dirty_rate_bytes_s = 20.0 * kMiB;
  Result<PrecopyPrediction> live = PredictPrecopy(in);
  Result<PrecopyPrediction> offline = PredictStopAndCopy(in);
  ASSERT_TRUE(live.ok());
  ASSERT_TRUE(offline.ok());
  EXPECT_NEAR(offline->downtime_s, 10.24, 1e-9);
  EXPECT_EQ(offline->bytes_sent, 1024 * kMiB);
  EXPECT_GT(offline->downtime_s, 10 * live->downtime_s);
  EXPECT_LT(offline->total_s, live->total_s);  // but it sends everything only once
}

TEST(PrecopyTest, BadInputNamesTheField) {
  PrecopyInput in = Base();
  in.bandwidth_bytes_s = 0;
  EXPECT_NE(PredictPrecopy(in).error().find("bandwidth_bytes_s"), std::string::npos);
  in = Base();
  in.memory_bytes = -1;
  EXPECT_NE(PredictPrecopy(in).error().find("memory_bytes"), std::string::npos);
  in = Base();
  in.dirty_rate_bytes_s = NAN;
  EXPECT_NE(PredictPrecopy(in).error().find("dirty_rate_bytes_s"), std::string::npos);
  in = Base();
  in.nonzero_bytes = in.memory_bytes + 1;
  EXPECT_NE(PredictStopAndCopy(in).error().find("nonzero_bytes"), std::string::npos);
  in = Base();
  in.downtime_limit_s = 0;
  EXPECT_NE(PredictPrecopy(in).error().find("downtime_limit_s"), std::string::npos);
  in = Base();
  in.disk_bytes = -1;
  EXPECT_NE(PredictPrecopy(in).error().find("disk_bytes"), std::string::npos);
  in = Base();
  in.disk_write_rate_bytes_s = INFINITY;
  EXPECT_NE(PredictPrecopy(in).error().find("disk_write_rate_bytes_s"), std::string::npos);
  for (double fraction : {0.0, -0.5, 1.5, double{NAN}, double{INFINITY}}) {
    in = Base();
    in.resent_wire_fraction = fraction;
    EXPECT_NE(PredictPrecopy(in).error().find("resent_wire_fraction"), std::string::npos)
        << fraction;
  }
}

TEST(PrecopyTest, PagesSentAgainCrossTheWireAsTheirEncoding) {
  PrecopyInput in = Base();
  in.dirty_rate_bytes_s = 50.0 * kMiB;
  in.resent_wire_fraction = 0.25;  // from the third round a page takes a quarter of a page
  Result<PrecopyPrediction> p = PredictPrecopy(in);
  ASSERT_TRUE(p.ok()) << p.error();
  ASSERT_TRUE(p->converges);
  // Round 1 sends 1 GiB whole (10.24 s; 512 MiB dirtied); round 2 the 512 MiB whole too, as
  // they fill the encoder's cache (5.12 s; 256 MiB dirtied); round 3 the 256 as 64 on the wire
  // (0.64 s; 32 MiB dirtied: 320 ms of pages, over the 300); round 4 the 32 as 8 (0.08 s; 4 MiB
  // dirtied), and 4 MiB of pages copy within the 300 ms: stop, sending them as 1 MiB.
  ASSERT_EQ(p->rounds, 4);
  EXPECT_EQ(p->schedule[0].bytes, 1024 * kMiB);
  EXPECT_EQ(p->schedule[0].page_bytes, 1024 * kMiB);
  EXPECT_EQ(p->schedule[1].bytes, 512 * kMiB);
  EXPECT_EQ(p->schedule[2].page_bytes, 256 * kMiB);
  EXPECT_EQ(p->schedule[2].bytes, 64 * kMiB);
  EXPECT_EQ(p->schedule[3].bytes, 8 * kMiB);
  EXPECT_EQ(p->bytes_sent, (1024 + 512 + 64 + 8 + 1) * kMiB);
  EXPECT_NEAR(p->downtime_s, 0.01, 1e-9);
  EXPECT_NEAR(p->total_s, 10.24 + 5.12 + 0.64 + 0.08 + 0.01, 1e-9);
  EXPECT_NE(p->reason.find("on the wire"), std::string::npos) << p->reason;
  // Sent whole, the same guest takes six rounds and 2032 MiB.
  in.resent_wire_fraction = 1;
  EXPECT_EQ(PredictPrecopy(in)->bytes_sent, 2032 * kMiB);
}

// QEMU stops the guest when the pages left, as pages, would copy within the limit at the rate
// the wire achieves: encoding shortens the rounds, not that bar.
TEST(PrecopyTest, TheStopIsDecidedOnThePagesLeftNotOnTheirEncoding) {
  PrecopyInput in = Base();
  in.dirty_rate_bytes_s = 150.0 * kMiB;  // faster than the link: whole pages never converge
  ASSERT_FALSE(PredictPrecopy(in)->converges);
  in.resent_wire_fraction = 0.1;
  Result<PrecopyPrediction> p = PredictPrecopy(in);
  ASSERT_TRUE(p.ok()) << p.error();
  ASSERT_TRUE(p->converges) << p->reason;
  // Rounds 1 and 2 send 1 GiB each, whole (10.24 s; all of memory dirtied again). Round 3 sends
  // it as 102.4 MiB (1.024 s), leaving 153.6 MiB of pages dirty, whose encoding (15.36 MiB,
  // 0.15 s) would fit the 300 ms but whose pages (1.54 s) do not: one round more (0.1536 s)
  // leaves 23.04 MiB of pages, 0.23 s: stop.
  EXPECT_EQ(p->rounds, 4);
  EXPECT_NEAR(p->downtime_s, 23.04 * 0.1 / 100, 1e-6);
}

TEST(PrecopyTest, PostcopyTakesNothingFromTheEncoding) {
  PrecopyInput in = Base();
  in.dirty_rate_bytes_s = 500.0 * kMiB;
  in.working_set_bytes = 256 * kMiB;
  Result<PrecopyPrediction> whole = PredictPostcopy(in);
  in.resent_wire_fraction = 0.5;
  Result<PrecopyPrediction> p = PredictPostcopy(in);
  ASSERT_TRUE(p.ok()) << p.error();
  ASSERT_TRUE(p->postcopy);
  // Its two pre-copy rounds go whole (the second fills the cache), and what the guest dirtied
  // meanwhile (its working set) follows it whole: QEMU encodes nothing after the switch.
  ASSERT_EQ(p->schedule.size(), 2u);
  EXPECT_EQ(p->schedule[1].bytes, 256 * kMiB);
  EXPECT_NEAR(p->postcopy_blocktime_s, 256.0 / 100, 1e-9);
  EXPECT_EQ(p->bytes_sent, (1024 + 256 + 256) * kMiB);
  EXPECT_EQ(p->bytes_sent, whole->bytes_sent);
  EXPECT_EQ(p->total_s, whole->total_s);
}

// Over a grid of guests and links: the first two rounds go whole and every later one encoded,
// the bytes add up, a stop is within QEMU's bar on pages and its pause is the encoding's; without
// auto-converge (whose trigger compares the wire with the pages dirtied) encoding never costs
// more rounds or bytes than sending whole.
TEST(PrecopyTest, EncodingAddsUpAndNeverCostsMoreThanWholePages) {
  for (double fraction : {1.0, 0.5, 0.1, 0.01}) {
    for (double dirty_mib_s : {0.0, 5.0, 40.0, 90.0, 150.0, 400.0}) {
      for (double bandwidth_mib_s : {12.5, 100.0, 1000.0}) {
        for (bool auto_converge : {false, true}) {
          PrecopyInput in = Base();
          in.device_state_bytes = 64 * 1024;
          in.dirty_rate_bytes_s = dirty_mib_s * kMiB;
          in.working_set_bytes = 256 * kMiB;
          in.bandwidth_bytes_s = bandwidth_mib_s * kMiB;
          in.downtime_limit_s = 0.02;
          in.auto_converge = auto_converge;
          in.resent_wire_fraction = fraction;
          const std::string at = "fraction " + std::to_string(fraction) + " dirty " +
                                 std::to_string(dirty_mib_s) + " bandwidth " +
                                 std::to_string(bandwidth_mib_s) + " auto " +
                                 std::to_string(auto_converge);
          Result<PrecopyPrediction> p = PredictPrecopy(in);
          ASSERT_TRUE(p.ok()) << at << ": " << p.error();
          ASSERT_FALSE(p->schedule.empty()) << at;
          int64_t rounds_bytes = 0;
          for (const PrecopyRound& r : p->schedule) {
            const int64_t expected =
                r.round <= 2 ? r.page_bytes : std::llround(r.page_bytes * fraction);
            ASSERT_EQ(r.bytes, expected) << at << " round " << r.round;
            ASSERT_NEAR(r.seconds, r.bytes / in.bandwidth_bytes_s, 1e-9) << at;
            rounds_bytes += r.bytes;
          }
          if (p->converges) {
            const int64_t left = p->schedule.back().dirtied_bytes;
            const int64_t last =
                (p->rounds + 1 <= 2 ? left : std::llround(left * fraction)) + in.device_state_bytes;
            ASSERT_LE((left + in.device_state_bytes) / in.bandwidth_bytes_s,
                      in.downtime_limit_s + 1e-12)
                << at;
            ASSERT_EQ(p->bytes_sent, rounds_bytes + last) << at;
            ASSERT_NEAR(p->downtime_s, last / in.bandwidth_bytes_s, 1e-9) << at;
          }
          if (!auto_converge && fraction < 1) {
            PrecopyInput whole = in;
            whole.resent_wire_fraction = 1;
            Result<PrecopyPrediction> w = PredictPrecopy(whole);
            ASSERT_TRUE(w.ok()) << at;
            if (w->converges) {
              ASSERT_TRUE(p->converges) << at;
              ASSERT_LE(p->rounds, w->rounds) << at;
              ASSERT_LE(p->bytes_sent, w->bytes_sent) << at;
              ASSERT_LE(p->total_s, w->total_s + 1e-9) << at;
            }
          }
        }
      }
    }
  }
}

TEST(PrecopyTest, AnIdleDiskIsCopiedFirstAtTheLinkRate) {
  PrecopyInput in = Base();
  in.disk_bytes = 2048 * kMiB;  // 20.48 s at 100 MiB/s, then the memory's 10.24 s
  Result<PrecopyPrediction> p = PredictPrecopy(in);
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_TRUE(p->converges);
  EXPECT_NEAR(p->disk_s, 20.48, 1e-9);
  EXPECT_EQ(p->disk_bytes_sent, 2048 * kMiB);
  EXPECT_NEAR(p->total_s, 30.72, 1e-9);
  EXPECT_EQ(p->bytes_sent, 3072 * kMiB);
}

TEST(PrecopyTest, DiskWritesSlowTheCopyAndShareTheLinkWithTheMemory) {
  PrecopyInput in = Base();
  in.disk_bytes = 1024 * kMiB;
  in.disk_write_rate_bytes_s = 20.0 * kMiB;
  Result<PrecopyPrediction> p = PredictPrecopy(in);
  ASSERT_TRUE(p.ok()) << p.error();
  ASSERT_TRUE(p->converges);
  // The copy catches up at 100 - 20 MiB/s: 12.8 s, carrying 256 MiB of new writes besides.
  EXPECT_NEAR(p->disk_s, 12.8, 1e-9);
  // The memory then goes at 80 MiB/s: 12.8 s, with 256 MiB more of mirrored writes.
  EXPECT_NEAR(p->total_s, 12.8 + 12.8, 1e-6);
  EXPECT_NEAR(static_cast<double>(p->disk_bytes_sent), (1024.0 + 256 + 256) * kMiB, kMiB);
  // Whatever the writes, more bandwidth never takes longer.
  double last_total = INFINITY;
  for (double mib_s : {30.0, 60.0, 100.0, 400.0}) {
    in.bandwidth_bytes_s = mib_s * kMiB;
    Result<PrecopyPrediction> q = PredictPrecopy(in);
    ASSERT_TRUE(q.ok() && q->converges) << mib_s;
    EXPECT_LT(q->total_s, last_total) << mib_s;
    last_total = q->total_s;
  }
}

TEST(PrecopyTest, AGuestWritingItsDiskFasterThanTheLinkNeverConverges) {
  PrecopyInput in = Base();
  in.disk_bytes = kMiB;
  in.disk_write_rate_bytes_s = 100.0 * kMiB;
  Result<PrecopyPrediction> p = PredictPrecopy(in);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->converges);
  EXPECT_NE(p->reason.find("disk"), std::string::npos);
  // Without a disk to copy (shared storage), its writes do not cross the migration link.
  in.disk_bytes = 0;
  EXPECT_TRUE(PredictPrecopy(in)->converges);
}

TEST(PrecopyTest, StopAndCopyCopiesTheDiskWhileStopped) {
  PrecopyInput in = Base();
  in.disk_bytes = 1024 * kMiB;
  in.disk_write_rate_bytes_s = 50.0 * kMiB;  // stopped: it writes nothing
  Result<PrecopyPrediction> p = PredictStopAndCopy(in);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->bytes_sent, 2048 * kMiB);
  EXPECT_NEAR(p->downtime_s, 20.48, 1e-9);
}

}  // namespace
}  // namespace greenshift::migration

namespace greenshift::migration {
namespace {

TEST(RemoteDiskTest, OneWriteInFlightPerRoundTrip) {
  // A 64 KiB synchronous writer 40 ms from its disk: 65536 / 0.040 = 1.64 MB/s.
  EXPECT_NEAR(RemoteDiskWriteRate(65536, 0.040, 0), 1.6384e6, 1);
  // Four times as much in flight, four times the rate; half the distance, twice.
  EXPECT_NEAR(RemoteDiskWriteRate(4 * 65536, 0.040, 0), 4 * 1.6384e6, 1);
  EXPECT_NEAR(RemoteDiskWriteRate(65536, 0.020, 0), 2 * 1.6384e6, 1);
  // The link's own time to send the write adds to the round trip: at 100 Mbit/s, 5.2 ms.
  EXPECT_NEAR(RemoteDiskWriteRate(65536, 0.040, 12.5e6), 65536 / (0.040 + 65536 / 12.5e6), 1);
  // Next to the storage: no limit from the distance.
  EXPECT_TRUE(std::isinf(RemoteDiskWriteRate(65536, 0, 0)));
}

TEST(TcpStreamTest, EveryPredictionCrossesTheRoundTrip) {
  PrecopyInput near;
  near.memory_bytes = int64_t{256} << 20;
  near.dirty_rate_bytes_s = 5e6;
  near.bandwidth_bytes_s = 12.5e6;
  PrecopyInput far = near;
  far.rtt_s = 0.080;
  far.stream_window_bytes = 4 << 20;
  const TcpStream stream = TcpStreamOver(12.5e6, 0.080, 4 << 20);
  // The same copy at the stream's rate, after its ramp, plus one way at the end.
  PrecopyInput ramped = near;
  ramped.setup_s = stream.ramp_s;
  for (auto predict : {PredictPrecopy, PredictStopAndCopy, PredictPostcopy}) {
    const PrecopyPrediction f = predict(far).value();
    const PrecopyPrediction r = predict(ramped).value();
    EXPECT_NEAR(f.downtime_s, r.downtime_s + 0.040, 1e-9);
    EXPECT_NEAR(f.total_s, r.total_s + 0.040, 1e-9);
    EXPECT_EQ(f.bytes_sent, r.bytes_sent);
    EXPECT_GT(f.total_s, predict(near).value().total_s + 0.040 + 0.3);
  }
  far.rtt_s = -1;
  EXPECT_NE(PredictPrecopy(far).error().find("rtt_s must be"), std::string::npos);
  far.rtt_s = 0.080;
  far.stream_window_bytes = std::numeric_limits<double>::infinity();
  EXPECT_NE(PredictPrecopy(far).error().find("stream_window_bytes must be"), std::string::npos);
}

TEST(TcpStreamTest, NextDoorTheStreamIsTheLink) {
  const TcpStream stream = TcpStreamOver(12.5e6, 0, 4 << 20);
  EXPECT_DOUBLE_EQ(stream.bandwidth_bytes_s, 12.5e6);
  EXPECT_DOUBLE_EQ(stream.ramp_s, 0);
  EXPECT_DOUBLE_EQ(stream.one_way_s, 0);
}

TEST(TcpStreamTest, SlowStartAndTheWindowOverARoundTrip) {
  // 100 Mbit/s, 80 ms: one round trip holds 1 MB. Slow start's windows 14480 B x 1, 2, ..., 64
  // (7 round trips, 1.84 MB sent) reach it; at the full rate those bytes take 0.147 s, so
  // slow start loses 0.56 - 0.147 s, and the handshake one more round trip.
  const TcpStream wan = TcpStreamOver(12.5e6, 0.080, 4 << 20);
  EXPECT_DOUBLE_EQ(wan.bandwidth_bytes_s, 12.5e6);
  EXPECT_NEAR(wan.ramp_s, 0.080 + 7 * 0.080 - 14480.0 * 127 / 12.5e6, 1e-9);
  EXPECT_DOUBLE_EQ(wan.one_way_s, 0.040);
  // 10 Gbit/s, same round trip, 4 MiB window: one window per round trip, 52 MB/s.
  const TcpStream windowed = TcpStreamOver(1.25e9, 0.080, 4 << 20);
  EXPECT_DOUBLE_EQ(windowed.bandwidth_bytes_s, (4 << 20) / 0.080);
  // Unbounded window: the link's rate, a longer ramp.
  const TcpStream unbounded = TcpStreamOver(1.25e9, 0.080, 0);
  EXPECT_DOUBLE_EQ(unbounded.bandwidth_bytes_s, 1.25e9);
  EXPECT_GT(unbounded.ramp_s, windowed.ramp_s);
  // Farther never costs less, never carries more.
  TcpStream before = TcpStreamOver(12.5e6, 0.001, 4 << 20);
  for (double rtt = 0.002; rtt < 0.5; rtt += 0.003) {
    const TcpStream now = TcpStreamOver(12.5e6, rtt, 4 << 20);
    EXPECT_GE(now.ramp_s, before.ramp_s) << rtt;
    EXPECT_LE(now.bandwidth_bytes_s, before.bandwidth_bytes_s) << rtt;
    EXPECT_GE(now.ramp_s, 0) << rtt;
    before = now;
  }
}

}  // namespace
}  // namespace greenshift::migration
