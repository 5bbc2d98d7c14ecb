#include "energy/weather.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/files.h"

namespace greenshift::energy {
namespace {

std::string Data(const std::string& name) {
  Result<std::string> text = ReadFile(GREENSHIFT_SOURCE_DIR "/data/weather/" + name);
  EXPECT_TRUE(text.ok()) << text.error();
  return text.ok() ? *text : "";
}

void ExpectHourlyYear(const WeatherSeries& w) {
  ASSERT_EQ(w.size(), 8760u);
  for (size_t i = 1; i < w.size(); ++i) ASSERT_EQ(w.time_utc_s[i] - w.time_utc_s[i - 1], 3600) << i;
}

TEST(OpenMeteoTest, ParsesTheArchiveResponseAndConvertsUnits) {
  Result<WeatherSeries> w = ParseOpenMeteoJson(Data("openmeteo_DE-LU_2022.json"), "de.json");
  ASSERT_TRUE(w.ok()) << w.error();
  ExpectHourlyYear(*w);
  EXPECT_NEAR(w->latitude_deg, 50.08787, 1e-9);
  // 2022-01-01T00:00 at UTC+1 is 2021-12-31T23:00Z.
  EXPECT_EQ(w->time_utc_s[0], 1640991600);
  EXPECT_FALSE(w->HasIrradiance());  // this response asked for cloud cover, not radiation
  double max_wind = 0;
  for (double v : w->wind_speed_m_s) max_wind = std::max(max_wind, v);
  EXPECT_GT(max_wind, 5);   // km/h converted to m/s: a stormy Frankfurt hour
  EXPECT_LT(max_wind, 40);  // and not left in km/h
  for (double c : w->cloud_cover) ASSERT_TRUE(c >= 0 && c <= 1);
}

TEST(OpenMeteoTest, SanJoseIsSevenHoursBehind) {
  Result<WeatherSeries> w = ParseOpenMeteoJson(Data("openmeteo_US-CAL-CISO_2022.json"), "us.json");
  ASSERT_TRUE(w.ok()) << w.error();
  EXPECT_EQ(w->time_utc_s[0], 1641020400);  // 2022-01-01T00:00-07:00 (the response's fixed offset)
}

TEST(OpenMeteoTest, BadResponsesSayWhatIsWrong) {
  EXPECT_NE(ParseOpenMeteoJson("{", "x.json").error().find("x.json: not valid JSON"),
            std::string::npos);
  EXPECT_NE(ParseOpenMeteoJson(R"({"error":true,"reason":"Latitude must be in range"})", "x.json")
                .error()
                .find("Latitude must be in range"),
            std::string::npos);
  const std::string head =
      R"({"latitude":1,"longitude":2,"utc_offset_seconds":0,"hourly_units":{"time":"iso8601","windspeed_10m":")";
  EXPECT_NE(ParseOpenMeteoJson(
                head + R"(furlongs"},"hourly":{"time":["2022-01-01T00:00"],"windspeed_10m":[3]}})",
                "x.json")
                .error()
                .find("'furlongs' is not a speed unit"),
            std::string::npos);
  EXPECT_NE(
      ParseOpenMeteoJson(
          head +
              R"(km/h"},"hourly":{"time":["2022-01-01T00:00","2022-01-01T01:00"],"windspeed_10m":[3]}})",
          "x.json")
          .error()
          .find("1 values for 2 times"),
      std::string::npos);
  EXPECT_NE(ParseOpenMeteoJson(R"({"latitude":1,"hourly":{}})", "x.json")
                .error()
                .find("not an Open-Meteo response"),
            std::string::npos);
  // m/s given where km/h was meant shows up as an impossible speed.
  EXPECT_NE(
      ParseOpenMeteoJson(
          head + R"(m/s"},"hourly":{"time":["2022-01-01T00:00"],"windspeed_10m":[120]}})", "x.json")
          .error()
          .find("wrong unit"),
      std::string::npos);
  Result<WeatherSeries> nulls = ParseOpenMeteoJson(
      head + R"(km/h"},"hourly":{"time":["2022-01-01T00:00"],"windspeed_10m":[null]}})", "x.json");
  ASSERT_TRUE(nulls.ok()) << nulls.error();
  EXPECT_TRUE(std::isnan(nulls->wind_speed_m_s[0]));
}

