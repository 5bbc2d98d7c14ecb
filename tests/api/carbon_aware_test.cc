// The Carbon Aware SDK's endpoints, asked over HTTP as a tool written for the SDK asks them:
// greenshift's sites as locations, its recorded grid carbon and its forecast as the data. The
// shapes are the SDK's WebApi models (Green-Software-Foundation/carbon-aware-sdk at e6de58da:
// GSF.CarbonAware/src/Models/EmissionsData.cs, WebApi/src/Models/EmissionsForecastDTO.cs and
// EmissionsDataDTO.cs, ASP.NET's ValidationProblemDetails); the repository holds no OpenAPI file
// (Swashbuckle writes it from those classes when the WebApi runs).
#include "api/carbon_aware.h"

#include <gtest/gtest.h>

#include <httplib.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "api/api.h"
#include "api/server.h"
#include "control/service.h"
#include "core/clock.h"
#include "core/files.h"
#include "energy/carbon.h"
#include "hypervisor/sim/sim_driver.h"

namespace greenshift::api {
namespace {

using nlohmann::json;

constexpr int64_t kCarbonNow = 1656676800000;  // 2022-07-01T12:00Z
const std::string kCarbonFile = GREENSHIFT_SOURCE_DIR "/data/carbon/DE-LU_2022_hourly.csv";

// Each model's properties and their JSON types, as the SDK's classes declare them.
const std::map<std::string, std::string> kEmissionsData = {
    {"location", "string"}, {"time", "string"}, {"rating", "number"}, {"duration", "string"}};
const std::map<std::string, std::string> kForecast = {
    {"generatedAt", "string"},      {"requestedAt", "string"}, {"location", "string"},
    {"dataStartAt", "string"},      {"dataEndAt", "string"},   {"windowSize", "number"},
    {"optimalDataPoints", "array"}, {"forecastData", "array"}};
const std::map<std::string, std::string> kDataPoint = {
    {"location", "string"}, {"timestamp", "string"}, {"duration", "number"}, {"value", "number"}};

void ExpectShape(const json& j, const std::map<std::string, std::string>& model) {
  ASSERT_TRUE(j.is_object()) << j.dump();
  EXPECT_EQ(j.size(), model.size()) << j.dump();
  for (const auto& [key, type] : model) {
    ASSERT_TRUE(j.contains(key)) << key << " in " << j.dump();
    EXPECT_EQ(j[key].type_name(), type) << key << " in " << j.dump();
  }
}

class CarbonAwareApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/gs-casdk-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    const std::string toml = R"(
[service]
token = "test-token-0123456789"
period_s = 3600
[policy]
horizon_hours = 24
[[sites]]
name = "frankfurt"
latitude = 50.1
longitude = 8.7
capacity_kw = 5
carbon = ")" + kCarbonFile + R"("
[[sites]]
name = "london"
latitude = 51.5
longitude = -0.1
capacity_kw = 5
carbon_g_per_kwh = 250
)";
    Result<control::ServiceConfig> config = control::ParseConfig(toml, dir_ + "/g.toml");
    ASSERT_TRUE(config.ok()) << config.error();
    config_ = *config;
    store_ = store::Store::Open(dir_ + "/g.db").value();
    driver_ = std::make_unique<hypervisor::SimDriver>(hypervisor::SimDriverConfig{});
    Result<control::Service> service =
        control::BuildService(config_, *store_, *driver_, [] { return kCarbonNow; });
    ASSERT_TRUE(service.ok()) << service.error();
    service_ = std::make_unique<control::Service>(std::move(*service));
    api_ = std::make_unique<Api>(config_, *store_, *service_->recorder, *service_->engine);
    server_ = std::make_unique<HttpServer>(ServerOptions{}, *api_);
    ASSERT_TRUE(server_->Start().ok());
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    carbon_ = energy::ParseCarbonFile(ReadFile(kCarbonFile).value(), kCarbonFile).value();
  }
  void TearDown() override {
    server_.reset();
    api_.reset();
    service_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  // The answer's JSON after checking the status.
  json Get(const std::string& target, int status = 200) {
    auto r = client_->Get(target);
    EXPECT_TRUE(r) << target;
    if (!r) return json();
    EXPECT_EQ(r->status, status) << target << ": " << r->body;
    return r->body.empty() ? json() : json::parse(r->body);
  }
  // A 400's complaint about `parameter`, in the SDK's ValidationProblemDetails.
  std::string Complaint(const std::string& target, const std::string& parameter) {
    const json problem = Get(target, 400);
    EXPECT_EQ(problem.value("status", 0), 400) << problem.dump();
    EXPECT_EQ(problem.value("title", ""), "One or more validation errors occurred.");
    if (!problem.contains("errors") || !problem["errors"].contains(parameter)) {
      ADD_FAILURE() << target << ": no complaint about " << parameter << ": " << problem.dump();
      return "";
    }
    return problem["errors"][parameter][0].get<std::string>();
  }

  std::string dir_;
  control::ServiceConfig config_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<hypervisor::SimDriver> driver_;
  std::unique_ptr<control::Service> service_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
  energy::CarbonSeries carbon_;
};

