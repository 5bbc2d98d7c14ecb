// IANA time zones: a file logged on a place's local clock, daylight saving and all, read back
// to the right instants; the hour the clocks skipped refused saying so; the repeated hour read
// twice, in order.
#include "core/zone.h"

#include <gtest/gtest.h>

#include "core/clock.h"
#include "energy/csv.h"

namespace greenshift {
namespace {

int64_t ZoneMs(const std::string& text) {
  Result<int64_t> ms = ParseRfc3339Ms(text);
  EXPECT_TRUE(ms.ok()) << text << ": " << ms.error();
  return ms.ok() ? *ms : -1;
}

TEST(ZoneTest, UnknownZonesAreRefusedSayingWhatANameLooksLike) {
  EXPECT_TRUE(TimeZone::Find("Europe/Amsterdam").ok());
  EXPECT_TRUE(TimeZone::Find("UTC").ok());
  for (const char* bad : {"Europe/Atlantis", "CEST+2", "", "../../etc/passwd"}) {
    Result<TimeZone> zone = TimeZone::Find(bad);
    ASSERT_FALSE(zone.ok()) << bad;
    EXPECT_NE(zone.error().find("is not in the IANA database (names look like Europe/Amsterdam"),
              std::string::npos)
        << zone.error();
  }
}

TEST(ZoneTest, AClockReadingIsReadWhateverOffsetItCarries) {
  const int64_t noon = ZoneMs("2022-06-21T12:00:00Z");
  EXPECT_EQ(*ParseClockReadingMs("2022-06-21T12:00:00Z"), noon);
  EXPECT_EQ(*ParseClockReadingMs("2022-06-21 12:00:00+01:00"), noon);
  EXPECT_EQ(*ParseClockReadingMs("2022-06-21T12:00-0700"), noon);
  EXPECT_EQ(*ParseClockReadingMs("2022-06-21T12:00:00"), noon);
  EXPECT_EQ(*ParseClockReadingMs("2022-06-21 12:00:00.500"), noon + 500);
  EXPECT_FALSE(ParseClockReadingMs("2022-02-30 12:00:00").ok());
  EXPECT_NE(ParseClockReadingMs("2022-02-30 12:00").error().find("February"), std::string::npos);
}

TEST(ZoneTest, DaylightSavingBothWays) {
  const TimeZone amsterdam = *TimeZone::Find("Europe/Amsterdam");
  const TimeZone denver = *TimeZone::Find("America/Denver");
  // Summer and winter: two offsets from one zone.
  EXPECT_EQ(*amsterdam.ToUtcMs(ZoneMs("2022-06-21T14:00Z"), INT64_MIN),
            ZoneMs("2022-06-21T12:00Z"));
  EXPECT_EQ(*amsterdam.ToUtcMs(ZoneMs("2022-12-21T14:00Z"), INT64_MIN),
            ZoneMs("2022-12-21T13:00Z"));
  EXPECT_EQ(*denver.ToUtcMs(ZoneMs("2016-08-01T12:00Z"), INT64_MIN), ZoneMs("2016-08-01T18:00Z"));
  EXPECT_EQ(amsterdam.OffsetS(ZoneMs("2022-06-21T12:00Z")), 7200);
  EXPECT_EQ(amsterdam.OffsetS(ZoneMs("2022-12-21T12:00Z")), 3600);
  // 27 March 2022: 02:00 became 03:00; 02:30 never was.
  Result<int64_t> skipped = amsterdam.ToUtcMs(ZoneMs("2022-03-27T02:30Z"), INT64_MIN);
  ASSERT_FALSE(skipped.ok());
  EXPECT_EQ(skipped.error(),
            "is a clock reading that never was in Europe/Amsterdam: its clocks went from "
            "2022-03-27T02:00 straight to 2022-03-27T03:00 (daylight saving began)");
  // 30 October 2022: 02:00-03:00 twice. Alone, the first pass; after the first pass, the second.
  const int64_t first = ZoneMs("2022-10-30T00:30Z"), second = ZoneMs("2022-10-30T01:30Z");
  EXPECT_EQ(*amsterdam.ToUtcMs(ZoneMs("2022-10-30T02:30Z"), INT64_MIN), first);
  EXPECT_EQ(*amsterdam.ToUtcMs(ZoneMs("2022-10-30T02:30Z"), ZoneMs("2022-10-30T00:15Z")), first);
  EXPECT_EQ(*amsterdam.ToUtcMs(ZoneMs("2022-10-30T02:30Z"), ZoneMs("2022-10-30T00:45Z")), second);
}

TEST(ZoneTest, ALocalClockFileReadsToStrictlyIncreasingInstants) {
  // A logger on Amsterdam's clock every 30 min across the autumn change, writing "+01:00" on
  // every row (one offset all year, as some exports do): read with the zone, the 02:00-02:30
  // readings come twice, each at its own instant, 30 min apart all the way.
  const std::string csv =
      "time,p\n"
      "2022-10-30 01:30:00+01:00,1\n"
      "2022-10-30 02:00:00+01:00,2\n"
      "2022-10-30 02:30:00+01:00,3\n"
      "2022-10-30 02:00:00+01:00,4\n"
      "2022-10-30 02:30:00+01:00,5\n"
      "2022-10-30 03:00:00+01:00,6\n";
  const TimeZone amsterdam = *TimeZone::Find("Europe/Amsterdam");
  energy::TimeSeriesOptions options;
  options.clock_zone = &amsterdam;
  Result<energy::TimeSeriesTable> table = energy::ParseTimeSeriesCsv(csv, "log.csv", options);
  ASSERT_TRUE(table.ok()) << table.error();
  ASSERT_EQ(table->time_utc_s.size(), 6u);
  EXPECT_EQ(table->time_utc_s[0] * 1000, ZoneMs("2022-10-29T23:30Z"));
  for (size_t i = 1; i < 6; ++i) EXPECT_EQ(table->time_utc_s[i] - table->time_utc_s[i - 1], 1800);
  // Without the zone the same file goes back in time and is refused, saying where.
  Result<energy::TimeSeriesTable> plain = energy::ParseTimeSeriesCsv(csv, "log.csv");
  ASSERT_FALSE(plain.ok());
  EXPECT_NE(plain.error().find("log.csv line 5: time 2022-10-30 02:00:00+01:00 does not come "
                               "after the row before"),
            std::string::npos)
      << plain.error();
  // A spring reading that never was: refused, naming the line.
  Result<energy::TimeSeriesTable> spring = energy::ParseTimeSeriesCsv(
      "time,p\n2022-03-27 01:30:00,1\n2022-03-27 02:30:00,2\n", "log.csv", options);
  ASSERT_FALSE(spring.ok());
  EXPECT_EQ(spring.error().rfind("log.csv line 3, field 'time': '2022-03-27 02:30:00' is a clock "
                                 "reading that never was in Europe/Amsterdam",
                                 0),
            0u)
      << spring.error();
}

}  // namespace
}  // namespace greenshift
