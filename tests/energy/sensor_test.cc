#include "energy/sensor.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/files.h"

namespace greenshift::energy {
namespace {

constexpr int64_t kSensorNow = 1700000000000;

SensorLimits Limits() {
  SensorLimits limits;
  limits.capacity_w = 5000;
  limits.max_clock_skew_ms = 60000;
  limits.stale_after_ms = 300000;
  return limits;
}

TEST(SensorValidatorTest, AcceptsPlausibleReadingsInOrder) {
  SensorValidator v(Limits());
  EXPECT_TRUE(v.Check({"a", "pv", kSensorNow - 2000, 1200}, kSensorNow).accepted);
  EXPECT_TRUE(v.Check({"a", "pv", kSensorNow - 1000, 0}, kSensorNow).accepted);
  EXPECT_TRUE(
      v.Check({"a", "pv", kSensorNow, 6000}, kSensorNow).accepted);  // 1.2 x 5000 is still fine
  EXPECT_EQ(v.accepted(), 3);
  EXPECT_EQ(v.rejected_total(), 0);
}

TEST(SensorValidatorTest, RejectsEachImplausibleReadingWithItsReason) {
  SensorValidator v(Limits());
  ASSERT_TRUE(v.Check({"a", "pv", kSensorNow - 10000, 100}, kSensorNow).accepted);
  struct Case {
    Reading reading;
    RejectReason reason;
    const char* words;
  } cases[] = {
      {{"a", "pv", kSensorNow - 5000, NAN}, RejectReason::kNotANumber, "not a number"},
      {{"a", "pv", kSensorNow - 5000, INFINITY}, RejectReason::kNotANumber, "not a number"},
      {{"a", "pv", kSensorNow - 5000, -3}, RejectReason::kNegative, "negative"},
      {{"a", "pv", kSensorNow - 5000, 6001}, RejectReason::kAboveCapacity, "above 1.2 x"},
      {{"a", "pv", kSensorNow + 120000, 100}, RejectReason::kInTheFuture, "in the future"},
      {{"a", "pv", kSensorNow - 10000, 101}, RejectReason::kOutOfOrder, "not after"},
      {{"a", "pv", kSensorNow - 20000, 100}, RejectReason::kOutOfOrder, "not after"},
      {{"a", "pv", -5000, 100}, RejectReason::kTooOld, "older than"},
      {{"a", "pv", kSensorNow - 8 * 86400000LL, 100}, RejectReason::kTooOld, "older than"},
  };
  for (const Case& c : cases) {
    Verdict verdict = v.Check(c.reading, kSensorNow);
    EXPECT_FALSE(verdict.accepted) << c.words;
    EXPECT_EQ(verdict.reason, c.reason) << c.words;
    EXPECT_NE(verdict.why.find(c.words), std::string::npos) << verdict.why;
    EXPECT_NE(verdict.why.find("a/pv"), std::string::npos) << verdict.why;
  }
  EXPECT_EQ(v.accepted(), 1);
  EXPECT_EQ(v.rejected(RejectReason::kNotANumber), 2);
  EXPECT_EQ(v.rejected(RejectReason::kOutOfOrder), 2);
  EXPECT_EQ(v.rejected(RejectReason::kTooOld), 2);
  EXPECT_EQ(v.rejected_total(), 9);  // none lost: every rejection is counted
  EXPECT_EQ(v.recent_rejections().size(), 9u);
  // A far-past reading did not move the order check back: the next one still must be newer.
  EXPECT_FALSE(v.Check({"a", "pv", kSensorNow - 15000, 100}, kSensorNow).accepted);
  EXPECT_TRUE(v.Check({"a", "pv", kSensorNow - 9000, 100}, kSensorNow).accepted);
}

TEST(SensorValidatorTest, TheSameReadingAgainIsADuplicateNotAnError) {
  SensorValidator v(Limits());
  ASSERT_TRUE(v.Check({"a", "pv", kSensorNow - 1000, 250}, kSensorNow).accepted);
  Verdict again = v.Check({"a", "pv", kSensorNow - 1000, 250}, kSensorNow);
  EXPECT_FALSE(again.accepted);
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(v.rejected_total(), 0);
  EXPECT_EQ(v.accepted(), 1);
  // Same time, another value: that is not the same reading.
  Verdict other = v.Check({"a", "pv", kSensorNow - 1000, 260}, kSensorNow);
  EXPECT_FALSE(other.accepted);
  EXPECT_FALSE(other.duplicate);
  EXPECT_EQ(other.reason, RejectReason::kOutOfOrder);
}

TEST(SensorValidatorTest, SeededFromTheStoreItContinuesTheOrder) {
  // What a restarted service does: the newest stored reading is where the sensor stands.
  SensorValidator v(Limits());
  v.Seed(kSensorNow - 60000, 300);
  EXPECT_TRUE(v.has_last());
  EXPECT_TRUE(v.Check({"a", "pv", kSensorNow - 60000, 300}, kSensorNow).duplicate);
  EXPECT_EQ(v.Check({"a", "pv", kSensorNow - 70000, 300}, kSensorNow).reason,
            RejectReason::kOutOfOrder);
  EXPECT_TRUE(v.Check({"a", "pv", kSensorNow - 50000, 310}, kSensorNow).accepted);
  v.Seed(kSensorNow - 90000, 1);  // an older seed does not move it back
  EXPECT_EQ(v.last_accepted_ms(), kSensorNow - 50000);
}

TEST(SensorValidatorTest, AToleranceForStandbyDraw) {
  SensorLimits limits = Limits();
  limits.negative_tolerance_w = 10;
  SensorValidator v(limits);
  EXPECT_TRUE(v.Check({"a", "pv", kSensorNow - 1000, -2.8}, kSensorNow).accepted);
  EXPECT_FALSE(v.Check({"a", "pv", kSensorNow, -12}, kSensorNow).accepted);
}

TEST(SensorValidatorTest, ASilentSensorTurnsStale) {
  SensorValidator v(Limits());
  EXPECT_TRUE(v.IsStale(kSensorNow));  // never reported
  ASSERT_TRUE(v.Check({"a", "pv", kSensorNow, 100}, kSensorNow).accepted);
  EXPECT_FALSE(v.IsStale(kSensorNow + 299000));
  EXPECT_TRUE(v.IsStale(kSensorNow + 301000));
  // Rejected readings do not keep a sensor fresh.
  EXPECT_FALSE(v.Check({"a", "pv", kSensorNow + 400000, NAN}, kSensorNow + 400000).accepted);
  EXPECT_TRUE(v.IsStale(kSensorNow + 400000));
}

TEST(SensorReplayTest, ReplaysTheMeasuredSerfPowerAndCountsWhatItRejects) {
  Result<std::string> text =
      ReadFile(GREENSHIFT_SOURCE_DIR "/data/pv/serf_east_15min_ac_power.csv");
  ASSERT_TRUE(text.ok());
  Result<TimeSeriesTable> table = ParseTimeSeriesCsv(*text, "serf_east_15min_ac_power.csv");
  ASSERT_TRUE(table.ok()) << table.error();
  SensorLimits limits;
  limits.capacity_w = 5400;
  // Strict: the inverter's few watts of night-time draw are negative readings.
  Result<ReplayResult> strict = ReplayCsv(*table, "ac_power", "golden", "serf-east", limits);
  ASSERT_TRUE(strict.ok()) << strict.error();
  EXPECT_GT(strict->validator.rejected(RejectReason::kNegative), 3000);
  EXPECT_EQ(strict->validator.accepted() + strict->validator.rejected_total(),
            static_cast<int64_t>(table->time_utc_s.size()));
  // With a 10 W tolerance for standby draw, every reading of this real system passes.
  limits.negative_tolerance_w = 10;
  Result<ReplayResult> tolerant = ReplayCsv(*table, "ac_power", "golden", "serf-east", limits);
  ASSERT_TRUE(tolerant.ok());
  EXPECT_EQ(tolerant->validator.rejected_total(), 0);
  EXPECT_EQ(tolerant->accepted.size(), table->time_utc_s.size());
  EXPECT_FALSE(ReplayCsv(*table, "power", "golden", "x", limits).ok());  // no such column
}

TEST(SensorReplayTest, GapsAreMissingValuesCountedNotErrorsNorRejections) {
  // A monitoring export with gaps written the ways real ones write them. Read strictly (as a
  // weather file is), the first gap is an error naming its place; read as measured power,
  // each gap is a NaN, counted per column, and the replay neither accepts nor rejects it.
  const std::string csv =
      "time,ac_power,dc_power\n"
      "2022-06-01T10:00:00Z,1000,1100\n"
      "2022-06-01T10:15:00Z,,1150\n"
      "2022-06-01T10:30:00Z, NaN ,\n"
      "2022-06-01T10:45:00Z,null,1200\n"
      "2022-06-01T11:00:00Z,N/A,1210\n"
      "2022-06-01T11:15:00Z,NA,1220\n"
      "2022-06-01T11:30:00Z,-500,1230\n"
      "2022-06-01T11:45:00Z,1300,1240\r\n";
  Result<TimeSeriesTable> strict = ParseTimeSeriesCsv(csv, "pv.csv");
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(strict.error(), "pv.csv line 3, field 'ac_power': empty where a number belongs");
  Result<TimeSeriesTable> table = ParseTimeSeriesCsv(csv, "pv.csv", {Gaps::kMissing, nullptr});
  ASSERT_TRUE(table.ok()) << table.error();
  ASSERT_EQ(table->time_utc_s.size(), 8u);
  EXPECT_EQ(table->missing, (std::vector<size_t>{5, 1}));
  EXPECT_TRUE(std::isnan(table->columns[0][1]));
  EXPECT_TRUE(std::isnan(table->columns[1][2]));
  EXPECT_EQ(table->columns[0][7], 1300);
  // What is not a gap is still an error, naming the place.
  Result<TimeSeriesTable> bad = ParseTimeSeriesCsv("time,p\n2022-06-01T10:00:00Z,12kW\n", "pv.csv",
                                                   {Gaps::kMissing, nullptr});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), "pv.csv line 2, field 'p': '12kW' is not a number");