TEST_F(CarbonAwareApiTest, EmissionsByLocationsIsTheRecordedIntensity) {
  const json points =
      Get("/emissions/bylocations?location=frankfurt&location=london&time=2022-07-01T10:00:00Z"
          "&toTime=2022-07-01T12:00:00Z");
  ASSERT_TRUE(points.is_array());
  ASSERT_EQ(points.size(), 6u) << points.dump();  // 10:00, 11:00, 12:00 at each site
  for (const json& p : points) ExpectShape(p, kEmissionsData);
  const int64_t ten = 1656669600;  // 2022-07-01T10:00Z
  for (int h = 0; h < 3; ++h) {
    EXPECT_EQ(points[h]["location"], "frankfurt");
    EXPECT_EQ(points[h]["time"], FormatUtcSeconds(ten + h * 3600));
    EXPECT_DOUBLE_EQ(points[h]["rating"].get<double>(), carbon_.At(ten + h * 3600));
    EXPECT_EQ(points[h]["duration"], "01:00:00");
    EXPECT_EQ(points[3 + h]["location"], "london");
    EXPECT_DOUBLE_EQ(points[3 + h]["rating"].get<double>(), 250);
  }
  // Without a time: the point that holds now, at each site.
  const json now = Get("/emissions/bylocations?location=frankfurt&location=london");
  ASSERT_EQ(now.size(), 2u) << now.dump();
  EXPECT_EQ(now[0]["time"], "2022-07-01T12:00:00Z");
  // The best: the lowest of them (London's 250 or Frankfurt's hour, whichever is lower).
  const json best =
      Get("/emissions/bylocations/best?location=frankfurt&location=london&time=2022-07-01T10:00:00Z"
          "&toTime=2022-07-01T12:00:00Z");
  ASSERT_FALSE(best.empty());
  double lowest = 250;
  for (int h = 0; h < 3; ++h) lowest = std::min(lowest, carbon_.At(ten + h * 3600));
  for (const json& p : best) {
    ExpectShape(p, kEmissionsData);
    EXPECT_DOUBLE_EQ(p["rating"].get<double>(), lowest);
  }
  // Times the data does not cover: no content, as the SDK answers.
  auto none = client_->Get(
      "/emissions/"
      "bylocations?location=frankfurt&time=2031-01-01T00:00:00Z&toTime=2031-01-02T00:00:00Z");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 204);
  EXPECT_TRUE(none->body.empty());
}

