#include "energy/forecast.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>

#include "core/files.h"
#include "energy/carbon.h"
#include "energy/csv.h"

namespace greenshift::energy {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int64_t kJune1 = 1654041600;  // 2022-06-01 00:00 UTC

// Hourly weather at Frankfurt from `start` for `hours`, clear sky except `cloud` cover.
WeatherSeries CloudWeather(int64_t start, size_t hours, double cloud, double wind_m_s = kNaN) {
  WeatherSeries w;
  w.source = "test weather";
  w.latitude_deg = 50.1;
  w.longitude_deg = 8.7;
  for (size_t h = 0; h < hours; ++h) {
    w.time_utc_s.push_back(start + static_cast<int64_t>(h) * 3600);
    w.ghi_w_m2.push_back(kNaN);
    w.dni_w_m2.push_back(kNaN);
    w.dhi_w_m2.push_back(kNaN);
    w.air_temperature_c.push_back(15);
    w.wind_speed_m_s.push_back(wind_m_s);
    w.cloud_cover.push_back(cloud);
    w.relative_humidity.push_back(kNaN);
  }
  return w;
}

SiteModel FrankfurtPv(double capacity_w = 10000) {
  SiteModel site;
  site.name = "frankfurt";
  PvSystem pv;
  pv.latitude_deg = 50.1;
  pv.longitude_deg = 8.7;
  pv.tilt_deg = 30;
  pv.capacity_w = capacity_w;
  pv.inverter_limit_w = capacity_w;
  site.pv.push_back(pv);
  return site;
}

TEST(AverageIntoSlotsTest, WeighsByOverlapAndLeavesUncoveredSlotsUnknown) {
  PowerSeries quarter;
  quarter.step_s = 900;
  for (int i = 0; i < 8; ++i) {
    quarter.time_utc_s.push_back(kJune1 + i * 900);
    quarter.power_w.push_back(100.0 * i);
  }
  std::vector<double> hourly = AverageIntoSlots(quarter, kJune1, 3600, 3);
  EXPECT_DOUBLE_EQ(hourly[0], 150);  // (0+100+200+300)/4
  EXPECT_DOUBLE_EQ(hourly[1], 550);
  EXPECT_TRUE(std::isnan(hourly[2]));  // nothing measured
  // Half an hour measured is enough; a quarter is not.
  quarter.power_w[6] = kNaN;
  quarter.power_w[7] = kNaN;
  EXPECT_DOUBLE_EQ(AverageIntoSlots(quarter, kJune1 + 3600, 3600, 1)[0], 450);
  quarter.power_w[5] = kNaN;
  EXPECT_TRUE(std::isnan(AverageIntoSlots(quarter, kJune1 + 3600, 3600, 1)[0]));
  // Hourly values into quarter slots: each quarter gets its hour's value.
  PowerSeries hours{{kJune1, kJune1 + 3600}, {10, 20}, 3600};
  std::vector<double> quarters = AverageIntoSlots(hours, kJune1 + 1800, 900, 4);
  EXPECT_EQ(quarters, (std::vector<double>{10, 10, 20, 20}));
}

TEST(ModelPowerTest, PvFollowsTheSunAndTheClouds) {
  const SiteModel site = FrankfurtPv();
  const std::vector<double> clear = ModelPowerW(site, CloudWeather(kJune1, 24, 0));
  const std::vector<double> overcast = ModelPowerW(site, CloudWeather(kJune1, 24, 1));
  EXPECT_EQ(clear[0], 0);      // 00:00-01:00 UTC: night
  EXPECT_EQ(clear[22], 0);     // 22:00-23:00 UTC
  EXPECT_GT(clear[11], 6000);  // around noon in June, clear
  EXPECT_LE(clear[11], 10000);
  EXPECT_LT(overcast[11], 0.4 * clear[11]);
  // Missing weather gives an unknown, not zero.
  WeatherSeries gap = CloudWeather(kJune1, 24, 0);
  gap.cloud_cover[11] = kNaN;
  EXPECT_TRUE(std::isnan(ModelPowerW(site, gap)[11]));
}

TEST(ModelPowerTest, WindThroughTheTurbineCurveAtHubHeight) {
  SiteModel site;
  site.name = "windy";
  WindInstallation turbine;
  turbine.curve = {"test", {3, 12, 25}, {0, 2000000, 2000000}};
  turbine.hub_height_m = 100;
  turbine.count = 3;
  site.wind.push_back(turbine);
  EXPECT_DOUBLE_EQ(site.CapacityW(), 6e6);
  EXPECT_EQ(ModelPowerW(site, CloudWeather(kJune1, 1, 0.5, 1.0))[0], 0);          // below cut-in
  EXPECT_DOUBLE_EQ(ModelPowerW(site, CloudWeather(kJune1, 1, 0.5, 12))[0], 6e6);  // rated
  EXPECT_EQ(ModelPowerW(site, CloudWeather(kJune1, 1, 0.5, 30))[0], 0);           // storm: cut out
}

TEST(ForecastTest, SensorCorrectionFadesOverTheHorizon) {
  const SiteModel site = FrankfurtPv();
  const WeatherSeries weather = CloudWeather(kJune1, 72, 0);
  const std::vector<double> model = ModelPowerW(site, weather);
  // The sensor measured half of what the model said from 09:00 to 12:00 UTC.
  PowerSeries measured;
  measured.step_s = 3600;
  for (int h = 9; h < 12; ++h) {
    measured.time_utc_s.push_back(kJune1 + h * 3600);
    measured.power_w.push_back(0.5 * model[h]);
  }
  ForecastOptions options;
  Result<SiteForecast> forecast =
      ForecastSite(site, weather, measured, kJune1 + 12 * 3600, options);
  ASSERT_TRUE(forecast.ok()) << forecast.error();
  EXPECT_EQ(forecast->green_w.size(), 48u);
  EXPECT_EQ(forecast->sensor_slots, 3u);
  EXPECT_NEAR(forecast->sensor_ratio, 0.5, 1e-9);
  EXPECT_NEAR(forecast->green_w[0], 0.5 * forecast->model_w[0], 1e-6);
  // A day later the correction has faded: within 1 % of the model.
  EXPECT_NEAR(forecast->green_w[24], forecast->model_w[24], 0.01 * forecast->model_w[24]);
  EXPECT_GT(forecast->green_w[2], 0.5 * forecast->model_w[2]);
  EXPECT_LT(forecast->green_w[2], forecast->model_w[2]);

  // At night the sensors say nothing about the model: no correction.
  Result<SiteForecast> night = ForecastSite(site, weather, measured, kJune1 + 23 * 3600, options);
  ASSERT_TRUE(night.ok());
  EXPECT_EQ(night->sensor_slots, 0u);
  EXPECT_EQ(night->sensor_ratio, 1);
  EXPECT_EQ(night->green_w, night->model_w);

  // Past the weather's end: an error naming the slot.
  Result<SiteForecast> beyond = ForecastSite(site, weather, measured, kJune1 + 48 * 3600, options);
  ASSERT_FALSE(beyond.ok());
  EXPECT_NE(beyond.error().find("does not cover the slot at 2022-06-04T00:00Z"), std::string::npos)
      << beyond.error();
}

TEST(CalibrationTest, FitsTheScaleTheMeasurementsShow) {
  const SiteModel site = FrankfurtPv();
  const WeatherSeries weather = CloudWeather(kJune1, 24 * 5, 0.3);
  const std::vector<double> model = ModelPowerW(site, weather);
  PowerSeries measured{weather.time_utc_s, {}, 3600};
  for (double w : model) measured.power_w.push_back(0.8 * w);
  Result<Calibration> calibration = CalibrateSite(site, weather, measured);
  ASSERT_TRUE(calibration.ok()) << calibration.error();
  EXPECT_NEAR(calibration->pv_scale, 0.8, 0.01);
  EXPECT_NEAR(calibration->site.pv[0].derate, 0.8 * site.pv[0].derate, 0.01);
  // Measurements in kW, not W: refused, not fitted.
  for (double& w : measured.power_w) w /= 1000;
  Result<Calibration> wrong_unit = CalibrateSite(site, weather, measured);
  ASSERT_FALSE(wrong_unit.ok());
  EXPECT_NE(wrong_unit.error().find("implausible"), std::string::npos) << wrong_unit.error();
  // Nothing overlaps: an error, not a scale.
  measured.time_utc_s = {kJune1 - 86400};
  measured.power_w = {1000};
  EXPECT_FALSE(CalibrateSite(site, weather, measured).ok());
}

TEST(ScoreTest, NormalizedMaeBiasAndRmseOnCommonSlots) {
  Accuracy a = Score({110, 90, kNaN, 100}, {100, 100, 50, kNaN}, 1000);
  EXPECT_EQ(a.slots, 2u);
  EXPECT_DOUBLE_EQ(a.nmae, 0.01);
  EXPECT_DOUBLE_EQ(a.nbias, 0);
  EXPECT_DOUBLE_EQ(a.nrmse, 0.01);
}

// The real PV system: the calibrated model beats the talk's formula and persistence.
TEST(EvaluateForecastsTest, CalibratedModelBeatsBothBaselinesOnSerfEast) {
  Result<std::string> power_text =
      ReadFile(GREENSHIFT_SOURCE_DIR "/data/pv/serf_east_15min_ac_power.csv");
  Result<std::string> weather_text =
      ReadFile(GREENSHIFT_SOURCE_DIR "/data/pv/serf_east_psm3_data.csv");
  ASSERT_TRUE(power_text.ok() && weather_text.ok());
  Result<TimeSeriesTable> power = ParseTimeSeriesCsv(*power_text, "power.csv");
  Result<TimeSeriesTable> table = ParseTimeSeriesCsv(*weather_text, "weather.csv");
  ASSERT_TRUE(power.ok() && table.ok());
  Result<WeatherSeries> weather = WeatherFromTable(*table, 39.742, -105.179);
  ASSERT_TRUE(weather.ok()) << weather.error();
  EXPECT_EQ(weather->ghi_clear_w_m2.size(), weather->size());
  Result<PowerSeries> measured = PowerSeriesFromTable(*power, "ac_power");
  ASSERT_TRUE(measured.ok());
  EXPECT_EQ(measured->step_s, 900);
  SiteModel site;
  site.name = "serf";
  PvSystem pv;
  pv.latitude_deg = 39.742;
  pv.longitude_deg = -105.179;
  pv.tilt_deg = 45;
  pv.azimuth_deg = 158;
  pv.capacity_w = pv.inverter_limit_w = 5400;
  site.pv.push_back(pv);
  Result<Evaluation> eval = EvaluateForecasts(site, *weather, *measured, EvaluationOptions{});
  ASSERT_TRUE(eval.ok()) << eval.error();
  ASSERT_EQ(eval->methods.size(), 5u);
  std::map<std::string, Accuracy> by_name;
  for (const MethodAccuracy& m : eval->methods) by_name[m.method] = m.accuracy;
  const size_t slots = by_name["calibrated"].slots;
  EXPECT_GT(slots, 1000u);
  for (const auto& [name, accuracy] : by_name) EXPECT_EQ(accuracy.slots, slots) << name;
  EXPECT_LT(by_name["calibrated"].nmae, 0.07);
  EXPECT_LT(by_name["calibrated"].nmae, by_name["talk-formula"].nmae);
  EXPECT_LT(by_name["calibrated"].nmae, by_name["persistence"].nmae);
  EXPECT_LT(std::abs(by_name["calibrated"].nbias), 0.03);
  // Too little data for the training days: a clear error.
  EvaluationOptions long_training;
  long_training.train_days = 200;
  Result<Evaluation> too_short = EvaluateForecasts(site, *weather, *measured, long_training);
  ASSERT_FALSE(too_short.ok());
  EXPECT_NE(too_short.error().find("shorter than 200 training days"), std::string::npos)
      << too_short.error();
}

TEST(WeatherFromTableTest, NeedsIrradianceOrCloudsAndAPlace) {
  Result<TimeSeriesTable> table = ParseTimeSeriesCsv(
      "time,temp_air,wind_speed\n2022-06-01 00:00:00Z,10,3\n2022-06-01 01:00:00Z,11,4\n", "t.csv");
  ASSERT_TRUE(table.ok());
  Result<WeatherSeries> w = WeatherFromTable(*table, 50, 8);
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.error().find("needs a 'ghi' or a 'cloud_cover' column"), std::string::npos);
  table = ParseTimeSeriesCsv(
      "time,ghi,temp_air\n2022-06-01 00:00:00Z,10,3\n2022-06-01 01:00:00Z,11,4\n", "t.csv");
  ASSERT_TRUE(table.ok());
  EXPECT_FALSE(WeatherFromTable(*table, 95, 8).ok());
  EXPECT_TRUE(WeatherFromTable(*table, 50, 8).ok());
  // A temperature in kelvin is caught as a unit error.
  table = ParseTimeSeriesCsv(
      "time,ghi,temp_air\n2022-06-01 00:00:00Z,10,283\n2022-06-01 01:00:00Z,11,284\n", "t.csv");
  ASSERT_TRUE(table.ok());
  Result<WeatherSeries> kelvin = WeatherFromTable(*table, 50, 8);
  ASSERT_FALSE(kelvin.ok());
  EXPECT_NE(kelvin.error().find("air temperature"), std::string::npos) << kelvin.error();
}

