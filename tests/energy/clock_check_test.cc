// The clock check on the real SERF East system: its own file agrees with the sun; the same
// measurements an hour late all along, or for five weeks, are found, with the stretch named;
// half an hour is not an hour; too few days conclude nothing.
#include "energy/clock_check.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

#include "core/files.h"
#include "energy/csv.h"

namespace greenshift::energy {
namespace {

class ClockCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::string> power_text =
        ReadFile(GREENSHIFT_SOURCE_DIR "/data/pv/serf_east_15min_ac_power.csv");
    Result<std::string> weather_text =
        ReadFile(GREENSHIFT_SOURCE_DIR "/data/pv/serf_east_psm3_data.csv");
    ASSERT_TRUE(power_text.ok() && weather_text.ok());
    Result<TimeSeriesTable> power = ParseTimeSeriesCsv(*power_text, "power.csv");
    Result<TimeSeriesTable> table = ParseTimeSeriesCsv(*weather_text, "weather.csv");
    ASSERT_TRUE(power.ok() && table.ok());
    weather_ = *WeatherFromTable(*table, 39.742, -105.179);
    measured_ = *PowerSeriesFromTable(*power, "ac_power");
    PvSystem pv;
    pv.latitude_deg = 39.742;
    pv.longitude_deg = -105.179;
    pv.tilt_deg = 45;
    pv.azimuth_deg = 158;
    pv.capacity_w = pv.inverter_limit_w = 5400;
    site_.name = "serf";
    site_.pv.push_back(pv);
  }
  // The measurements with every time from `from` (inclusive) to `to` (exclusive) moved by
  // `late_s`; rows that would then not come after the row before are dropped, as a logger
  // that showed the same clock readings twice would have overwritten them.
  PowerSeries Moved(int64_t late_s, int64_t from = INT64_MIN, int64_t to = INT64_MAX) const {
    PowerSeries out;
    out.step_s = measured_.step_s;
    for (size_t i = 0; i < measured_.time_utc_s.size(); ++i) {
      int64_t t = measured_.time_utc_s[i];
      if (t >= from && t < to) t += late_s;
      if (!out.time_utc_s.empty() && t <= out.time_utc_s.back()) continue;
      out.time_utc_s.push_back(t);
      out.power_w.push_back(measured_.power_w[i]);
    }
    return out;
  }
  WeatherSeries weather_;
  PowerSeries measured_;
  SiteModel site_;
};

TEST_F(ClockCheckTest, TheRealFileAgreesWithTheSun) {
  const ClockCheck check = CheckClock(site_, weather_, measured_);
  EXPECT_FALSE(check.shifted) << check.evidence;
  EXPECT_GT(check.late_min.size(), 100u);
  EXPECT_NE(check.evidence.find("no stretch of days is an hour apart"), std::string::npos)
      << check.evidence;
}

TEST_F(ClockCheckTest, AnHourLateAllAlongIsFound) {
  const ClockCheck check = CheckClock(site_, weather_, Moved(3600));
  ASSERT_TRUE(check.shifted) << check.evidence;
  EXPECT_EQ(check.days_out, 0u);
  EXPECT_GT(check.late_in_min, 50);
  EXPECT_LT(check.late_in_min, 90);
  EXPECT_NE(check.evidence.find("on all"), std::string::npos) << check.evidence;
  // Half an hour (a file stamped at its periods' ends, say) is not daylight saving.
  const ClockCheck half = CheckClock(site_, weather_, Moved(1800));
  EXPECT_FALSE(half.shifted) << half.evidence;
}

TEST_F(ClockCheckTest, AnHourLateForFiveWeeksIsFoundWithItsStretch) {
  const int64_t aug15 = 1471219200 + 7 * 3600;  // 2016-08-15 00:00 -07:00
  const int64_t sep21 = 1474416000 + 7 * 3600;  // 2016-09-21 00:00 -07:00
  const ClockCheck check = CheckClock(site_, weather_, Moved(3600, aug15, sep21));
  ASSERT_TRUE(check.shifted) << check.evidence;
  // Days run from the site's solar midnight (about 07:00 UTC): the stretch is those days.
  EXPECT_NEAR(static_cast<double>(check.from_utc_s - aug15), 0, 3600) << check.evidence;
  EXPECT_NEAR(static_cast<double>(check.to_utc_s - sep21), 0, 3600) << check.evidence;
  EXPECT_NEAR(check.late_in_min - check.late_out_min, 60, 10) << check.evidence;
  EXPECT_NE(check.evidence.find("from 2016-08-15 to 2016-09-20"), std::string::npos)
      << check.evidence;
  // The same an hour early: found the same way.
  const ClockCheck early = CheckClock(site_, weather_, Moved(-3600, aug15, sep21));
  ASSERT_TRUE(early.shifted) << early.evidence;
  EXPECT_NEAR(early.late_in_min - early.late_out_min, -60, 10) << early.evidence;
}

TEST_F(ClockCheckTest, TooFewDaysConcludeNothing) {
  PowerSeries week = measured_;
  week.time_utc_s.resize(96 * 10);
  week.power_w.resize(96 * 10);
  for (int64_t& t : week.time_utc_s) t += 3600;  // an hour off, but only ten days of it
  const ClockCheck check = CheckClock(site_, weather_, week);
  EXPECT_FALSE(check.shifted);
  EXPECT_NE(check.evidence.find("the clock was not checked (14 needed)"), std::string::npos)
      << check.evidence;
  SiteModel wind_only;
  EXPECT_FALSE(CheckClock(wind_only, weather_, measured_).shifted);
}

}  // namespace
}  // namespace greenshift::energy