  SensorLimits limits;
  limits.capacity_w = 5000;
  Result<ReplayResult> replay = ReplayCsv(*table, "ac_power", "golden", "pv", limits);
  ASSERT_TRUE(replay.ok()) << replay.error();
  EXPECT_EQ(replay->missing, 5);
  EXPECT_EQ(replay->validator.accepted(), 2);
  EXPECT_EQ(replay->validator.rejected_total(), 1);  // -500 W: a reading, and implausible
  EXPECT_EQ(replay->validator.rejected(RejectReason::kNegative), 1);
  ASSERT_EQ(replay->accepted.size(), 2u);
  EXPECT_EQ(replay->accepted[1].power_w, 1300);
}

TEST(ReadingPayloadTest, NumbersAndJson) {
  Result<Reading> bare = ParseReadingPayload("1234.5", "a", "pv", kSensorNow);
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->power_w, 1234.5);
  EXPECT_EQ(bare->time_utc_ms, kSensorNow);
  Result<Reading> stamped =
      ParseReadingPayload(R"({"time":"2023-11-14T22:13:20+00:00","power_w":800})", "a", "pv", 0);
  ASSERT_TRUE(stamped.ok()) << stamped.error();
  EXPECT_EQ(stamped->time_utc_ms, kSensorNow);
  EXPECT_EQ(stamped->power_w, 800);
  EXPECT_TRUE(
      std::isnan(ParseReadingPayload(R"({"power_w":null})", "a", "pv", kSensorNow)->power_w));
  EXPECT_NE(ParseReadingPayload("lots", "a", "pv", kSensorNow).error().find("neither a number"),
            std::string::npos);
  EXPECT_NE(ParseReadingPayload(R"({"watts":3})", "a", "pv", kSensorNow).error().find("'power_w'"),
            std::string::npos);
  // A hostile broker client's payload nested a million deep: refused before it is parsed.
  EXPECT_NE(ParseReadingPayload(std::string(1000000, '[') + std::string(1000000, ']'), "a", "pv",
                                kSensorNow)
                .error()
                .find("a/pv nests deeper than 64 levels"),
            std::string::npos);
  EXPECT_NE(ParseReadingPayload(R"({"power_w":3,"time":"yesterday"})", "a", "pv", kSensorNow)
                .error()
                .find("yesterday"),
            std::string::npos);
  // A sensor's time to the millisecond, in any RFC 3339 shape; an impossible one says why.
  EXPECT_EQ(
      ParseReadingPayload(R"({"time":"2023-11-15T00:13:20.750+02:00","power_w":1})", "a", "pv", 0)
          ->time_utc_ms,
      kSensorNow + 750);
  EXPECT_NE(ParseReadingPayload(R"({"time":"2023-11-31T00:00:00Z","power_w":1})", "a", "pv", 0)
                .error()
                .find("payload for a/pv: 'time': '2023-11-31T00:00:00Z' names day 31 of "
                      "November 2023, which has 30 days"),
            std::string::npos);
}

}  // namespace
}  // namespace greenshift::energy
