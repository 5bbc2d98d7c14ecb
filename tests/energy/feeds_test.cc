// The live feeds' client against a local HTTP server that serves response files written by the
// project in each documented shape (tests/data/feeds), and every way a fetch fails: HTTP errors
// of each service, a timeout, a body cut short, a connection closed without an answer, a body
// too large, a refused login and an expired token.
#include <gtest/gtest.h>

#include <chrono>

#include "core/clock.h"
#include "core/files.h"
#include "core/http_client.h"
#include "energy/feeds.h"
#include "support/scripted_http_server.h"

namespace greenshift::energy {
namespace {

using testing::ScriptedHttpServer;

std::string FeedData(const std::string& name) {
  Result<std::string> text = ReadFile(GREENSHIFT_SOURCE_DIR "/tests/data/feeds/" + name);
  EXPECT_TRUE(text.ok()) << text.error();
  return text.ok() ? *text : "";
}

ScriptedHttpServer::Answer File(const std::string& name, int status = 200) {
  ScriptedHttpServer::Answer answer;
  answer.status = status;
  answer.body = FeedData(name);
  if (name.size() > 4 && name.substr(name.size() - 4) == ".csv") answer.content_type = "text/csv";
  return answer;
}

int64_t Utc(const char* text) {
  return ParseRfc3339Ms(text).value() / 1000;
}

Result<FeedClient::Fetched> FetchOnce(FeedSpec spec) {
  spec.timeout_s = 2;
  FeedClient client(std::move(spec), HttpGet);
  return client.Fetch();
}

TEST(HttpClientTest, ReturnsTheBodyAndAnyStatusAndFailsClearlyOnTransportErrors) {
  ScriptedHttpServer server;
  server.Set("/ok", {200, "{\"a\":1}"});
  server.Set("/missing", {404, "nope"});
  ScriptedHttpServer::Answer slow{200, "late"};
  slow.delay_ms = 3000;
  server.Set("/slow", slow);
  ScriptedHttpServer::Answer cut{200, std::string(1000, 'x')};
  cut.cut_after = 10;
  server.Set("/cut", cut);
  ScriptedHttpServer::Answer hang_up;
  hang_up.close_at_once = true;
  server.Set("/hangup", hang_up);
  server.Set("/big", {200, std::string(5000, 'y')});

  HttpRequest request;
  request.url = server.Url("/ok");
  Result<HttpResponse> ok = HttpGet(request);
  ASSERT_TRUE(ok.ok()) << ok.error();
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->body, "{\"a\":1}");
  EXPECT_EQ(ok->content_type, "application/json");

  request.url = server.Url("/missing");
  Result<HttpResponse> missing = HttpGet(request);
  ASSERT_TRUE(missing.ok()) << "an HTTP status is the caller's to read";
  EXPECT_EQ(missing->status, 404);

  // The query may hold a key: errors name the URL without it.
  request.url = server.Url("/slow?api_key=secret-key");
  request.timeout_s = 0.3;
  const auto start = std::chrono::steady_clock::now();
  Result<HttpResponse> slow_answer = HttpGet(request);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  ASSERT_FALSE(slow_answer.ok());
  EXPECT_TRUE(slow_answer.status().IsUnavailable());
  EXPECT_NE(slow_answer.error().find("no complete answer within 300 ms"), std::string::npos)
      << slow_answer.error();
  EXPECT_NE(slow_answer.error().find(server.Url("/slow")), std::string::npos);
  EXPECT_EQ(slow_answer.error().find("secret-key"), std::string::npos) << slow_answer.error();

  request.timeout_s = 2;
  request.url = server.Url("/cut");
  Result<HttpResponse> cut_answer = HttpGet(request);
  ASSERT_FALSE(cut_answer.ok());
  EXPECT_TRUE(cut_answer.status().IsUnavailable());
  EXPECT_NE(cut_answer.error().find("cut short after 10 bytes"), std::string::npos)
      << cut_answer.error();

  request.url = server.Url("/hangup");
  Result<HttpResponse> hung_up = HttpGet(request);
  ASSERT_FALSE(hung_up.ok());
  EXPECT_TRUE(hung_up.status().IsUnavailable()) << hung_up.error();

  request.url = server.Url("/big");
  request.max_body_bytes = 1000;
  Result<HttpResponse> big = HttpGet(request);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.error().find("larger than 1000 bytes"), std::string::npos) << big.error();

