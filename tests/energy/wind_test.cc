#include "energy/wind.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/files.h"

namespace greenshift::energy {
namespace {

const std::string kData = GREENSHIFT_SOURCE_DIR "/data/wind/";

std::vector<PowerCurve> RealCurves() {
  Result<std::string> text = ReadFile(kData + "power_curves.csv");
  EXPECT_TRUE(text.ok()) << text.error();
  Result<std::vector<PowerCurve>> curves = ParsePowerCurves(*text, "power_curves.csv");
  EXPECT_TRUE(curves.ok()) << curves.error();
  return curves.ok() ? *curves : std::vector<PowerCurve>{};
}

TEST(PowerCurveTest, ParsesEveryRealTurbine) {
  std::vector<PowerCurve> curves = RealCurves();
  EXPECT_EQ(curves.size(), 67u);
  for (const PowerCurve& curve : curves) {
    EXPECT_GT(curve.RatedPowerW(), 0) << curve.turbine_type;
    EXPECT_EQ(curve.speed_m_s.size(), curve.power_w.size());
  }
}

TEST(PowerCurveTest, TheEnerconE126AtItsListedPoints) {
  Result<PowerCurve> e126 = FindPowerCurve(RealCurves(), "E-126/4200");
  ASSERT_TRUE(e126.ok()) << e126.error();
  EXPECT_DOUBLE_EQ(e126->RatedPowerW(), 4200000);
  EXPECT_DOUBLE_EQ(PowerAtW(*e126, 3.0), 58000);
  EXPECT_DOUBLE_EQ(PowerAtW(*e126, 8.0), 1790000);
  EXPECT_DOUBLE_EQ(PowerAtW(*e126, 25.0), 4200000);
}

TEST(PowerCurveTest, InterpolatesLinearlyBetweenPoints) {
  Result<PowerCurve> e126 = FindPowerCurve(RealCurves(), "E-126/4200");
  ASSERT_TRUE(e126.ok());
  // 7.0 m/s: 1200000 W, 8.0 m/s: 1790000 W.
  EXPECT_DOUBLE_EQ(PowerAtW(*e126, 7.5), 1495000);
  EXPECT_DOUBLE_EQ(PowerAtW(*e126, 7.25), 1347500);
}

TEST(PowerCurveTest, NothingBelowCutInOrAboveCutOut) {
  Result<PowerCurve> e126 = FindPowerCurve(RealCurves(), "E-126/4200");
  ASSERT_TRUE(e126.ok());
  EXPECT_DOUBLE_EQ(e126->CutInSpeedMs(), 2.0);  // 0 W at 2.0, 58 kW at 3.0
  EXPECT_DOUBLE_EQ(e126->CutOutSpeedMs(), 25.0);
  EXPECT_DOUBLE_EQ(PowerAtW(*e126, 1.0), 0);
  EXPECT_DOUBLE_EQ(PowerAtW(*e126, 2.0), 0);
  EXPECT_GT(PowerAtW(*e126, 2.1), 0);
  EXPECT_DOUBLE_EQ(PowerAtW(*e126, 25.01), 0);  // storm: the turbine shuts down
  EXPECT_DOUBLE_EQ(PowerAtW(*e126, 40), 0);
  EXPECT_DOUBLE_EQ(PowerAtW(*e126, -3), 0);
  EXPECT_DOUBLE_EQ(PowerAtW(*e126, NAN), 0);
}

TEST(PowerCurveTest, RatedPowerHoldsFromRatedSpeedToCutOut) {
  Result<PowerCurve> e82 = FindPowerCurve(RealCurves(), "E-82/2000");
  ASSERT_TRUE(e82.ok());
  EXPECT_DOUBLE_EQ(e82->RatedPowerW(), 2050000);
  for (double v = 14.0; v <= e82->CutOutSpeedMs(); v += 0.5) {
    EXPECT_DOUBLE_EQ(PowerAtW(*e82, v), 2050000) << v;
  }
  // Monotonic below rated speed.
  for (double v = e82->CutInSpeedMs(); v < 13.0; v += 0.1) {
    EXPECT_LE(PowerAtW(*e82, v), PowerAtW(*e82, v + 0.1)) << v;
  }
}

TEST(PowerCurveTest, UnknownTurbineNamesItAndSomeKnownOnes) {
  Result<PowerCurve> none = FindPowerCurve(RealCurves(), "X-1/1");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().find("'X-1/1'"), std::string::npos);
  EXPECT_NE(none.error().find("AD116/5000"), std::string::npos);
}

TEST(PowerCurveTest, MalformedTablesNameFileLineAndField) {
  EXPECT_NE(ParsePowerCurves("", "c.csv").error().find("c.csv: empty"), std::string::npos);
  EXPECT_NE(ParsePowerCurves("name,1,2\nA,0,1\n", "c.csv").error().find("header"),
            std::string::npos);
  Result<std::vector<PowerCurve>> bad_number =
      ParsePowerCurves("turbine_type,1.0,2.0,3.0\nT1,0,abc,5\n", "c.csv");
  ASSERT_FALSE(bad_number.ok());
  EXPECT_NE(bad_number.error().find("c.csv line 2"), std::string::npos) << bad_number.error();
  EXPECT_NE(bad_number.error().find("'abc'"), std::string::npos);
  EXPECT_NE(ParsePowerCurves("turbine_type,1.0,2.0\nT1,0,5,7,9\n", "c.csv").error().find("fields"),
            std::string::npos);
  EXPECT_NE(ParsePowerCurves("turbine_type,2.0,1.0\nT1,0,5\n", "c.csv").error().find("increase"),
            std::string::npos);
  EXPECT_NE(ParsePowerCurves("turbine_type,1.0,2.0\nT1,0,-5\n", "c.csv").error().find("negative"),
            std::string::npos);
  EXPECT_NE(ParsePowerCurves("turbine_type,1.0,2.0\nT1,,5\n", "c.csv").error().find("fewer than 2"),
            std::string::npos);
}

WindWeather RealWeather() {
  Result<std::string> text = ReadFile(kData + "windpowerlib_weather_2010.csv");
  EXPECT_TRUE(text.ok());
  Result<WindWeather> weather = ParseWindpowerlibWeather(*text, "windpowerlib_weather_2010.csv");
  EXPECT_TRUE(weather.ok()) << weather.error();
  return weather.ok() ? *weather : WindWeather{};
}

TEST(WindWeatherTest, ParsesTheRealYearWithHeightsAndUnits) {
  WindWeather weather = RealWeather();
  ASSERT_EQ(weather.time_utc_s.size(), 8760u);
  EXPECT_EQ(weather.time_utc_s[0], 1262300400);  // 2010-01-01 00:00:00+01:00 = 2009-12-31 23:00Z
  EXPECT_EQ(weather.time_utc_s[1] - weather.time_utc_s[0], 3600);
  EXPECT_EQ(weather.HeightsOf("wind_speed"), (std::vector<double>{10, 80}));
  EXPECT_EQ(weather.HeightsOf("temperature"), (std::vector<double>{2, 10}));
  EXPECT_DOUBLE_EQ(weather.series.at({"wind_speed", 80})[0], 7.80697);
  EXPECT_NEAR(weather.series.at({"temperature", 2})[0], 267.6 - 273.15, 1e-9);  // °C now
  EXPECT_DOUBLE_EQ(weather.series.at({"pressure", 0})[0], 98405.7);
}

TEST(WindWeatherTest, MalformedFilesNameFileLineAndField) {
  const std::string head = "variable_name,pressure,wind_speed\nheight,0,10\n";
  EXPECT_NE(ParseWindpowerlibWeather(head, "w.csv").error().find("two header rows"),
            std::string::npos);
  EXPECT_NE(ParseWindpowerlibWeather("variable_name,pressure,wind_speed\nheight,0\n"
                                     "2010-01-01 00:00:00+01:00,1,2\n",
                                     "w.csv")
                .error()
                .find("w.csv line 2"),
            std::string::npos);
  Result<WindWeather> truncated =
      ParseWindpowerlibWeather(head + "2010-01-01 00:00:00+01:00,98000\n", "w.csv");
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.error().find("w.csv line 3: 2 fields, expected 3"), std::string::npos)
      << truncated.error();
  Result<WindWeather> bad_value =
      ParseWindpowerlibWeather(head + "2010-01-01 00:00:00+01:00,98000,fast\n", "w.csv");
  EXPECT_NE(bad_value.error().find("field 'wind_speed'"), std::string::npos) << bad_value.error();
  EXPECT_NE(ParseWindpowerlibWeather(head + "2010-01-01 00:00:00,98000,3\n", "w.csv")
                .error()
                .find("no UTC offset"),
            std::string::npos);
  EXPECT_NE(ParseWindpowerlibWeather(head + "2010-01-01 01:00:00+01:00,98000,3\n"
                                            "2010-01-01 00:00:00+01:00,98000,3\n",
                                     "w.csv")
                .error()
                .find("does not come after"),
            std::string::npos);
  // Wrong units: wind speed in km/h instead of m/s shows as impossible values; temperatures in
  // °C where kelvin belongs are refused.
  EXPECT_NE(ParseWindpowerlibWeather(head + "2010-01-01 00:00:00+01:00,98000,150\n", "w.csv")
                .error()
                .find("impossible"),
            std::string::npos);
  EXPECT_NE(ParseWindpowerlibWeather("variable_name,temperature\nheight,2\n"
                                     "2010-01-01 00:00:00+01:00,-5.0\n",
                                     "w.csv")
                .error()
                .find("kelvin"),
            std::string::npos);
}

