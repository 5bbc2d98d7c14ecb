// RFC 3339 times: what people and programs write is read, what greenshift prints reads back the
// same, and what is not a time says why.
#include <gtest/gtest.h>

#include <random>

#include "core/clock.h"
#include "energy/csv.h"

namespace greenshift {
namespace {

int64_t Ms(const std::string& text) {
  Result<int64_t> ms = ParseRfc3339Ms(text);
  EXPECT_TRUE(ms.ok()) << text << ": " << ms.error();
  return ms.ok() ? *ms : -1;
}

std::string Why(const std::string& text) {
  Result<int64_t> ms = ParseRfc3339Ms(text);
  EXPECT_FALSE(ms.ok()) << text << " was read as " << (ms.ok() ? *ms : 0);
  return ms.ok() ? "" : ms.error();
}

TEST(TimeTest, TheShapesThatAreWritten) {
  const int64_t t = 1795132740000;  // 2026-11-19T23:59:00Z
  EXPECT_EQ(Ms("2026-11-19T23:59:00Z"), t);
  EXPECT_EQ(Ms("2026-11-19t23:59:00z"), t);
  EXPECT_EQ(Ms("2026-11-19 23:59:00Z"), t);
  EXPECT_EQ(Ms("2026-11-19T23:59Z"), t);  // no seconds (FormatUtcMinutes)
  EXPECT_EQ(Ms("2026-11-19T23:59:00.000Z"), t);
  EXPECT_EQ(Ms("2026-11-19T23:59:00.123Z"), t + 123);
  EXPECT_EQ(Ms("2026-11-19T23:59:00.1Z"), t + 100);
  EXPECT_EQ(Ms("2026-11-19T23:59:00.123456789Z"), t + 123);  // cut to milliseconds
  EXPECT_EQ(Ms("2026-11-19T23:59:00,5Z"), t + 500);          // ISO 8601's decimal comma
  EXPECT_EQ(Ms("2026-11-20T00:59:00+01:00"), t);
  EXPECT_EQ(Ms("2026-11-20T00:59:00+0100"), t);
  EXPECT_EQ(Ms("2026-11-20T00:59:00+01"), t);
  EXPECT_EQ(Ms("2026-11-19T18:29:00-05:30"), t);
  EXPECT_EQ(Ms("2026-11-19T23:59:00+00:00"), t);
  EXPECT_EQ(Ms("2026-11-19T23:59:00-00:00"), t);  // RFC 3339's "offset unknown": still UTC
  // Calendar edges: leap days, the epoch, before it, far ahead.
  EXPECT_EQ(Ms("2024-02-29T00:00:00Z"), 1709164800000);
  EXPECT_EQ(Ms("2000-02-29T00:00:00Z"), 951782400000);
  EXPECT_EQ(Ms("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(Ms("1969-12-31T23:59:59.500Z"), -500);
  EXPECT_EQ(Ms("9999-12-31T23:59:59Z"), 253402300799000);
  // A leap second is the second after 23:59:59 UTC, wherever it is written.
  EXPECT_EQ(Ms("2016-12-31T23:59:60Z"), Ms("2017-01-01T00:00:00Z"));
  EXPECT_EQ(Ms("2017-01-01T00:59:60+01:00"), Ms("2017-01-01T00:00:00Z"));
}

TEST(TimeTest, WhatIsNotATimeSaysWhy) {
  EXPECT_NE(Why("2026-11-19T23:59:00").find("has no UTC offset (like Z or +01:00)"),
            std::string::npos);
  EXPECT_NE(Why("2026-02-31T00:00:00Z").find("names day 31 of February 2026, which has 28 days"),
            std::string::npos);
  EXPECT_NE(Why("2023-02-29T00:00:00Z").find("day 29 of February 2023, which has 28 days"),
            std::string::npos);
  EXPECT_NE(Why("1900-02-29T00:00:00Z").find("day 29 of February 1900, which has 28 days"),
            std::string::npos);
  EXPECT_NE(Why("2026-04-31T00:00:00Z").find("day 31 of April 2026, which has 30 days"),
            std::string::npos);
  EXPECT_NE(Why("2026-13-01T00:00:00Z").find("has no month 13"), std::string::npos);
  EXPECT_NE(Why("2026-00-01T00:00:00Z").find("has no month 0"), std::string::npos);
  EXPECT_NE(Why("2026-01-00T00:00:00Z").find("day 0 of January 2026, which has 31 days"),
            std::string::npos);
  EXPECT_NE(Why("2026-11-19T24:00:00Z").find("has hour 24"), std::string::npos);
  EXPECT_NE(Why("2026-11-19T23:60:00Z").find("has minute 60"), std::string::npos);
  EXPECT_NE(Why("2026-11-19T12:00:60Z").find("has second 60"), std::string::npos);
  EXPECT_NE(Why("2026-11-19T23:59:61Z").find("has second 61"), std::string::npos);
  EXPECT_NE(Why("2026-11-19T23:59:00+24:00").find("beyond +-23:59"), std::string::npos);
  EXPECT_NE(Why("2026-11-19T23:59:00+01:60").find("beyond +-23:59"), std::string::npos);
  EXPECT_NE(Why("2026-11-19").find("a date without a time of day"), std::string::npos);
  EXPECT_NE(Why("2026-11-19_23:59Z").find("no 'T' or space"), std::string::npos);
  EXPECT_NE(Why("2026-11-19T23Z").find("no time of day hh:mm"), std::string::npos);
  EXPECT_NE(Why("2026-11-19T23:59:0Z").find("two-digit seconds"), std::string::npos);
  EXPECT_NE(Why("2026-11-19T23:59:00.Z").find("no digits after the decimal point"),
            std::string::npos);
  EXPECT_NE(Why("2026-11-19T23:59:00 CET").find("has ' CET' where the UTC offset belongs"),
            std::string::npos);
  EXPECT_NE(Why("2026-11-19T23:59:00Z ").find("goes on after its UTC offset"), std::string::npos);
  EXPECT_NE(Why("2026-11-19T23:59:00+").find("without its hours"), std::string::npos);
  EXPECT_NE(Why("2026-11-19T23:59:00+01:").find("without its minutes"), std::string::npos);
  EXPECT_NE(Why("1795046340").find("does not begin with a date"), std::string::npos);
  EXPECT_NE(Why("").find("does not begin with a date"), std::string::npos);
  EXPECT_NE(Why("26-11-19T23:59:00Z").find("does not begin with a date"), std::string::npos);
  EXPECT_NE(Why("+2026-11-19T23:59:00Z").find("does not begin with a date"), std::string::npos);
  // Every shape error shows what a time looks like.
  EXPECT_NE(Why("tomorrow").find("2026-11-29T23:59:00Z"), std::string::npos);
}

// Whatever greenshift prints, it reads back as the same time (to what the format keeps).
TEST(TimeTest, EveryPrintedTimeReadsBack) {
  std::mt19937_64 random(42);
  std::uniform_int_distribution<int64_t> ms_in(-2208988800000, 253402300799999);  // 1900-9999
  for (int i = 0; i < 20000; ++i) {
    const int64_t ms = ms_in(random);
    const int64_t s = SecondsOfMs(ms);
    // The wall clock counts nanoseconds in 64 bits: it ends in 2262.
    const int64_t wall_ms = ms % 7258118400000;  // within 1900-2200
    const WallTime wall{std::chrono::milliseconds(wall_ms)};
    ASSERT_EQ(Ms(FormatUtc(wall)), wall_ms) << FormatUtc(wall);
    ASSERT_EQ(UnixMillis(wall), wall_ms);  // the clock's milliseconds are what it prints
    ASSERT_EQ(UnixMicros(wall), wall_ms * 1000);
    ASSERT_EQ(Ms(FormatUtcSeconds(s)), s * 1000) << FormatUtcSeconds(s);
    const int64_t minute = s - ((s % 60) + 60) % 60;
    ASSERT_EQ(Ms(FormatUtcMinutes(s)), minute * 1000) << FormatUtcMinutes(s);
    // The files' parser takes the same and keeps whole seconds.
    ASSERT_EQ(energy::ParseIsoTime(FormatUtcSeconds(s), {"t", 1, "time"}).value(), s);
  }
}

TEST(TimeTest, FilesKeepWholeSecondsAndSayWhereTheTimeWas) {
  EXPECT_EQ(energy::ParseIsoTime("2026-11-19T23:59:00.999Z", {"f.csv", 3, "time"}).value(),
            1795132740);
  EXPECT_EQ(energy::ParseIsoTime("1969-12-31T23:59:59.500Z", {"f.csv", 3, "time"}).value(), -1);
  const std::string why =
      energy::ParseIsoTime("2026-02-31 12:00:00+01:00", {"f.csv", 3, "time"}).error();
  EXPECT_NE(why.find("f.csv line 3, field 'time': '2026-02-31 12:00:00+01:00' names day 31 of "
                     "February 2026, which has 28 days"),
            std::string::npos)
      << why;
}

}  // namespace
}  // namespace greenshift