TEST(OpenMeteoTest, EveryDocumentedShape) {
  // One hour at Frankfurt written four ways the API answers: ISO local times with the offset,
  // unix times (UTC whatever the offset), new variable names, no units block (the defaults).
  const std::string iso =
      R"({"latitude":50.1,"longitude":8.7,"utc_offset_seconds":3600,"hourly_units":)"
      R"({"time":"iso8601","temperature_2m":"°C","windspeed_10m":"km/h","cloudcover":"%"},)"
      R"("hourly":{"time":["2022-06-01T13:00","2022-06-01T14:00"],"temperature_2m":[20,21],)"
      R"("windspeed_10m":[36,18],"cloudcover":[50,100]}})";
  const std::string unix_new_names =
      R"({"latitude":50.1,"longitude":8.7,"utc_offset_seconds":3600,"hourly":)"
      R"({"time":[1654084800,1654088400],"temperature_2m":[20,21],"wind_speed_10m":[36,18],)"
      R"("cloud_cover":[50,100]}})";
  Result<WeatherSeries> a = ParseOpenMeteoJson(iso, "iso.json");
  Result<WeatherSeries> b = ParseOpenMeteoJson(unix_new_names, "unix.json");
  ASSERT_TRUE(a.ok()) << a.error();
  ASSERT_TRUE(b.ok()) << b.error();
  EXPECT_EQ(a->time_utc_s, (std::vector<int64_t>{1654084800, 1654088400}));  // 12:00Z, 13:00Z
  EXPECT_EQ(b->time_utc_s, a->time_utc_s);
  EXPECT_EQ(b->wind_speed_m_s, a->wind_speed_m_s);  // km/h by default: 10 and 5 m/s
  EXPECT_DOUBLE_EQ(a->wind_speed_m_s[0], 10);
  EXPECT_EQ(b->cloud_cover, (std::vector<double>{0.5, 1}));
  // 15-minute data beside hourly: the 15-minute steps are read.
  const std::string minutely =
      R"({"latitude":50.1,"longitude":8.7,"utc_offset_seconds":0,)"
      R"("minutely_15_units":{"shortwave_radiation":"W/m²"},"minutely_15":)"
      R"({"time":["2022-06-01T12:00","2022-06-01T12:15","2022-06-01T12:30"],)"
      R"("shortwave_radiation":[700,710,null]},)"
      R"("hourly":{"time":["2022-06-01T12:00"],"shortwave_radiation":[705]}})";
  Result<WeatherSeries> m = ParseOpenMeteoJson(minutely, "m.json");
  ASSERT_TRUE(m.ok()) << m.error();
  ASSERT_EQ(m->size(), 3u);
  EXPECT_EQ(m->time_utc_s[1] - m->time_utc_s[0], 900);
  EXPECT_EQ(m->ghi_w_m2[1], 710);
  EXPECT_TRUE(std::isnan(m->ghi_w_m2[2]));
  // Several locations in one response: the one nearest the site.
  const std::string two = "[" + iso + "," +
                          R"({"latitude":51.5,"longitude":-0.1,"utc_offset_seconds":0,"hourly":)"
                          R"({"time":["2022-06-01T12:00"],"temperature_2m":[15]}}])";
  Result<WeatherSeries> london = ParseOpenMeteoJson(two, "two.json", 51.4, 0.0);
  ASSERT_TRUE(london.ok()) << london.error();
  EXPECT_EQ(london->air_temperature_c, (std::vector<double>{15}));
  Result<WeatherSeries> frankfurt = ParseOpenMeteoJson(two, "two.json", 50, 8);
  ASSERT_TRUE(frankfurt.ok());
  EXPECT_EQ(frankfurt->size(), 2u);
  // What is wrong is named, in the file's terms.
  struct Case {
    std::string text, why;
  };
  const Case bad[] = {
      {two, "holds 2 locations (several in one request): give the site's latitude"},
      {"[]", "is an empty array of locations"},
      {"[1,2]", "location [0] of the array is not an object with a numeric latitude"},
      {"3", "is neither an object nor an array"},
      {R"({"latitude":1,"longitude":2})", "has no 'hourly' or 'minutely_15' data with 'time'"},
      {R"({"latitude":1,"longitude":2,"hourly":{"time":"now"}})", "hourly.time is not an array"},
      {R"({"latitude":1,"longitude":2,"hourly":{"time":[true]}})",
       "hourly.time[0] is neither a time nor a number"},
      {R"({"latitude":1,"longitude":2,"hourly":{"time":["June"]}})",
       "hourly.time[0] 'June' is not YYYY-MM-DDTHH:MM (or a unix time)"},
      {R"({"latitude":1,"longitude":2,"utc_offset_seconds":"1h","hourly":{"time":[0]}})",
       "utc_offset_seconds is not a whole number of seconds"},
      {R"({"latitude":1,"longitude":2,"hourly":{"time":[0],"temperature_2m":{"a":1}}})",
       "hourly.temperature_2m is not an array"},
      {R"({"latitude":1,"longitude":2,"hourly":{"time":[0],"temperature_2m":["warm"]}})",
       "hourly.temperature_2m[0] is not a number"},
      {R"({"latitude":1,"longitude":2,"hourly":{"time":[0,0]}})", "time does not come after"},
      {R"({"latitude":"north","longitude":2,"hourly":{"time":[0]}})", "has no numeric 'latitude'"},
      {R"({"error":true})", "an Open-Meteo error response: no reason given"},
  };
  for (const Case& c : bad) {
    Result<WeatherSeries> r = ParseOpenMeteoJson(c.text, "x.json");
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_NE(r.error().find(c.why), std::string::npos) << r.error();
    EXPECT_EQ(r.error().find("json.exception"), std::string::npos) << r.error();
  }
}

