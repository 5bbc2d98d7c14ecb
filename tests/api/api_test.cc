// The API on loopback against a real SQLite store: what a sensor pushing readings and an
// operator reading them see, including every way a request can be wrong.
#include "api/server.h"

#include <gtest/gtest.h>

#include <httplib.h>
#include <unistd.h>
#include "api/api.h"
#include "control/service.h"
#include "hypervisor/sim/sim_driver.h"

#include <filesystem>
#include <nlohmann/json.hpp>

namespace greenshift::api {
namespace {

using nlohmann::json;

constexpr int64_t kNow = 1656676800000;  // 2022-07-01T12:00Z
const char* kToken = "test-token-0123456789";

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/gs-api-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    const std::string toml = std::string(R"(
[service]
token = ")") + kToken + R"("
[[sites]]
name = "frankfurt"
latitude = 50.1
longitude = 8.7
capacity_kw = 5
[[sites.sensors]]
name = "pv"
capacity_kw = 8
[[sites]]
name = "london"
latitude = 51.5
longitude = -0.1
capacity_kw = 5
)";
    Result<control::ServiceConfig> config = control::ParseConfig(toml, dir_ + "/g.toml");
    ASSERT_TRUE(config.ok()) << config.error();
    config_ = *config;
    Result<std::unique_ptr<store::Store>> store = store::Store::Open(dir_ + "/g.db");
    ASSERT_TRUE(store.ok()) << store.error();
    store_ = std::move(*store);
    driver_ = std::make_unique<hypervisor::SimDriver>(hypervisor::SimDriverConfig{});
    Result<control::Service> service =
        control::BuildService(config_, *store_, *driver_, [] { return kNow; });
    ASSERT_TRUE(service.ok()) << service.error();
    service_ = std::make_unique<control::Service>(std::move(*service));
    api_ = std::make_unique<Api>(config_, *store_, *service_->recorder, *service_->engine);
    server_ = std::make_unique<HttpServer>(ServerOptions{}, *api_);
    ASSERT_TRUE(server_->Start().ok());
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }
  void TearDown() override {
    server_.reset();
    api_.reset();
    service_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  httplib::Result Post(const std::string& body, const std::string& token = kToken) {
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    return client_->Post("/api/readings", headers, body, "application/json");
  }
  int64_t Stored() { return store_->CountReadings().value(); }
  static std::string Error(const httplib::Result& r) {
    return json::parse(r->body).at("error").get<std::string>();
  }

  std::string dir_;
  control::ServiceConfig config_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<hypervisor::SimDriver> driver_;
  std::unique_ptr<control::Service> service_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(ApiTest, AReadingIsStoredAndShownInTheApiAndTheMetrics) {
  auto r = Post(R"({"site": "frankfurt", "sensor": "pv", "time": "2022-07-01T11:59:00Z",
                    "power_w": 5230.5})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(Stored(), 1);
  auto got = client_->Get("/api/readings?site=frankfurt");
  ASSERT_TRUE(got);
  ASSERT_EQ(got->status, 200);
  const json rows = json::parse(got->body);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["time_utc_ms"], kNow - 60000);
  EXPECT_DOUBLE_EQ(rows[0]["power_w"].get<double>(), 5230.5);
  auto sites = json::parse(client_->Get("/api/sites")->body);
  EXPECT_DOUBLE_EQ(sites[0]["sensors"][0]["last_power_w"].get<double>(), 5230.5);
  const std::string metrics = client_->Get("/metrics")->body;
  EXPECT_NE(metrics.find("greenshift_green_power_watts{site=\"frankfurt\",sensor=\"pv\"} 5230.5\n"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("greenshift_readings_accepted_total 1"), std::string::npos);
  auto health = json::parse(client_->Get("/api/health")->body);
  EXPECT_EQ(health["store"]["ok"], true) << health.dump();
  EXPECT_EQ(health["readings_accepted"], 1);
  // The status says which driver moves the VMs and what it can do (asked, not assumed).
  auto status = json::parse(client_->Get("/api/status")->body);
  EXPECT_EQ(status["driver"]["capabilities"][0], "live") << status.dump();
  EXPECT_EQ(status["driver"]["capabilities"][1], "offline") << status.dump();
}

// A reading's time in any RFC 3339 shape a sensor writes, kept to the millisecond; a time that
// is not one is refused saying why.
TEST_F(ApiTest, AReadingsTimeIsRfc3339ToTheMillisecond) {
  auto r = Post(R"([{"site": "frankfurt", "sensor": "pv", "power_w": 1,
                     "time": "2022-07-01T13:58:30.250+02:00"},
                    {"site": "frankfurt", "sensor": "pv", "power_w": 2,
                     "time": "2022-07-01 11:58:40.5Z"},
                    {"site": "frankfurt", "sensor": "pv", "power_w": 3,
                     "time": "2022-07-01T12:58:50+0100"}])");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201) << r->body;
  const json rows = json::parse(client_->Get("/api/readings?site=frankfurt")->body);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[2]["time_utc_ms"], kNow - 90000 + 250);  // newest first
  EXPECT_EQ(rows[1]["time_utc_ms"], kNow - 80000 + 500);
  EXPECT_EQ(rows[0]["time_utc_ms"], kNow - 70000);
  const std::pair<const char*, const char*> refused[] = {
      {"2022-07-01T11:59:00", "'time': '2022-07-01T11:59:00' has no UTC offset"},
      {"2022-02-31T11:59:00Z", "names day 31 of February 2022, which has 28 days"},
      {"2022-07-01T24:00:00Z", "has hour 24"},
      {"2022-07-01T11:59:00Z; DROP TABLE readings", "goes on after its UTC offset"},
  };
  for (const auto& [time, why] : refused) {
    const std::string body =
        std::string(R"({"site": "frankfurt", "sensor": "pv", "power_w": 1, "time": ")") + time +
        R"("})";
    auto bad = Post(body);
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 400) << time;
    EXPECT_NE(bad->body.find(why), std::string::npos) << bad->body;
  }
}