  // Nothing listens on a port the server has given up.
  int closed_port = 0;
  {
    ScriptedHttpServer gone;
    closed_port = gone.port();
  }
  request.url = "http://127.0.0.1:" + std::to_string(closed_port) + "/";
  Result<HttpResponse> refused = HttpGet(request);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.status().IsUnavailable());

  for (const char* url : {"file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://x", ""}) {
    request.url = url;
    Result<HttpResponse> refused_scheme = HttpGet(request);
    ASSERT_FALSE(refused_scheme.ok()) << url;
    EXPECT_TRUE(refused_scheme.status().IsInvalid()) << url;
  }
}

TEST(HttpClientTest, LogsAUrlWithoutItsCredentialsOrQuery) {
  EXPECT_EQ(UrlForLog("https://user:pw@api.example.org:8443/v3/x?token=abc#frag"),
            "https://api.example.org:8443/v3/x");
  EXPECT_EQ(UrlForLog("http://h/p"), "http://h/p");
  EXPECT_EQ(UrlForLog("https://h?x@y"), "https://h");
  EXPECT_EQ(BodyExcerpt("a\n\tb\x01", 10), "a b?");
  EXPECT_EQ(BodyExcerpt(std::string(300, 'z'), 5), "zzzzz...");
}

TEST(FeedTest, OpenMeteoInEveryDocumentedShape) {
  ScriptedHttpServer server;
  server.Set("/v1/forecast", File("openmeteo_minutely15_unixtime.json"));
  server.Set("/old", File("openmeteo_hourly_iso_old_names.json"));
  server.Set("/two", File("openmeteo_two_locations.json"));
  server.Set("/bad", File("openmeteo_error.json", 400));

  FeedSpec spec;
  spec.kind = FeedKind::kOpenMeteo;
  spec.url = server.Url(
      "/v1/forecast?latitude=52.52&longitude=13.41&minutely_15=shortwave_radiation,"
      "direct_normal_irradiance,diffuse_radiation,temperature_2m,wind_speed_10m,cloud_cover&"
      "timeformat=unixtime");
  Result<FeedClient::Fetched> quarter = FetchOnce(spec);
  ASSERT_TRUE(quarter.ok()) << quarter.error();
  const WeatherSeries& q = quarter->data.weather;
  ASSERT_EQ(q.size(), 12u);
  EXPECT_EQ(q.time_utc_s[0], Utc("2026-06-21T10:00:00Z"));
  EXPECT_EQ(q.time_utc_s[1] - q.time_utc_s[0], 900);
  EXPECT_DOUBLE_EQ(q.ghi_w_m2[2], 720);
  EXPECT_NEAR(q.wind_speed_m_s[0], 4.0, 1e-9);  // 14.4 km/h
  EXPECT_EQ(quarter->body, FeedData("openmeteo_minutely15_unixtime.json"));
  // The query went out whole.
  EXPECT_NE(server.Requests().back().target.find("timeformat=unixtime"), std::string::npos);

  // Local ISO times shifted by utc_offset_seconds; the old variable names.
  spec.url = server.Url("/old");
  Result<FeedClient::Fetched> hourly = FetchOnce(spec);
  ASSERT_TRUE(hourly.ok()) << hourly.error();
  ASSERT_EQ(hourly->data.weather.size(), 24u);
  EXPECT_EQ(hourly->data.weather.time_utc_s[0], Utc("2026-06-21T22:00:00Z"));
  EXPECT_NEAR(hourly->data.weather.cloud_cover[5], 0.35, 1e-9);
  EXPECT_NEAR(hourly->data.weather.wind_speed_m_s[5], 3.0, 1e-9);

  // Several locations: the site's.
  spec.url = server.Url("/two");
  spec.near_latitude_deg = 48.1;
  spec.near_longitude_deg = 11.6;
  Result<FeedClient::Fetched> munich = FetchOnce(spec);
  ASSERT_TRUE(munich.ok()) << munich.error();
  EXPECT_DOUBLE_EQ(munich->data.weather.ghi_w_m2[0], 300);
  spec.near_latitude_deg = 52.5;
  spec.near_longitude_deg = 13.4;
  Result<FeedClient::Fetched> berlin = FetchOnce(spec);
  ASSERT_TRUE(berlin.ok()) << berlin.error();
  EXPECT_DOUBLE_EQ(berlin->data.weather.ghi_w_m2[0], 700);

  // Open-Meteo's error: its reason quoted, not retried (a wrong URL stays wrong).
  spec.url = server.Url("/bad");
  Result<FeedClient::Fetched> bad = FetchOnce(spec);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsInvalid());
  EXPECT_NE(bad.error().find("HTTP 400"), std::string::npos) << bad.error();
  EXPECT_NE(bad.error().find("tempeture_2m"), std::string::npos) << bad.error();
}