TEST(EpwTest, ParsesAmsterdam) {
  Result<WeatherSeries> w = ParseEpw(Data("NLD_Amsterdam062400_IWEC.epw"), "ams.epw");
  ASSERT_TRUE(w.ok()) << w.error();
  ExpectHourlyYear(*w);
  EXPECT_NEAR(w->latitude_deg, 52.30, 1e-9);
  EXPECT_NEAR(w->longitude_deg, 4.77, 1e-9);
  EXPECT_EQ(w->time_utc_s[0], 788914800);  // 1995-01-01 00:00 local (UTC+1) = 1994-12-31 23:00Z
  EXPECT_DOUBLE_EQ(w->air_temperature_c[0], 5.1);
  EXPECT_DOUBLE_EQ(w->wind_speed_m_s[0], 6.7);
  EXPECT_DOUBLE_EQ(w->cloud_cover[0], 0.6);
  EXPECT_TRUE(w->HasIrradiance());
  double max_ghi = 0;
  for (double g : w->ghi_w_m2) max_ghi = std::max(max_ghi, g);
  EXPECT_GT(max_ghi, 600);
  EXPECT_LT(max_ghi, 1100);
}

TEST(EpwTest, MalformedFilesNameTheLine) {
  std::string text = Data("NLD_Amsterdam062400_IWEC.epw");
  EXPECT_NE(ParseEpw(text.substr(0, 300), "cut.epw").error().find("cut.epw"), std::string::npos);
  std::string bad = text;
  const size_t row = bad.find("1995,1,1,1,60,");
  bad.replace(bad.find(",5.1,", row), 5, ",hot,");
  EXPECT_NE(ParseEpw(bad, "bad.epw").error().find("bad.epw line 9, field 'dry bulb temperature'"),
            std::string::npos)
      << ParseEpw(bad, "bad.epw").error();
  EXPECT_NE(ParseEpw("NOTLOCATION\n1\n2\n3\n4\n5\n6\n7\n8\n", "x.epw").error().find("LOCATION"),
            std::string::npos);
}

TEST(Tmy3Test, ParsesGreensboro) {
  Result<WeatherSeries> w = ParseTmy3(Data("723170TYA.CSV"), "gso.csv");
  ASSERT_TRUE(w.ok()) << w.error();
  ExpectHourlyYear(*w);
  EXPECT_NEAR(w->latitude_deg, 36.1, 1e-9);
  // 1988 is a leap year, so the typical year is placed in 1987: 1987-01-01 00:00 local (UTC-5).
  EXPECT_EQ(w->time_utc_s[0], 536475600);
  EXPECT_DOUBLE_EQ(w->air_temperature_c[0], 10.0);
  EXPECT_DOUBLE_EQ(w->cloud_cover[0], 1.0);  // 10 tenths
  EXPECT_TRUE(w->HasIrradiance());
}

TEST(Tmy3Test, MissingColumnsAndTruncatedRows) {
  std::string text = Data("723170TYA.CSV");
  std::string renamed = text;
  renamed.replace(renamed.find("Wspd (m/s)"), 10, "Wind (kn) ");
  EXPECT_NE(ParseTmy3(renamed, "t.csv").error().find("no column 'Wspd (m/s)'"), std::string::npos);
  const size_t third = text.find('\n', text.find('\n', text.find('\n') + 1) + 1);
  std::string truncated = text.substr(0, third) + "\n01/01/1988,02:00,0,0\n";
  EXPECT_NE(ParseTmy3(truncated, "t.csv").error().find("t.csv line 4: 4 fields"), std::string::npos)
      << ParseTmy3(truncated, "t.csv").error();
}

TEST(PvgisTest, ParsesTheItalianTmy) {
  Result<WeatherSeries> w = ParsePvgisTmy(Data("tmy_45.000_8.000_2005_2023.csv"), "it.csv");
  ASSERT_TRUE(w.ok()) << w.error();
  ExpectHourlyYear(*w);
  EXPECT_DOUBLE_EQ(w->latitude_deg, 45.0);
  EXPECT_EQ(w->time_utc_s[0], 1514764800);  // 2018-01-01 00:00Z
  EXPECT_DOUBLE_EQ(w->air_temperature_c[0], 2.04);
  EXPECT_DOUBLE_EQ(w->wind_speed_m_s[0], 0.75);
  EXPECT_NEAR(w->relative_humidity[0], 0.9438, 1e-12);
}