TEST(CarbonTest, ElectricityMapsFilesOfTheThreeZones) {
  for (const auto& [file, zone] :
       {std::pair{"DE-LU", "DE"}, std::pair{"GB", "GB"}, std::pair{"US-CAL-CISO", "US-CAL-CISO"}}) {
    const std::string path =
        GREENSHIFT_SOURCE_DIR "/data/carbon/" + std::string(file) + "_2022_hourly.csv";
    Result<std::string> text = ReadFile(path);
    ASSERT_TRUE(text.ok()) << text.error();
    Result<CarbonSeries> carbon = ParseCarbonCsv(*text, path);
    ASSERT_TRUE(carbon.ok()) << carbon.error();
    EXPECT_EQ(carbon->zone, zone);
    EXPECT_EQ(carbon->time_utc_s.size(), 8760u);
    EXPECT_EQ(carbon->time_utc_s.front(), 1640995200);  // 2022-01-01 00:00 UTC
    double sum = 0;
    for (double g : carbon->g_per_kwh) sum += g;
    EXPECT_GT(sum / 8760, 50) << file;
    EXPECT_LT(sum / 8760, 600) << file;
  }
  const std::string de = GREENSHIFT_SOURCE_DIR "/data/carbon/DE-LU_2022_hourly.csv";
  Result<CarbonSeries> lca = ParseCarbonCsv(*ReadFile(de), de, true);
  Result<CarbonSeries> direct = ParseCarbonCsv(*ReadFile(de), de, false);
  ASSERT_TRUE(lca.ok() && direct.ok());
  EXPECT_DOUBLE_EQ(lca->g_per_kwh[0], 213.79);  // the first row of the file
  EXPECT_DOUBLE_EQ(direct->g_per_kwh[0], 163.46);
  EXPECT_DOUBLE_EQ(lca->At(1640995200 + 1800), 213.79);  // within the first hour
  EXPECT_DOUBLE_EQ(lca->At(1640995200 - 7200), 213.79);  // before the span: the first value
}