TEST(FeedTest, ElectricityMapsLatestHistoryForecastExportAndErrors) {
  ScriptedHttpServer server;
  server.Set("/v3/carbon-intensity/latest", File("electricitymaps_latest.json"));
  server.Set("/v3/carbon-intensity/history", File("electricitymaps_history.json"));
  server.Set("/v3/carbon-intensity/forecast", File("electricitymaps_forecast.json"));
  server.Set("/v3/carbon-intensity/latest?zone=XX", File("electricitymaps_error.json", 404));
  server.Set("/v3/carbon-intensity/latest?zone=DE&bad",
             File("electricitymaps_unauthorized.json", 401));
  server.Set("/v3/carbon-intensity/latest?zone=DE&busy", {503, "<html>Service Unavailable</html>"});
  server.Set("/export.csv", File("electricitymaps_export.csv"));

  FeedSpec spec;
  spec.kind = FeedKind::kElectricityMaps;
  spec.token = "em-token-123";
  spec.url = server.Url("/v3/carbon-intensity/latest?zone=DE");
  Result<FeedClient::Fetched> latest = FetchOnce(spec);
  ASSERT_TRUE(latest.ok()) << latest.error();
  ASSERT_EQ(latest->data.carbon.g_per_kwh.size(), 1u);
  EXPECT_DOUBLE_EQ(latest->data.carbon.g_per_kwh[0], 302);
  EXPECT_EQ(latest->data.carbon.zone, "DE");
  EXPECT_EQ(server.Requests().back().headers["auth-token"], "em-token-123");

  spec.url = server.Url("/v3/carbon-intensity/history?zone=DE");
  Result<FeedClient::Fetched> history = FetchOnce(spec);
  ASSERT_TRUE(history.ok()) << history.error();
  EXPECT_EQ(history->data.carbon.g_per_kwh.size(), 23u);
  EXPECT_EQ(history->data.carbon.missing, 1u);

  spec.url = server.Url("/v3/carbon-intensity/forecast?zone=DE");
  Result<FeedClient::Fetched> forecast = FetchOnce(spec);
  ASSERT_TRUE(forecast.ok()) << forecast.error();
  ASSERT_EQ(forecast->data.carbon.g_per_kwh.size(), 24u);
  EXPECT_EQ(forecast->data.carbon.time_utc_s[0], Utc("2026-06-21T10:00:00Z"));

  spec.url = server.Url("/v3/carbon-intensity/latest?zone=XX");
  Result<FeedClient::Fetched> zone = FetchOnce(spec);
  ASSERT_FALSE(zone.ok());
  EXPECT_TRUE(zone.status().IsInvalid());
  EXPECT_NE(zone.error().find("Zone 'XX' does not exist."), std::string::npos) << zone.error();

  spec.url = server.Url("/v3/carbon-intensity/latest?zone=DE&bad");
  Result<FeedClient::Fetched> unauthorized = FetchOnce(spec);
  ASSERT_FALSE(unauthorized.ok());
  EXPECT_TRUE(unauthorized.status().IsInvalid());
  EXPECT_NE(unauthorized.error().find("token or the login was refused"), std::string::npos);
  EXPECT_EQ(unauthorized.error().find("em-token-123"), std::string::npos) << "no secret in errors";

  spec.url = server.Url("/v3/carbon-intensity/latest?zone=DE&busy");
  Result<FeedClient::Fetched> busy = FetchOnce(spec);
  ASSERT_FALSE(busy.ok());
  EXPECT_TRUE(busy.status().IsUnavailable()) << "a 503 may pass: retried";

  // A redirect would carry the token to wherever it points: not followed.
  ScriptedHttpServer::Answer moved{302, ""};
  moved.location = server.Url("/elsewhere");
  server.Set("/v3/carbon-intensity/moved", moved);
  server.Set("/elsewhere", File("electricitymaps_latest.json"));
  spec.url = server.Url("/v3/carbon-intensity/moved?zone=DE");
  Result<FeedClient::Fetched> redirected = FetchOnce(spec);
  ASSERT_FALSE(redirected.ok());
  EXPECT_NE(redirected.error().find("HTTP 302"), std::string::npos) << redirected.error();
  EXPECT_EQ(server.Count("/elsewhere"), 0u);

  FeedSpec csv;
  csv.kind = FeedKind::kCarbonCsv;
  csv.url = server.Url("/export.csv");
  Result<FeedClient::Fetched> exported = FetchOnce(csv);
  ASSERT_TRUE(exported.ok()) << exported.error();
  ASSERT_EQ(exported->data.carbon.g_per_kwh.size(), 6u);
  EXPECT_DOUBLE_EQ(exported->data.carbon.g_per_kwh[0], 290) << "the life-cycle column";
  // Without a secret, a moved file is followed.
  ScriptedHttpServer::Answer csv_moved{301, ""};
  csv_moved.location = server.Url("/export.csv");
  server.Set("/old-export.csv", csv_moved);
  csv.url = server.Url("/old-export.csv");
  Result<FeedClient::Fetched> followed = FetchOnce(csv);
  ASSERT_TRUE(followed.ok()) << followed.error();
  EXPECT_EQ(followed->data.carbon.g_per_kwh.size(), 6u);
}