TEST(PvgisTest, NotAPvgisFile) {
  EXPECT_NE(ParsePvgisTmy("a,b\n1,2\n", "p.csv").error().find("not a PVGIS TMY file"),
            std::string::npos);
  EXPECT_NE(ParsePvgisTmy("Latitude (decimal degrees): 45\nLongitude (decimal degrees): 8\n"
                          "time(UTC),T2m,RH,G(h),Gb(n),Gd(h),IR(h),WS10m,WD10m,SP\n"
                          "20180101:0000,2.04,94.38,0.0,-0.0,0.0,283.58,windy,257.0,99870.0\n",
                          "p.csv")
                .error()
                .find("p.csv line 4, field 'WS10m'"),
            std::string::npos);
}

}  // namespace
}  // namespace greenshift::energy

namespace greenshift::energy {
namespace {

TEST(Psm3Test, ParsesAYearOfHalfHours) {
  Result<std::string> text = ReadFile(GREENSHIFT_SOURCE_DIR "/data/weather/test_psm3_2017.csv");
  ASSERT_TRUE(text.ok());
  EXPECT_NE(ParseNsrdbPsm3(*text, "psm3.csv", NAN).error().find("refusing to guess"),
            std::string::npos);
  Result<WeatherSeries> w = ParseNsrdbPsm3(*text, "psm3.csv", 0);
  ASSERT_TRUE(w.ok()) << w.error();
  ASSERT_EQ(w->size(), 17520u);
  EXPECT_EQ(w->time_utc_s[0], 1483228800);  // 2017-01-01 00:00Z
  EXPECT_EQ(w->time_utc_s[1] - w->time_utc_s[0], 1800);
  EXPECT_DOUBLE_EQ(w->air_temperature_c[0], -8.4);
  EXPECT_DOUBLE_EQ(w->wind_speed_m_s[1], 0.6);
  EXPECT_TRUE(w->HasIrradiance());
}

TEST(Psm3Test, MetadataGivesTheZoneAndMalformedRowsAreNamed) {
  const std::string meta =
      "Source,Location ID,Latitude,Longitude,Time Zone,Elevation\n"
      "NSRDB,1,40.5,-108.5,-7,1800\n"
      "Year,Month,Day,Hour,Minute,Temperature,GHI,Wind Speed\n";
  Result<WeatherSeries> w = ParseNsrdbPsm3(meta + "2017,1,1,0,0,-8.4,0,0.3\n", "m.csv", NAN);
  ASSERT_TRUE(w.ok()) << w.error();
  EXPECT_EQ(w->time_utc_s[0], 1483228800 + 7 * 3600);
  EXPECT_DOUBLE_EQ(w->latitude_deg, 40.5);
  EXPECT_NE(
      ParseNsrdbPsm3(meta + "2017,1,1,0,0,-8.4,0\n", "m.csv", NAN).error().find("m.csv line 4"),
      std::string::npos);
  EXPECT_NE(
      ParseNsrdbPsm3(meta + "2017,1,1,0,0,-8.4,x,0.3\n", "m.csv", NAN).error().find("field 'GHI'"),
      std::string::npos);
  // Wind in km/h where m/s belongs.
  EXPECT_NE(
      ParseNsrdbPsm3(meta + "2017,1,1,0,0,-8.4,0,130\n", "m.csv", NAN).error().find("wrong unit"),
      std::string::npos);
}

}  // namespace
}  // namespace greenshift::energy

namespace greenshift::energy {
namespace {

// Found by fuzz_epw: a calendar field far outside int's range was cast to int (undefined).
TEST(CalendarFieldTest, OutOfRangeDatesAreErrorsNotCasts) {
  Result<std::string> text =
      ReadFile(GREENSHIFT_SOURCE_DIR "/data/weather/NLD_Amsterdam062400_IWEC.epw");
  ASSERT_TRUE(text.ok());
  std::string bad = *text;
  bad.replace(bad.find("1995,1,1,1,60,"), 14, "1995,4e122,1,1,60,");
  EXPECT_NE(ParseEpw(bad, "e.epw")
                .error()
                .find("e.epw line 9: month 4e+122 is not a whole number in 1..12"),
            std::string::npos)
      << ParseEpw(bad, "e.epw").error();
  const std::string psm3 = "Year,Month,Day,Hour,Minute,Temperature,GHI\n2017,1,1,0.5,0,-8.4,0\n";
  EXPECT_NE(
      ParseNsrdbPsm3(psm3, "p.csv", 0).error().find("p.csv line 2: Hour 0.5 is not a whole number"),
      std::string::npos)
      << ParseNsrdbPsm3(psm3, "p.csv", 0).error();
}

}  // namespace
}  // namespace greenshift::energy