TEST_F(CarbonAwareApiTest, CurrentForecastsFindTheLowestWindow) {
  ASSERT_TRUE(service_->engine->Tick(kCarbonNow).ok());
  const json forecasts = Get("/emissions/forecasts/current?location=frankfurt&windowSize=120");
  ASSERT_TRUE(forecasts.is_array());
  ASSERT_EQ(forecasts.size(), 1u);
  const json& f = forecasts[0];
  ExpectShape(f, kForecast);
  EXPECT_EQ(f["location"], "frankfurt");
  EXPECT_EQ(f["windowSize"], 120);
  EXPECT_EQ(f["requestedAt"], "2022-07-01T12:00:00Z");
  const json& data = f["forecastData"];
  ASSERT_GE(data.size(), 1u);
  double lowest = 1e9;
  for (const json& p : data) {
    ExpectShape(p, kDataPoint);
    EXPECT_EQ(p["duration"], 120);
    lowest = std::min(lowest, p["value"].get<double>());
  }
  ASSERT_FALSE(f["optimalDataPoints"].empty());
  for (const json& p : f["optimalDataPoints"]) EXPECT_DOUBLE_EQ(p["value"].get<double>(), lowest);
  // A two-hour window is the mean of two consecutive hours of the forecast; its data end by
  // dataEndAt.
  const json two =
      Get("/emissions/forecasts/current?location=frankfurt&dataStartAt=2022-07-01T12:00:00Z"
          "&dataEndAt=2022-07-01T15:00:00Z&windowSize=120");
  ASSERT_EQ(two[0]["forecastData"].size(), 2u) << two.dump();  // 12-14 and 13-15
  EXPECT_EQ(two[0]["forecastData"][1]["timestamp"], "2022-07-01T13:00:00Z");
}

TEST_F(CarbonAwareApiTest, BadParametersAre400NamingTheParameter) {
  EXPECT_EQ(Complaint("/emissions/bylocations", "location"), "at least one location is required");
  EXPECT_NE(Complaint("/emissions/bylocations?location=paris", "location")
                .find("'paris' is not a location greenshift knows (its sites: frankfurt, london)"),
            std::string::npos);
  EXPECT_NE(Complaint("/emissions/bylocations?location=london&time=yesterday", "time")
                .find("'yesterday'"),
            std::string::npos);
  EXPECT_NE(Complaint("/emissions/bylocations?location=london&time=2022-02-30T00:00Z", "time")
                .find("February"),
            std::string::npos);
  EXPECT_EQ(Complaint("/emissions/bylocations?location=london&toTime=2022-07-01T00:00Z", "time"),
            "time is required when toTime is given");
  EXPECT_EQ(Complaint("/emissions/bylocations?location=london&time=2022-07-02T00:00Z"
                      "&toTime=2022-07-01T00:00Z",
                      "toTime"),
            "toTime comes before time");
  EXPECT_NE(Complaint("/emissions/bylocations?location=london&time=1970-01-01T00:00Z"
                      "&toTime=2100-01-01T00:00Z",
                      "toTime")
                .find("more than 20000 data points"),
            std::string::npos);
  std::string many = "/emissions/bylocations?location=london";
  for (int i = 0; i < 100; ++i) many += "&location=london";
  EXPECT_EQ(Complaint(many, "location"), "at most 100 locations in one request");
  // The forecast before the first one is made, then its parameters.
  auto early = client_->Get("/emissions/forecasts/current?location=london");
  ASSERT_TRUE(early);
  EXPECT_EQ(early->status, 503);
  ASSERT_TRUE(service_->engine->Tick(kCarbonNow).ok());
  for (const char* size : {"0", "abc", "-5", "1.5", "9999999", ""})
    EXPECT_NE(
        Complaint(std::string("/emissions/forecasts/current?location=london&windowSize=") + size,
                  "windowSize"),
        "")
        << size;
  EXPECT_NE(
      Complaint("/emissions/forecasts/current?location=london&windowSize=100000", "windowSize")
          .find("longer than the data"),
      std::string::npos);
  EXPECT_NE(Complaint("/emissions/forecasts/current?location=london&dataStartAt=2022-01-01T00:00Z",
                      "dataStartAt")
                .find("within the forecast"),
            std::string::npos);
  EXPECT_NE(Complaint("/emissions/forecasts/current?location=london&dataStartAt=2022-07-01T13:00Z"
                      "&dataEndAt=2022-07-01T13:00Z",
                      "dataEndAt")
                .find("after dataStartAt"),
            std::string::npos);
  // Only GET: a POST is 405, as for every read-only endpoint.
  auto post = client_->Post("/emissions/bylocations", "", "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
}

}  // namespace
}  // namespace greenshift::api