TEST(FeedTest, WattTimeLogsInConvertsItsUnitsAndLogsInAgainWhenTheTokenExpires) {
  ScriptedHttpServer server;
  server.Set("/login", File("watttime_login.json"));
  server.Script("/v3/forecast", {File("watttime_forecast.json"),
                                 File("watttime_forecast.json"),
                                 {401, "{\"message\":\"token expired\"}"},
                                 File("watttime_forecast.json")});
  server.Set("/v3/forecast?region=NOWHERE", File("watttime_error.json", 400));

  FeedSpec spec;
  spec.kind = FeedKind::kWattTime;
  spec.url = server.Url("/v3/forecast?region=CAISO_NORTH&signal_type=co2_moer");
  spec.user = "greenshift";
  spec.password = "pw-of-test";
  spec.timeout_s = 2;
  FeedClient client(spec, HttpGet);
  Result<FeedClient::Fetched> first = client.Fetch();
  ASSERT_TRUE(first.ok()) << first.error();
  const CarbonSeries& c = first->data.carbon;
  ASSERT_EQ(c.g_per_kwh.size(), 24u);
  EXPECT_NEAR(c.g_per_kwh[0], 900 * 0.45359237, 1e-9) << "lbs/MWh in g/kWh";
  EXPECT_EQ(c.time_utc_s[1] - c.time_utc_s[0], 300);
  EXPECT_EQ(c.zone, "CAISO_NORTH");
  std::vector<ScriptedHttpServer::Seen> seen = server.Requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].target, "/login");
  // Basic base64("greenshift:pw-of-test")
  EXPECT_EQ(seen[0].headers["authorization"], "Basic Z3JlZW5zaGlmdDpwdy1vZi10ZXN0");
  EXPECT_EQ(seen[1].headers["authorization"], "Bearer eyJhbGciOiJIUzI1NiJ9.test-token-1");

  // The token is kept: no login; then refused once (expired): a login, and the fetch again.
  ASSERT_TRUE(client.Fetch().ok());
  EXPECT_EQ(server.Count("/login"), 1u);
  Result<FeedClient::Fetched> again = client.Fetch();
  ASSERT_TRUE(again.ok()) << again.error();
  EXPECT_EQ(server.Count("/login"), 2u);
  EXPECT_EQ(server.Count("/v3/forecast"), 4u);

  FeedSpec wrong = spec;
  wrong.url = server.Url("/v3/forecast?region=NOWHERE");
  Result<FeedClient::Fetched> region = FetchOnce(wrong);
  ASSERT_FALSE(region.ok());
  EXPECT_TRUE(region.status().IsInvalid());
  EXPECT_NE(region.error().find("region 'NOWHERE' is not a known region"), std::string::npos)
      << region.error();

  server.Set("/login", {403, "{\"error\":\"invalid credentials\"}"});
  Result<FeedClient::Fetched> refused = FetchOnce(spec);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.status().IsInvalid());
  EXPECT_NE(refused.error().find("WattTime login"), std::string::npos) << refused.error();
  EXPECT_NE(refused.error().find("'greenshift'"), std::string::npos) << refused.error();
  EXPECT_EQ(refused.error().find("pw-of-test"), std::string::npos) << "no password in errors";
}

