// The service's live feeds (control/feeds.h) against a local HTTP server serving the project's
// response files: fetched into the sites' inputs, retried when a failure may pass and not when
// it will not, stale when old (the health page and metrics say so), cached for a restart,
// reapplied after SIGHUP, and their config checked key by key.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/api.h"
#include "control/feeds.h"
#include "control/service.h"
#include "core/clock.h"
#include "core/files.h"
#include "hypervisor/sim/sim_driver.h"
#include "support/scripted_http_server.h"

namespace greenshift::control {
namespace {

using nlohmann::json;
using testing::ScriptedHttpServer;

ScriptedHttpServer::Answer File(const std::string& name, int status = 200) {
  ScriptedHttpServer::Answer answer;
  answer.status = status;
  answer.body = ReadFile(GREENSHIFT_SOURCE_DIR "/tests/data/feeds/" + name).value();
  return answer;
}

class FeedsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/gs-feeds-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    std::ofstream(dir_ + "/em.token") << "em-token-123\n";
    ::chmod((dir_ + "/em.token").c_str(), 0600);
    std::ofstream(dir_ + "/wt.password") << "wt-password\n";
    ::chmod((dir_ + "/wt.password").c_str(), 0600);
    server_.Set("/v1/forecast", File("openmeteo_minutely15_unixtime.json"));
    server_.Set("/v3/carbon-intensity/forecast", File("electricitymaps_forecast.json"));
    server_.Set("/login", File("watttime_login.json"));
    server_.Set("/v3/forecast", File("watttime_forecast.json"));
    wall_ = ParseRfc3339Ms("2026-06-21T10:05:00Z").value();
  }
  void TearDown() override {
    api_.reset();
    if (service_) {
      service_->feeds->Stop();
      service_->engine->Stop();
    }
    service_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string Toml() const {
    return R"(
[service]
token = "test-token-0123456789"
period_s = 600
[feeds]
retries = 2
retry_backoff_s = 0.01
timeout_s = 1
[[sites]]
name = "a"
latitude = 52.52
longitude = 13.41
capacity_kw = 1
pv_kwp = 5
[sites.weather_feed]
url = ")" + server_.Url("/v1/forecast?latitude=52.52&longitude=13.41&timeformat=unixtime") +
           R"("
every_s = 3600
[sites.carbon_feed]
kind = "electricity-maps"
url = ")" + server_.Url("/v3/carbon-intensity/forecast?zone=" + zone_) +
           R"("
token_file = "em.token"
every_s = 900
stale_after_s = 1800
[[sites]]
name = "b"
latitude = 38
longitude = -121
capacity_kw = 1
[sites.carbon_feed]
kind = "watttime"
url = ")" + server_.Url("/v3/forecast?region=CAISO_NORTH&signal_type=co2_moer") +
           R"("
user = "greenshift"
password_file = "wt.password"
[[hosts]]
name = "a1"
site = "a"
driver = "sim"
)";
  }

  void Open() {
    Result<ServiceConfig> parsed = ParseConfig(Toml(), dir_ + "/greenshift.toml");
    ASSERT_TRUE(parsed.ok()) << parsed.error();
    config_ = std::move(*parsed);
    Result<std::unique_ptr<store::Store>> store = store::Store::Open(dir_ + "/gs.db", true);
    ASSERT_TRUE(store.ok()) << store.error();
    store_ = std::move(*store);
    driver_ = std::make_unique<hypervisor::SimDriver>(hypervisor::SimDriverConfig{});
    Result<Service> built =
        BuildService(config_, *store_, *driver_, [this] { return wall_.load(); });
    ASSERT_TRUE(built.ok()) << built.error();
    service_ = std::make_unique<Service>(std::move(*built));
    api_ = std::make_unique<api::Api>(config_, *store_, *service_->recorder, *service_->engine);
    api_->SetFeeds(service_->feeds.get());
  }

  // The service stopped (as at a restart), and the services it fetches from down.
  void CloseWithServicesDown() {
    service_.reset();
    store_.reset();
    for (const char* path : {"/v1/forecast", "/v3/carbon-intensity/forecast", "/v3/forecast"})
      server_.Set(path, {503, "down"});
  }