TEST(WindYieldTest, LogProfileCarriesSpeedUpward) {
  EXPECT_DOUBLE_EQ(HubHeightSpeedMs(7.0, 80, 80, 0.15), 7.0);
  // ln(135/0.15) / ln(80/0.15) = 1.0834...
  EXPECT_NEAR(HubHeightSpeedMs(7.0, 80, 135, 0.15), 7.0 * std::log(900.0) / std::log(533.333333),
              1e-9);
  EXPECT_GT(HubHeightSpeedMs(7.0, 80, 135, 0.5), HubHeightSpeedMs(7.0, 80, 135, 0.05));
}

TEST(WindYieldTest, AYearOfTheE126AtHubHeight135) {
  Result<PowerCurve> e126 = FindPowerCurve(RealCurves(), "E-126/4200");
  ASSERT_TRUE(e126.ok());
  Result<WindYield> yield = ComputeWindYield(*e126, RealWeather(), 135);
  ASSERT_TRUE(yield.ok()) << yield.error();
  EXPECT_DOUBLE_EQ(yield->hours, 8760);
  EXPECT_EQ(yield->measured_height_m, 80);
  // A 4.2 MW turbine in a lowland German year: a capacity factor between 15% and 45%.
  EXPECT_GT(yield->capacity_factor, 0.15);
  EXPECT_LT(yield->capacity_factor, 0.45);
  double sum_wh = 0;
  for (double w : yield->power_w) sum_wh += w;
  EXPECT_NEAR(yield->energy_kwh, sum_wh / 1000.0, 1e-6);
  // A taller hub in the same wind yields more.
  Result<WindYield> lower = ComputeWindYield(*e126, RealWeather(), 99);
  ASSERT_TRUE(lower.ok());
  EXPECT_LT(lower->energy_kwh, yield->energy_kwh);
}

}  // namespace
}  // namespace greenshift::energy