TEST(FeedTest, ABodyCutShortOrNotParsedIsAnErrorThatMayPass) {
  ScriptedHttpServer server;
  ScriptedHttpServer::Answer cut = File("electricitymaps_forecast.json");
  cut.cut_after = 200;
  server.Set("/cut", cut);
  // A server that sends a truncated document whole (its length says so): it does not parse.
  ScriptedHttpServer::Answer half = File("electricitymaps_forecast.json");
  half.body.resize(200);
  server.Set("/half", half);
  server.Set("/html", {200, "<html><body>maintenance</body></html>", "text/html"});
  // A hostile or broken service: arrays nested a million deep, closed and left open.
  server.Set("/deep", {200, std::string(1000000, '[') + std::string(1000000, ']')});
  server.Set("/deep-open", {200, std::string(1000000, '[')});
  server.Set("/login", File("watttime_login.json"));

  FeedSpec spec;
  spec.kind = FeedKind::kElectricityMaps;
  spec.token = "t";
  spec.url = server.Url("/cut");
  Result<FeedClient::Fetched> cut_answer = FetchOnce(spec);
  ASSERT_FALSE(cut_answer.ok());
  EXPECT_TRUE(cut_answer.status().IsUnavailable());
  EXPECT_NE(cut_answer.error().find("cut short after 200 bytes"), std::string::npos);

  for (const char* path : {"/deep", "/deep-open"}) {
    for (FeedKind kind : {FeedKind::kOpenMeteo, FeedKind::kElectricityMaps, FeedKind::kWattTime}) {
      spec.kind = kind;
      spec.url = server.Url(path);
      Result<FeedClient::Fetched> deep = FetchOnce(spec);
      ASSERT_FALSE(deep.ok()) << path;
      EXPECT_EQ(deep.status().kind(), Status::Kind::kError) << deep.error();
      // Refused by its depth before it is parsed (seconds of CPU per body otherwise).
      if (kind != FeedKind::kWattTime) {
        EXPECT_NE(deep.error().find("nests deeper than 64 levels"), std::string::npos)
            << deep.error();
      }
    }
  }
  spec.kind = FeedKind::kElectricityMaps;
  for (const char* path : {"/half", "/html"}) {
    spec.url = server.Url(path);
    Result<FeedClient::Fetched> broken = FetchOnce(spec);
    ASSERT_FALSE(broken.ok()) << path;
    EXPECT_EQ(broken.status().kind(), Status::Kind::kError) << broken.error();
    EXPECT_NE(broken.error().find("not valid JSON"), std::string::npos) << broken.error();
  }
}

TEST(FeedTest, NewDataIsMergedAfterWhatCameBefore) {
  CarbonSeries old;
  for (int h = 0; h < 10; ++h) {
    old.time_utc_s.push_back(h * 3600);
    old.g_per_kwh.push_back(100 + h);
  }
  CarbonSeries latest;
  latest.time_utc_s = {9 * 3600};
  latest.g_per_kwh = {500};
  CarbonSeries merged = MergeCarbon(old, latest, 86400);
  ASSERT_EQ(merged.time_utc_s.size(), 10u) << "the same hour replaced, not stored twice";
  EXPECT_DOUBLE_EQ(merged.g_per_kwh.back(), 500);
  EXPECT_DOUBLE_EQ(merged.g_per_kwh[8], 108);
  latest.time_utc_s = {10 * 3600};
  merged = MergeCarbon(merged, latest, 86400);
  EXPECT_EQ(merged.time_utc_s.size(), 11u);
  // Older than the window: dropped.
  merged = MergeCarbon(merged, latest, 3 * 3600);
  EXPECT_EQ(merged.time_utc_s.front(), 7 * 3600);
  EXPECT_EQ(merged.time_utc_s.size(), 4u);

  WeatherSeries hourly, quarter;
  for (int i = 0; i < 6; ++i) {
    hourly.time_utc_s.push_back(i * 3600);
    hourly.ghi_w_m2.push_back(i);
  }
  for (int i = 0; i < 8; ++i) {
    quarter.time_utc_s.push_back(3 * 3600 + i * 900);
    quarter.ghi_w_m2.push_back(50);
  }
  EXPECT_EQ(MergeWeather(hourly, quarter, 86400).size(), 8u) << "steps differ: the new alone";
  WeatherSeries later;
  for (int i = 0; i < 6; ++i) {
    later.time_utc_s.push_back((4 + i) * 3600);
    later.ghi_w_m2.push_back(9);
  }
  WeatherSeries both = MergeWeather(hourly, later, 86400);
  ASSERT_EQ(both.size(), 10u);
  EXPECT_DOUBLE_EQ(both.ghi_w_m2[3], 3);
  EXPECT_DOUBLE_EQ(both.ghi_w_m2[4], 9);
  EXPECT_TRUE(both.dni_w_m2.empty()) << "a column neither has stays empty";
}

}  // namespace
}  // namespace greenshift::energy