  json Health() {
    api::Request request;
    request.method = "GET";
    request.path = "/api/health";
    return json::parse(api_->Handle(request).body);
  }
  std::vector<std::string> FeedEvents() {
    std::vector<std::string> out;
    for (const store::Event& e : store_->Events(1000).value())
      if (e.kind == "feeds") out.insert(out.begin(), e.message);  // newest first: reversed
    return out;
  }
  FeedView View(const std::string& site, const std::string& what) {
    for (const FeedView& v : service_->feeds->States())
      if (v.site == site && v.what == what) return v;
    ADD_FAILURE() << "no feed " << site << "/" << what;
    return {};
  }

  std::string dir_;
  std::string zone_ = "DE";  // of site a's carbon feed
  ScriptedHttpServer server_;
  std::atomic<int64_t> wall_{0};
  ServiceConfig config_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<hypervisor::SimDriver> driver_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<api::Api> api_;
};

TEST_F(FeedsTest, FetchedDataReachesTheSitesInputsAndTheCache) {
  Open();
  // Before any fetch: no data, the feeds are stale and the health page says so.
  EXPECT_EQ(service_->inputs->Site(0)->weather.size(), 0u);
  EXPECT_FALSE(service_->inputs->Site(0)->has_carbon);
  json health = Health();
  EXPECT_EQ(health["status"], "degraded");
  ASSERT_EQ(health["feeds"].size(), 3u);
  EXPECT_EQ(health["feeds"][0]["stale"], true);

  service_->feeds->RunDue();
  const std::shared_ptr<const SiteInputs> a = service_->inputs->Site(0);
  ASSERT_EQ(a->weather.size(), 12u);
  EXPECT_NE(a->weather_file.find("weather feed"), std::string::npos);
  EXPECT_TRUE(a->has_model);
  ASSERT_TRUE(a->has_carbon);
  EXPECT_EQ(a->carbon.g_per_kwh.size(), 24u);
  EXPECT_DOUBLE_EQ(a->CarbonAt(ParseRfc3339Ms("2026-06-21T11:30:00Z").value() / 1000), 277);
  const std::shared_ptr<const SiteInputs> b = service_->inputs->Site(1);
  ASSERT_TRUE(b->has_carbon);
  EXPECT_NEAR(b->carbon.g_per_kwh[0], 900 * 0.45359237, 1e-9);
  EXPECT_EQ(server_.Requests().front().headers.count("auth-token") +
                server_.Requests()[1].headers.count("auth-token"),
            1u)
      << "the token went to Electricity Maps only";

  health = Health();
  EXPECT_EQ(health["status"], "ok") << health.dump();
  EXPECT_EQ(health["feeds"][1]["stale"], false);
  EXPECT_EQ(health["feeds"][1]["age_s"], 0);
  EXPECT_EQ(health["feeds"][1]["data_until"], "2026-06-22T10:00:00Z");
  EXPECT_EQ(health["feeds"][1]["url"], server_.Url("/v3/carbon-intensity/forecast"));
  EXPECT_EQ(health.dump().find("em-token-123"), std::string::npos);
  EXPECT_EQ(health.dump().find("zone=DE"), std::string::npos) << "URLs without their query";

  for (const char* file : {"a.weather.body", "a.carbon.body", "b.carbon.body"})
    EXPECT_TRUE(PathExists(dir_ + "/greenshift.db.feeds/" + file)) << file;
  EXPECT_EQ(ReadFile(dir_ + "/greenshift.db.feeds/a.carbon.body").value(),
            File("electricitymaps_forecast.json").body);

  // Not due again before every_s: nothing fetched.
  const size_t requests = server_.Requests().size();
  wall_ += 600 * 1000;
  service_->feeds->RunDue();
  EXPECT_EQ(server_.Requests().size(), requests);
  wall_ += 300 * 1000;  // 900 s: the carbon feeds are due, the weather is not
  service_->feeds->RunDue();
  EXPECT_EQ(server_.Count("/v3/carbon-intensity/forecast"), 2u);
  EXPECT_EQ(server_.Count("/v1/forecast"), 1u);

  const std::string metrics = api_->Metrics();
  EXPECT_NE(metrics.find("greenshift_feed_stale{site=\"a\",feed=\"carbon\"} 0"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("greenshift_feed_fetches_total{site=\"a\",feed=\"carbon\"} 2"),
            std::string::npos);
  EXPECT_NE(metrics.find("greenshift_feed_age_seconds{site=\"a\",feed=\"weather\"} 900"),
            std::string::npos);
}

TEST_F(FeedsTest, FailuresThatMayPassAreRetriedAndTheDataKeptWhileItLasts) {
  Open();
  service_->feeds->RunDue();
  const std::shared_ptr<const SiteInputs> before = service_->inputs->Site(0);

  // Two 503s then the forecast: three tries, one fetch that worked.
  server_.Script("/v3/carbon-intensity/forecast",
                 {{503, "busy"}, {503, "busy"}, File("electricitymaps_forecast.json")});
  wall_ += 900 * 1000;
  service_->feeds->RunDue();
  FeedView carbon = View("a", "carbon");
  EXPECT_EQ(carbon.fetches, 4);
  EXPECT_EQ(carbon.failures, 2);
  EXPECT_TRUE(carbon.last_error.empty());
  EXPECT_TRUE(FeedEvents().empty()) << "a failure retried away is not news";

  // Timeouts and bodies cut short, all three tries: the data stays, one event says so.
  ScriptedHttpServer::Answer slow = File("electricitymaps_forecast.json");
  slow.delay_ms = 1500;
  ScriptedHttpServer::Answer cut = File("electricitymaps_forecast.json");
  cut.cut_after = 100;
  server_.Script("/v3/carbon-intensity/forecast", {slow, cut, cut, cut, cut, cut});
  wall_ += 900 * 1000;
  service_->feeds->RunDue();
  carbon = View("a", "carbon");
  EXPECT_EQ(carbon.fetches, 7);
  EXPECT_EQ(carbon.failures, 5);
  EXPECT_NE(carbon.last_error.find("cut short after 100 bytes"), std::string::npos)
      << carbon.last_error;
  EXPECT_FALSE(carbon.stale) << "1800 s not yet passed";
  EXPECT_EQ(service_->inputs->Site(0)->carbon.g_per_kwh, before->carbon.g_per_kwh);
  std::vector<std::string> events = FeedEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_NE(events[0].find("the carbon feed of site a"), std::string::npos) << events[0];
  EXPECT_NE(events[0].find("failed after 3 tries"), std::string::npos) << events[0];
  EXPECT_NE(events[0].find("stays in use"), std::string::npos) << events[0];

  // Still failing 15 minutes later: no second event; past stale_after_s: stale, said once.
  wall_ += 900 * 1000;
  service_->feeds->RunDue();
  wall_ += 1;
  service_->feeds->RunDue();
  events = FeedEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_NE(events[1].find("is stale"), std::string::npos) << events[1];
  EXPECT_TRUE(View("a", "carbon").stale);
  EXPECT_EQ(Health()["status"], "degraded");
  EXPECT_NE(api_->Metrics().find("greenshift_feed_stale{site=\"a\",feed=\"carbon\"} 1"),
            std::string::npos);

  // It works again: said, fresh.
  server_.Set("/v3/carbon-intensity/forecast", File("electricitymaps_forecast.json"));
  wall_ += 900 * 1000;
  service_->feeds->RunDue();
  events = FeedEvents();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_NE(events[2].find("works again"), std::string::npos) << events[2];
  EXPECT_FALSE(View("a", "carbon").stale);
}

TEST_F(FeedsTest, ARefusedTokenIsNotRetried) {
  Open();
  server_.Set("/v3/carbon-intensity/forecast", File("electricitymaps_unauthorized.json", 401));
  service_->feeds->RunDue();
  const FeedView carbon = View("a", "carbon");
  EXPECT_EQ(carbon.fetches, 1) << "a 401 will not pass by itself";
  EXPECT_NE(carbon.last_error.find("HTTP 401"), std::string::npos) << carbon.last_error;
  EXPECT_NE(carbon.last_error.find("Invalid authentication credentials"), std::string::npos);
  EXPECT_NE(FeedEvents().at(0).find("there is no data from it yet"), std::string::npos);
}

TEST_F(FeedsTest, ARestartBeginsFromTheCacheAndSighupKeepsTheFeedsData) {
  Open();
  service_->feeds->RunDue();
  // The services are down now; the new run starts from what the last one fetched.
  CloseWithServicesDown();
  wall_ = std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::system_clock::now().time_since_epoch())
              .count() +
          60000;
  Open();
  EXPECT_EQ(service_->inputs->Site(0)->weather.size(), 12u);
  EXPECT_EQ(service_->inputs->Site(0)->carbon.g_per_kwh.size(), 24u);
  EXPECT_EQ(service_->inputs->Site(1)->carbon.g_per_kwh.size(), 24u);
  FeedView weather = View("a", "weather");
  EXPECT_TRUE(weather.from_cache);
  EXPECT_NEAR(weather.age_s, 60, 5) << "the cache file's time";
  EXPECT_EQ(Health()["feeds"][0]["from_cache"], true);

  // SIGHUP reads the files again (there are none here): the feeds' data is merged over them
  // before they are swapped in; without the feeds, the files alone.
  const std::shared_ptr<const SiteInputs> before = service_->inputs->Site(0);
  ASSERT_TRUE(ReloadInputs(config_, *service_->inputs, service_->feeds.get()).ok());
  EXPECT_NE(service_->inputs->Site(0), before) << "read again";
  EXPECT_EQ(service_->inputs->Site(0)->weather.size(), 12u);
  EXPECT_TRUE(service_->inputs->Site(1)->has_carbon);
  ASSERT_TRUE(ReloadInputs(config_, *service_->inputs).ok());
  EXPECT_EQ(service_->inputs->Site(0)->weather.size(), 0u);
}

