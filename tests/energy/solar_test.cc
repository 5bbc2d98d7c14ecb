#include "energy/solar.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/files.h"
#include "energy/csv.h"

namespace greenshift::energy {
namespace {

constexpr int64_t kEquinoxNoonUtc = 1679313600;  // 2023-03-20 12:00:00 UTC (equinox 21:24 UTC)

TEST(SolarPositionTest, NoonAtTheEquinoxStandsAtTheLatitude) {
  // Solar noon at Greenwich is about 12:07 UTC in March (equation of time).
  SunPosition sun = SolarPosition(kEquinoxNoonUtc + 7 * 60, 40.0, 0.0);
  EXPECT_NEAR(sun.zenith_deg, 40.0, 1.0);
  EXPECT_NEAR(sun.azimuth_deg, 180.0, 2.0);
  // Southern hemisphere: the sun stands north.
  sun = SolarPosition(kEquinoxNoonUtc + 7 * 60, -30.0, 0.0);
  EXPECT_NEAR(sun.zenith_deg, 30.0, 1.0);
  EXPECT_TRUE(sun.azimuth_deg < 2.0 || sun.azimuth_deg > 358.0) << sun.azimuth_deg;
}

TEST(SolarPositionTest, MorningInTheEastNightBelowTheHorizon) {
  // Golden, Colorado (UTC-7 in summer), 2016-07-01 08:00 local = 14:00 UTC.
  const int64_t morning = 1467381600;
  SunPosition sun = SolarPosition(morning, 39.742, -105.179);
  EXPECT_GT(sun.azimuth_deg, 60);
  EXPECT_LT(sun.azimuth_deg, 110);
  EXPECT_LT(sun.zenith_deg, 90);
  EXPECT_GT(SolarPosition(morning + 14 * 3600, 39.742, -105.179).zenith_deg, 90);  // 22:00
}

TEST(PvModelTest, PlaneOfArrayAndPower) {
  PvSystem system;
  system.tilt_deg = 0;
  system.capacity_w = 5000;
  system.derate = 1.0;
  system.temperature_coefficient = -0.004;
  system.cell_heating_c_per_w_m2 = 0;
  SunPosition overhead{0, 180};
  // Flat array, sun overhead: POA = DNI + DHI.
  EXPECT_NEAR(PlaneOfArrayW(system, overhead, {1000, 900, 100}), 1000, 1e-9);
  // At 25 °C, 1000 W/m²: rated power; at 35 °C, 4% less.
  EXPECT_NEAR(PvAcPowerW(system, 1000, 25), 5000, 1e-9);
  EXPECT_NEAR(PvAcPowerW(system, 1000, 35), 4800, 1e-9);
  system.inverter_limit_w = 4500;
  EXPECT_DOUBLE_EQ(PvAcPowerW(system, 1000, 25), 4500);  // clipped
  EXPECT_DOUBLE_EQ(PvAcPowerW(system, 0, 25), 0);
  EXPECT_DOUBLE_EQ(PvAcPowerW(system, NAN, 25), 0);
  // A tilted array facing away from a low sun gets only diffuse light.
  system.tilt_deg = 45;
  system.azimuth_deg = 180;
  SunPosition low_north{80, 0};
  const double poa = PlaneOfArrayW(system, low_north, {100, 500, 50});
  EXPECT_LT(poa, 50);
}

TEST(PvModelTest, ClearSkyIndexScalesTheComponents) {
  const Irradiance clear{800, 850, 100};
  Irradiance same = FromClearSkyIndex(800, clear);
  EXPECT_NEAR(same.dni_w_m2, 850, 1e-9);
  EXPECT_NEAR(same.dhi_w_m2, 100, 1e-9);
  Irradiance overcast = FromClearSkyIndex(200, clear);  // index 0.25
  EXPECT_NEAR(overcast.dni_w_m2, 850 * 0.0625, 1e-9);
  EXPECT_NEAR(overcast.ghi_w_m2, 200, 1e-9);
  EXPECT_GT(overcast.dhi_w_m2, 100);  // clouds scatter the beam into diffuse light
  Irradiance night = FromClearSkyIndex(0, {0, 0, 0});
  EXPECT_EQ(night.dni_w_m2, 0);
}

TEST(PvModelTest, TheTalksFormulaIsAProduct) {
  EXPECT_DOUBLE_EQ(TalkFormulaW(2.0, 500, 3, 20), 60000);
  EXPECT_DOUBLE_EQ(TalkFormulaW(2.0, 500, 3, -5), 0);  // no negative energy below 0 °C
  Result<double> scale = FitTalkFormula({100, 200}, {}, {10, 10}, {1000, 2000});
  ASSERT_TRUE(scale.ok());
  EXPECT_NEAR(*scale, 1.0, 1e-12);
}

TEST(TimeSeriesCsvTest, ReadsTheRealSerfFiles) {
  Result<std::string> text = ReadFile(GREENSHIFT_SOURCE_DIR "/data/pv/serf_east_psm3_data.csv");
  ASSERT_TRUE(text.ok());
  Result<TimeSeriesTable> table = ParseTimeSeriesCsv(*text, "serf_east_psm3_data.csv");
  ASSERT_TRUE(table.ok()) << table.error();
  EXPECT_EQ(table->time_utc_s.size(), 10000u);
  EXPECT_EQ(table->time_utc_s[0], 1467356400);  // 2016-07-01 00:00:00-07:00
  EXPECT_EQ(table->time_utc_s[1] - table->time_utc_s[0], 900);
  Result<const std::vector<double>*> temp = table->Column("temp_air");
  ASSERT_TRUE(temp.ok());
  EXPECT_DOUBLE_EQ((**temp)[0], 14.5);
  Result<const std::vector<double>*> missing = table->Column("wind_speed");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("no column 'wind_speed'"), std::string::npos);
  EXPECT_NE(missing.error().find("ghi_clear"), std::string::npos);
}

TEST(TimeSeriesCsvTest, MalformedInputNamesFileLineAndField) {
  EXPECT_NE(ParseTimeSeriesCsv("t,a\n", "p.csv").error().find("p.csv"), std::string::npos);
  Result<TimeSeriesTable> truncated =
      ParseTimeSeriesCsv("t,a,b\n2016-07-01 00:00:00-07:00,1\n", "p.csv");
  EXPECT_NE(truncated.error().find("p.csv line 2: 2 fields, expected 3"), std::string::npos)
      << truncated.error();
  Result<TimeSeriesTable> text_value =
      ParseTimeSeriesCsv("t,ghi\n2016-07-01 00:00:00-07:00,bright\n", "p.csv");
  EXPECT_NE(text_value.error().find("p.csv line 2, field 'ghi': 'bright' is not a number"),
            std::string::npos)
      << text_value.error();
  EXPECT_NE(ParseTimeSeriesCsv("t,ghi\n2016-07-01 00:00:00,5\n", "p.csv").error().find("offset"),
            std::string::npos);
  EXPECT_NE(
      ParseTimeSeriesCsv("t,ghi\n2016-07-01 00:00:00-07:00,\n", "p.csv").error().find("empty"),
      std::string::npos);
  EXPECT_NE(ParseTimeSeriesCsv("t,ghi\n2016-13-01 00:00:00-07:00,5\n", "p.csv")
                .error()
                .find("p.csv line 2, field 't': '2016-13-01 00:00:00-07:00' has no month 13"),
            std::string::npos);
}

TEST(PvOrientationTest, TheEquatorAndThePole) {
  EXPECT_EQ(EquatorAzimuthDeg(50), 180);
  EXPECT_EQ(EquatorAzimuthDeg(-33.9), 0);
  EXPECT_FALSE(PvFacesThePole(180, 50));
  EXPECT_TRUE(PvFacesThePole(0, 50));
  EXPECT_TRUE(PvFacesThePole(315, 50));
  EXPECT_TRUE(PvFacesThePole(45, 50));
  EXPECT_FALSE(PvFacesThePole(90, 50));  // east: not the pole
  EXPECT_FALSE(PvFacesThePole(270, 50));
  EXPECT_TRUE(PvFacesThePole(180, -33.9));
  EXPECT_FALSE(PvFacesThePole(0, -33.9));
  EXPECT_FALSE(PvFacesThePole(359, -33.9));
  EXPECT_TRUE(PvFacesThePole(135, -33.9));
  EXPECT_FALSE(PvFacesThePole(0, 0));  // on the equator nothing faces a pole
}

TEST(CsvTest, QuotedFieldsAndCarriageReturns) {
  EXPECT_EQ(SplitCsvLine("a,\"b,c\",\"d\"\"e\"\r"), (std::vector<std::string>{"a", "b,c", "d\"e"}));
  EXPECT_EQ(SplitCsvLine("x;y", ';'), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(SplitCsvLine(""), (std::vector<std::string>{""}));
}

}  // namespace
}  // namespace greenshift::energy