TEST(CarbonTest, TheCurrentElectricityMapsExportAndItsApiResponses) {
  // The current export: "Zone id", "Carbon intensity ... (Life cycle)".
  const std::string csv =
      "Datetime (UTC),Country,Zone name,Zone id,Carbon intensity gCO₂eq/kWh (direct),"
      "Carbon intensity gCO₂eq/kWh (Life cycle),Carbon-free energy percentage (CFE%),"
      "Renewable energy percentage (RE%),Data source,Data estimated,Data estimation method\n"
      "2024-01-01 00:00:00,Germany,Germany,DE,310.5,360.25,55,50,entsoe.eu,false,\n"
      "2024-01-01 01:00:00,Germany,Germany,DE,300,351,56,51,entsoe.eu,false,\n";
  Result<CarbonSeries> lca = ParseCarbonFile(csv, "2024.csv");
  ASSERT_TRUE(lca.ok()) << lca.error();
  EXPECT_EQ(lca->zone, "DE");
  EXPECT_EQ(lca->g_per_kwh, (std::vector<double>{360.25, 351}));
  EXPECT_EQ(lca->time_utc_s.front(), 1704067200);
  Result<CarbonSeries> direct = ParseCarbonFile(csv, "2024.csv", false);
  ASSERT_TRUE(direct.ok());
  EXPECT_EQ(direct->g_per_kwh, (std::vector<double>{310.5, 300}));

  // The API: latest, history (a null hour left out and counted), forecast, past-range.
  Result<CarbonSeries> latest =
      ParseCarbonFile(R"({"zone":"DE","carbonIntensity":302,"datetime":"2024-05-21T00:00:00.000Z",)"
                      R"("updatedAt":"2024-05-21T00:19:26.036Z","emissionFactorType":"lifecycle",)"
                      R"("isEstimated":false,"estimationMethod":null})",
                      "latest.json");
  ASSERT_TRUE(latest.ok()) << latest.error();
  EXPECT_EQ(latest->zone, "DE");
  EXPECT_EQ(latest->time_utc_s, (std::vector<int64_t>{1716249600}));
  Result<CarbonSeries> history = ParseCarbonFile(
      R"({"zone":"FR","history":[)"
      R"({"zone":"FR","carbonIntensity":40,"datetime":"2024-05-21T00:00:00.000Z"},)"
      R"({"zone":"FR","carbonIntensity":null,"datetime":"2024-05-21T01:00:00.000Z"},)"
      R"({"zone":"FR","carbonIntensity":38.5,"datetime":"2024-05-21T02:00:00+00:00"}]})",
      "history.json");
  ASSERT_TRUE(history.ok()) << history.error();
  EXPECT_EQ(history->g_per_kwh, (std::vector<double>{40, 38.5}));
  EXPECT_EQ(history->missing, 1u);
  EXPECT_EQ(history->time_utc_s[1] - history->time_utc_s[0], 7200);
  Result<CarbonSeries> forecast = ParseCarbonFile(
      R"({"zone":"GB","forecast":[{"carbonIntensity":120,"datetime":"2024-05-21T13:00:00.000Z"},)"
      R"({"carbonIntensity":110,"datetime":"2024-05-21T14:00:00.000Z"}],)"
      R"("updatedAt":"2024-05-21T12:49:39.545Z"})",
      "forecast.json");
  ASSERT_TRUE(forecast.ok()) << forecast.error();
  EXPECT_EQ(forecast->zone, "GB");
  EXPECT_DOUBLE_EQ(forecast->At(1716300000 + 3600), 110);
  Result<CarbonSeries> range = ParseCarbonFile(
      R"({"zone":"GB","data":[{"carbonIntensity":1,"datetime":"2024-05-21T13:00:00Z"}]})",
      "r.json");
  ASSERT_TRUE(range.ok()) << range.error();

  // What is wrong is said, in the response's terms.
  struct Case {
    std::string text, why;
  };
  const Case bad[] = {
      {R"({"error":"Unauthorized: invalid auth-token"})",
       "an Electricity Maps error response: Unauthorized: invalid auth-token"},
      {R"({"status":"error","message":"Zone 'XX' does not exist."})", "Zone 'XX' does not exist."},
      {R"({"zone":"DE"})", "has no 'carbonIntensity', 'history', 'forecast' or 'data'"},
      {R"({"history":{}})", "'history' is not an array"},
      {R"({"history":[1]})", "history[0] is not an object"},
      {R"({"history":[{"carbonIntensity":1}]})", "history[0] has no 'datetime' string"},
      {R"({"history":[{"carbonIntensity":1,"datetime":"2024-05-21T13:00:00"}]})",
       "history[0].datetime '2024-05-21T13:00:00' has no UTC offset"},
      {R"({"history":[{"carbonIntensity":"low","datetime":"2024-05-21T13:00Z"}]})",
       "history[0].carbonIntensity is not a number"},
      {R"({"history":[{"carbonIntensity":-5,"datetime":"2024-05-21T13:00Z"}]})",
       "history[0].carbonIntensity -5 is outside 0..2000"},
      {R"({"history":[{"carbonIntensity":null,"datetime":"2024-05-21T13:00Z"}]})",
       "every entry is null"},
      {R"({"zone":"DE","history":[{"zone":"FR","carbonIntensity":1,"datetime":"2024-05-21T13:00Z"}]})",
       "zone FR in a response for zone DE"},
      {R"({"forecast":[{"carbonIntensity":1,"datetime":"2024-05-21T14:00Z"},)"
       R"({"carbonIntensity":1,"datetime":"2024-05-21T13:00Z"}]})",
       "forecast[1].datetime 2024-05-21T13:00Z does not come after the entry before"},
      {"{", "not valid JSON"},
      {"[1]", "is not a JSON object"},
  };
  for (const Case& c : bad) {
    Result<CarbonSeries> r = ParseCarbonFile(c.text, "em.json");
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_NE(r.error().find(c.why), std::string::npos) << r.error();
    EXPECT_EQ(r.error().rfind("em.json: ", 0), 0u) << r.error();
  }
}