TEST_F(FeedsTest, ACorruptCacheOrOneOfAnotherUrlIsLeftOutAndSaid) {
  Open();
  service_->feeds->RunDue();
  CloseWithServicesDown();

  // The operator moves site a's carbon feed to another zone: DE's data is not FR's.
  zone_ = "FR";
  Open();
  EXPECT_FALSE(service_->inputs->Site(0)->has_carbon);
  EXPECT_EQ(service_->inputs->Site(0)->weather.size(), 12u) << "the weather feed is the same";
  ASSERT_EQ(service_->warnings.size(), 1u);
  EXPECT_NE(service_->warnings[0].find("fetched from another URL"), std::string::npos)
      << service_->warnings[0];
  service_.reset();
  store_.reset();

  // Back to DE, its cached body damaged.
  zone_ = "DE";
  std::ofstream(dir_ + "/greenshift.db.feeds/a.carbon.body") << "{\"forecast\": [ {\"carbonIn";
  Open();
  EXPECT_FALSE(service_->inputs->Site(0)->has_carbon);
  ASSERT_EQ(service_->warnings.size(), 1u);
  EXPECT_NE(service_->warnings[0].find("the carbon feed of site a"), std::string::npos);
  EXPECT_NE(service_->warnings[0].find("left out"), std::string::npos) << service_->warnings[0];
  EXPECT_NE(service_->warnings[0].find("not valid JSON"), std::string::npos)
      << service_->warnings[0];
}