TEST_F(ApiTest, ChangesNeedTheToken) {
  auto none = Post(R"({"site": "frankfurt", "sensor": "pv", "power_w": 100})", "");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(none->get_header_value("WWW-Authenticate"), "Bearer");
  EXPECT_NE(Error(none).find("Authorization: Bearer"), std::string::npos);
  auto wrong = Post(R"({"site": "frankfurt", "sensor": "pv", "power_w": 100})", "guess");
  EXPECT_EQ(wrong->status, 401);
  EXPECT_EQ(Error(wrong), "the bearer token is wrong");
  EXPECT_EQ(Stored(), 0);
}

TEST_F(ApiTest, MalformedRequestsAre400UnknownNamesAre404) {
  struct Case {
    std::string body;
    int status;
    std::string expect;
  };
  const Case cases[] = {
      {"{not json", 400, "not JSON"},
      {"[]", 400, "no readings"},
      {R"({"site": "frankfurt", "sensor": "pv"})", 400, "'power_w' must be a number"},
      {R"({"site": "frankfurt", "sensor": "pv", "power_w": "lots"})", 400, "'power_w'"},
      {R"({"site": "frankfurt", "sensor": "pv", "power_w": 1, "volts": 2})", 400,
       "unknown field 'volts'"},
      {R"({"site": "frankfurt", "sensor": "pv", "power_w": 1, "time": "yesterday"})", 400, "time"},
      {R"({"site": "paris", "sensor": "pv", "power_w": 1})", 404, "no site is named 'paris'"},
      {R"({"site": "london", "sensor": "pv", "power_w": 1})", 404,
       "site 'london' has no sensor 'pv'"},
  };
  for (const Case& c : cases) {
    auto r = Post(c.body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, c.status) << c.body << " -> " << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
    EXPECT_NE(Error(r).find(c.expect), std::string::npos) << c.body << " -> " << r->body;
  }
  EXPECT_EQ(Stored(), 0);
  auto unknown_site = client_->Get("/api/readings?site=paris");
  EXPECT_EQ(unknown_site->status, 404);
  EXPECT_EQ(client_->Get("/api/readings?limit=many")->status, 400);
  auto nowhere = client_->Get("/api/nothing-here");
  EXPECT_EQ(nowhere->status, 404);
  EXPECT_NE(Error(nowhere).find("no such endpoint"), std::string::npos);
}

TEST_F(ApiTest, ImpossibleValuesAre422AndNothingIsStoredButTheRejectionIsKept) {
  struct Case {
    std::string body, reason;
  };
  const Case cases[] = {
      {R"({"site": "frankfurt", "sensor": "pv", "power_w": -50})", "negative"},
      {R"({"site": "frankfurt", "sensor": "pv", "power_w": 99000})", "above_capacity"},
      {R"({"site": "frankfurt", "sensor": "pv", "power_w": null})", "not_a_number"},
      {R"({"site": "frankfurt", "sensor": "pv", "power_w": 10, "time": "2022-07-02T00:00:00Z"})",
       "in_the_future"},
  };
  for (const Case& c : cases) {
    auto r = Post(c.body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 422) << c.body << " -> " << r->body;
    EXPECT_EQ(json::parse(r->body)["reason"], c.reason) << r->body;
  }
  EXPECT_EQ(Stored(), 0);
  EXPECT_EQ(store_->CountRejected().value(), 4);
  const std::string metrics = client_->Get("/metrics")->body;
  EXPECT_NE(metrics.find("greenshift_readings_rejected_total{reason=\"negative\"} 1"),
            std::string::npos)
      << metrics;
}

TEST_F(ApiTest, ABatchIsStoredWholeOrNotAtAll) {
  auto bad = Post(R"([{"site": "frankfurt", "sensor": "pv", "time_utc_ms": 1656676000000,
                       "power_w": 100},
                      {"site": "frankfurt", "sensor": "pv", "time_utc_ms": 1656676060000,
                       "power_w": -3}])");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 422);
  EXPECT_NE(Error(bad).find("reading 1: "), std::string::npos) << bad->body;
  EXPECT_NE(Error(bad).find("none of the 2 readings was stored"), std::string::npos);
  EXPECT_EQ(Stored(), 0);
  // The first reading of the failed batch did not move the sensor's clock: sending it again in
  // a good batch is not "out of order".
  auto good = Post(R"([{"site": "frankfurt", "sensor": "pv", "time_utc_ms": 1656676000000,
                        "power_w": 100},
                       {"site": "frankfurt", "sensor": "pv", "time_utc_ms": 1656676060000,
                        "power_w": 120}])");
  EXPECT_EQ(good->status, 201) << good->body;
  EXPECT_EQ(Stored(), 2);
}

}  // namespace
}  // namespace greenshift::api