TEST(CarbonTest, EiaFilesAndMalformedInput) {
  Result<CarbonSeries> eia = ParseCarbonCsv(
      "timestamp,WND,SUN,avg_CI\n2022-01-01 00:00:00+00:00,3130.0,1367.0,222.3\n"
      "2022-01-01 01:00:00+00:00,3013.0,0.0,260.9\n",
      "eia.csv", true, "CISO");
  ASSERT_TRUE(eia.ok()) << eia.error();
  EXPECT_EQ(eia->zone, "CISO");
  EXPECT_DOUBLE_EQ(eia->At(1640995200 + 3600), 260.9);
  auto error_of = [](const std::string& text) {
    Result<CarbonSeries> r = ParseCarbonCsv(text, "bad.csv");
    return r.ok() ? std::string("parsed") : r.error();
  };
  EXPECT_NE(error_of("time,value\n2022-01-01 00:00:00Z,1\n").find("not a carbon intensity file"),
            std::string::npos);
  EXPECT_NE(error_of("timestamp,avg_CI\n2022-01-01 00:00:00,222\n").find("no UTC offset"),
            std::string::npos);
  EXPECT_NE(error_of("timestamp,avg_CI\n2022-01-01 00:00:00Z,0.222e5\n").find("bad.csv line 2"),
            std::string::npos);
  EXPECT_NE(error_of("timestamp,avg_CI\n2022-01-01 00:00:00Z,abc\n").find("avg_CI"),
            std::string::npos);
  EXPECT_NE(error_of("timestamp,avg_CI\n2022-01-01 01:00:00Z,1\n2022-01-01 00:00:00Z,1\n")
                .find("does not come after"),
            std::string::npos);
  EXPECT_NE(error_of("timestamp,avg_CI\n2022-01-01 00:00:00Z\n").find("1 fields, expected 2"),
            std::string::npos);
}

}  // namespace
}  // namespace greenshift::energy