TEST_F(FeedsTest, StopEndsABackoffAtOnce) {
  Open();
  server_.Set("/v1/forecast", {503, "down"});
  config_.feeds.retry_backoff_s = 30;  // the runner reads it at each retry
  service_->feeds->Start();
  // The first try fails within milliseconds; then it waits 30 s for the next.
  for (int i = 0; i < 200 && server_.Count("/v1/forecast") == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(server_.Count("/v1/forecast"), 1u);
  const auto start = std::chrono::steady_clock::now();
  service_->feeds->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST(FeedsConfigTest, EveryKeyIsCheckedAndSecretsStayOutOfTheFile) {
  char dir[] = "/tmp/gs-feedcfg-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string d = dir;
  std::ofstream(d + "/open.token") << "abc\n";
  ::chmod((d + "/open.token").c_str(), 0644);
  auto parse = [&](const std::string& feeds) {
    return ParseConfig(R"(
[service]
token = "test-token-0123456789"
[[sites]]
name = "a"
latitude = 52
longitude = 13
capacity_kw = 1
pv_kwp = 5
)" + feeds,
                       d + "/g.toml");
  };
  struct Case {
    const char* toml;
    const char* error;
  };
  ::unsetenv("ELECTRICITYMAPS_TOKEN");
  ::unsetenv("WATTTIME_USER");
  ::unsetenv("WATTTIME_PASSWORD");
  const Case cases[] = {
      {"[sites.weather_feed]\nurl = \"ftp://x/y\"\n", "sites[0].weather_feed.url': must start"},
      {"[sites.weather_feed]\n", "sites[0].weather_feed.url': is required"},
      {"[sites.weather_feed]\nkind = \"watttime\"\nurl = \"https://x\"\n",
       "'watttime' is a carbon feed"},
      {"[sites.carbon_feed]\nkind = \"open-meteo\"\nurl = \"https://x\"\n",
       "'open-meteo' is a weather feed"},
      {"[sites.carbon_feed]\nkind = \"tomorrow\"\nurl = \"https://x\"\n", "not a feed kind"},
      {"[sites.carbon_feed]\nurl = \"https://x\"\n", "Electricity Maps' API needs a token"},
      {"[sites.carbon_feed]\nurl = \"https://x\"\ntoken_file = \"open.token\"\n",
       "may be read by others (mode 644)"},
      {"[sites.carbon_feed]\nurl = \"https://x\"\ntoken_env = \"GS_NO_SUCH_VAR\"\n",
       "GS_NO_SUCH_VAR is not set"},
      {"[sites.carbon_feed]\nkind = \"watttime\"\nurl = \"https://x\"\n", "needs a login"},
      {"[sites.carbon_feed]\nkind = \"watttime\"\nurl = \"https://x\"\nuser = \"u\"\n",
       "password_file': is required"},
      {"[sites.carbon_feed]\nkind = \"csv\"\nurl = \"https://x\"\ntoken_env = \"X\"\n",
       "is for an electricity-maps feed only"},
      {"[sites.carbon_feed]\nkind = \"csv\"\nurl = \"https://x\"\nuser = \"u\"\n",
       "is for a watttime feed only"},
      {"[sites.carbon_feed]\nkind = \"csv\"\nurl = \"https://x\"\nevery_s = 0\n",
       "every_s': = 0 is outside"},
      {"[sites.carbon_feed]\nkind = \"csv\"\nurl = \"https://x\"\nevery_s = 900\n"
       "stale_after_s = 600\n",
       "shorter than every_s"},
      {"[sites.carbon_feed]\nkind = \"csv\"\nurl = \"https://x\"\nperiod = 3\n", "unknown key"},
      {"[feeds]\nretries = 1.5\n", "feeds.retries': must be a whole number"},
      {"[feeds]\ntimeout_s = 0\n", "feeds.timeout_s': = 0 is outside"},
  };
  for (const Case& c : cases) {
    Result<ServiceConfig> parsed = parse(c.toml);
    ASSERT_FALSE(parsed.ok()) << c.toml;
    EXPECT_NE(parsed.error().find(c.error), std::string::npos) << c.toml << "\n" << parsed.error();
  }
  ::setenv("ELECTRICITYMAPS_TOKEN", "from-the-environment", 1);
  Result<ServiceConfig> from_env = parse("[sites.carbon_feed]\nurl = \"https://x/y?zone=DE\"\n");
  ASSERT_TRUE(from_env.ok()) << from_env.error();
  EXPECT_EQ(from_env->sites[0].carbon_feed.token, "from-the-environment");
  EXPECT_EQ(from_env->sites[0].carbon_feed.every_s, 900);
  EXPECT_EQ(from_env->sites[0].carbon_feed.stale_after_s, 2700);
  EXPECT_EQ(from_env->feeds.cache_dir, d + "/greenshift.db.feeds");
  ::unsetenv("ELECTRICITYMAPS_TOKEN");
  // A weather feed alone makes the model the default forecast.
  Result<ServiceConfig> weather = parse("[sites.weather_feed]\nurl = \"https://x\"\n");
  ASSERT_TRUE(weather.ok()) << weather.error();
  EXPECT_EQ(weather->sites[0].forecast, GreenForecast::kModel);
  std::filesystem::remove_all(d);
}

}  // namespace
}  // namespace greenshift::control