namespace greenshift::energy {
namespace {

TEST(ClearSkyTest, HaurwitzAndCloudCover) {
  EXPECT_NEAR(ClearSkyGhiHaurwitz(0), 1098.0 * std::exp(-0.057), 1e-9);  // about 1037 W/m²
  EXPECT_GT(ClearSkyGhiHaurwitz(30), ClearSkyGhiHaurwitz(60));
  EXPECT_EQ(ClearSkyGhiHaurwitz(95), 0);
  EXPECT_DOUBLE_EQ(GhiFromCloudCover(800, 0), 800);
  EXPECT_NEAR(GhiFromCloudCover(800, 1), 200, 1e-9);  // overcast keeps a quarter
  EXPECT_GT(GhiFromCloudCover(800, 0.5), GhiFromCloudCover(800, 0.8));
  EXPECT_DOUBLE_EQ(GhiFromCloudCover(800, NAN), 800);
}

TEST(ClearSkyTest, ErbsSplitsBeamAndDiffuse) {
  // A clear summer noon: mostly beam.
  Irradiance clear = ErbsDecomposition(900, 25, 1467381600);
  EXPECT_LT(clear.dhi_w_m2, 0.3 * clear.ghi_w_m2);
  EXPECT_NEAR(clear.dni_w_m2 * std::cos(25 * 3.14159265358979 / 180) + clear.dhi_w_m2, 900, 1e-6);
  // Overcast: almost all diffuse.
  Irradiance overcast = ErbsDecomposition(100, 25, 1467381600);
  EXPECT_GT(overcast.dhi_w_m2, 0.9 * overcast.ghi_w_m2);
  EXPECT_EQ(ErbsDecomposition(50, 89, 0).dni_w_m2, 0);
}

}  // namespace
}  // namespace greenshift::energy
