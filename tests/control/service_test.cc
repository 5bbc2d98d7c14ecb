// The service's engine, built from its config as `greenshift serve` builds it, with the sim
// driver, a real SQLite store and a replayed day: green power moves from site a to site b; what
// each mode does with the plan; manual moves and their errors; the recovery after a restart;
// and the API on top of it, over a real HTTP server.
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>

#include "api/api.h"
#include "api/server.h"
#include "control/recovery.h"
#include "control/service.h"
#include "hypervisor/sim/sim_driver.h"

namespace greenshift::control {
namespace {

using nlohmann::json;

const char* kToken = "test-token-0123456789";
constexpr int64_t kStartMs = 1655769600000;  // 2022-06-21T00:00:00Z, where the replay starts

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/gs-control-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    // Site a is green for the first 2 h, then site b.
    std::ofstream a(dir_ + "/a.csv"), b(dir_ + "/b.csv");
    a << "time,power_w\n";
    b << "time,power_w\n";
    for (int m = 0; m <= 6 * 60; m += 10) {
      char t[32];
      std::snprintf(t, sizeof t, "2022-06-21T%02d:%02d:00Z", m / 60, m % 60);
      a << t << "," << (m < 120 ? 4000 : 0) << "\n";
      b << t << "," << (m < 120 ? 0 : 4000) << "\n";
    }
  }
  void TearDown() override {
    server_.reset();
    api_.reset();
    Close();
    std::filesystem::remove_all(dir_);
  }

  void Close() {
    if (service_) service_->engine->Stop();
    service_.reset();
    store_.reset();
  }

  std::string Toml(const std::string& mode) const {
    return std::string(R"(
[service]
token = ")") +
           kToken + R"("
mode = ")" +
           mode + R"("
period_s = 600
replay_start = "2022-06-21T00:00:00Z"
[policy]
name = "greedy-forecast"
min_dwell_hours = 0.5
horizon_hours = 1
[[sites]]
name = "a"
latitude = 50
longitude = 8
capacity_kw = 1
[[sites.sensors]]
name = "pv"
kind = "replay"
address = "a.csv"
capacity_kw = 5
[[sites]]
name = "b"
latitude = 51
longitude = 0
capacity_kw = 1
[[sites.sensors]]
name = "pv"
kind = "replay"
address = "b.csv"
capacity_kw = 5
[[sites.sensors]]
name = "roof"
kind = "push"
capacity_kw = 1
[[hosts]]
name = "a1"
site = "a"
driver = "sim"
[[hosts]]
name = "b1"
site = "b"
driver = "sim"
[[vms]]
name = "web"
host = "a1"
memory_mib = 256
peak_w = 200
power_w = 120
)";
  }

  // Opens store, driver and the service as `greenshift serve` does; the wall clock is ours.
  void Open(const std::string& mode, bool keep_driver = false) {
    std::string toml = Toml(mode);
    for (const auto& [from, to] : edits_) {
      const size_t at = toml.find(from);
      ASSERT_NE(at, std::string::npos) << from;
      toml.replace(at, from.size(), to);
    }
    Result<ServiceConfig> parsed = ParseConfig(toml, dir_ + "/greenshift.toml");
    ASSERT_TRUE(parsed.ok()) << parsed.error();
    config_ = *parsed;
    Result<std::unique_ptr<store::Store>> store = store::Store::Open(dir_ + "/gs.db", true);
    ASSERT_TRUE(store.ok()) << store.error();
    store_ = std::move(*store);
    if (!keep_driver) {
      hypervisor::SimDriverConfig sim;
      for (const HostConfig& host : config_.hosts) sim.hosts.push_back(host.name);
      sim.speed = 1000;  // a migration of the model's seconds takes milliseconds
      if (sim_link_bytes_s_ > 0) sim.bandwidth_bytes_s = sim_link_bytes_s_;
      driver_ = std::make_unique<hypervisor::SimDriver>(sim);
    }
    Result<Service> service =
        BuildService(config_, *store_, *driver_, [this] { return wall_.load(); });
    ASSERT_TRUE(service.ok()) << service.error();
    service_ = std::make_unique<Service>(std::move(*service));
    engine_ = service_->engine.get();
    engine_->executor().Start();
    auto start = [this](size_t v, const std::string& host) {
      ++starts_;
      hypervisor::SimVm vm;
      vm.spec.name = config_.vms[v].name;
      vm.spec.memory_mib = static_cast<int>(config_.vms[v].memory_mib);
      vm.dirty_mb_s = sim_dirty_mb_s_;
      vm.resent_wire_fraction = sim_resent_wire_fraction_;
      return driver_->StartVm(vm, host);
    };
    Result<RecoveryReport> recovered = Recover(*engine_, *store_, *driver_, *service_->recorder,
                                               start, std::chrono::milliseconds(1000));
    recovery_ = recovered.status();
    if (expect_recovery_) {
      ASSERT_TRUE(recovered.ok()) << recovered.error();
      report_ = *recovered;
    }
  }

  // Ticks every period from now until `until_ms` (service time).
  void RunUntil(int64_t until_ms) {
    while (engine_->NowMs() < until_ms) {
      Status ticked = engine_->Tick(engine_->NowMs());
      ASSERT_TRUE(ticked.ok()) << ticked.message();
      ASSERT_TRUE(engine_->WaitForMoves(5000));
      wall_ += 600 * 1000;
    }
  }

  std::string VmSite() {
    for (const VmView& vm : engine_->Vms()) {
      if (vm.name == "web")
        return vm.site < 0 ? "" : engine_->problem().sites[static_cast<size_t>(vm.site)].name;
    }
    return "?";
  }

  std::string Metrics() {
    api::Api api(config_, *store_, *service_->recorder, *engine_);
    return api.Metrics();
  }

  std::string dir_;
  std::atomic<int64_t> wall_{1700000000000};
  ServiceConfig config_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<hypervisor::SimDriver> driver_;
  std::unique_ptr<Service> service_;
  Engine* engine_ = nullptr;
  RecoveryReport report_;
  bool expect_recovery_ = true;
  Status recovery_;
  int starts_ = 0;
  std::vector<std::pair<std::string, std::string>> edits_;  // applied to the config's text
  // The sim driver's links and guests as they are (0: as configured).
  double sim_link_bytes_s_ = 0;
  double sim_dirty_mb_s_ = 0;
  double sim_resent_wire_fraction_ = 1;
  std::unique_ptr<api::Api> api_;
  std::unique_ptr<api::HttpServer> server_;
};

TEST_F(ServiceTest, TheBestSiteForAVmFollowsTheGreenPowerAndCountsTheMove) {
  // Site a is green for the first two hours, then b. Asked at the start, the best place for
  // "web" over the next hour is where it is (a: all green, no move); asked at 02:10, b (green;
  // a move to reach it, priced and feasible: in approve mode the VM waits where it is). Bad
  // questions are refused.
  Open("approve");
  api::Api api(config_, *store_, *service_->recorder, *engine_);
  auto ask = [&](const std::string& query) {
    api::Request request;
    request.method = "GET";
    request.path = "/api/best-site";
    api::ParseTarget("/api/best-site?" + query, &request.path, &request.query,
                     &request.query_pairs);
    return api.Handle(request);
  };
  EXPECT_EQ(ask("vm=web").status, 503);  // no forecast before the first tick
  RunUntil(kStartMs + 1);
  api::Response first = ask("vm=web&hours=1");
  ASSERT_EQ(first.status, 200) << first.body;
  nlohmann::json answer = nlohmann::json::parse(first.body);
  EXPECT_EQ(answer["at"], "a");
  EXPECT_EQ(answer["best"], "a") << answer.dump(2);
  ASSERT_EQ(answer["sites"].size(), 2u);
  EXPECT_TRUE(answer["sites"][0]["move"].is_null());  // its own site: no move
  EXPECT_NEAR(answer["sites"][0]["green_share"].get<double>(), 1, 1e-9) << answer.dump(2);
  EXPECT_TRUE(answer["sites"][1]["move"]["feasible"].get<bool>());
  EXPECT_GT(answer["sites"][1]["move"]["kg_co2"].get<double>(), 0);
  RunUntil(kStartMs + 130 * 60 * 1000);
  answer = nlohmann::json::parse(ask("vm=web&hours=1").body);
  EXPECT_EQ(answer["at"], "a");
  EXPECT_EQ(answer["best"], "b") << answer.dump(2);
  EXPECT_TRUE(answer["sites"][0]["move"]["feasible"].get<bool>());
  EXPECT_LT(answer["sites"][0]["kg_co2"].get<double>(), answer["sites"][1]["kg_co2"].get<double>());
  // Hostile questions.
  EXPECT_EQ(ask("").status, 400);
  EXPECT_EQ(ask("vm=nobody").status, 404);
  EXPECT_EQ(ask("vm=web&hours=0").status, 400);
  EXPECT_EQ(ask("vm=web&hours=99999").status, 400);
  EXPECT_EQ(ask("vm=web&hours=1.5").status, 400);
}

TEST_F(ServiceTest, AReplayFilesGapsAreSilenceAndTheServiceSaysHowMany) {
  // Site a's logger was offline from 01:00 to 01:50 (six empty cells): the service starts,
  // says so, and stores nothing for those hours; around them its readings go on.
  {
    std::ofstream gaps(dir_ + "/gaps.csv");
    gaps << "time,power_w\n";
    for (int m = 0; m <= 6 * 60; m += 10) {
      char t[32];
      std::snprintf(t, sizeof t, "2022-06-21T%02d:%02d:00Z", m / 60, m % 60);
      gaps << t << "," << (m >= 60 && m < 120 ? "" : "3000") << "\n";
    }
  }
  edits_.push_back({"address = \"a.csv\"", "address = \"gaps.csv\""});
  Open("auto");
  ASSERT_EQ(service_->warnings.size(), 1u);
  EXPECT_NE(service_->warnings[0].find("sensor 'pv': 6 of 37 rows of"), std::string::npos)
      << service_->warnings[0];
  EXPECT_NE(service_->warnings[0].find("have no value (gaps): the sensor is silent there"),
            std::string::npos);
  RunUntil(kStartMs + 3 * 3600 * 1000);
  const std::vector<store::StoredReading> rows = store_->Readings("a", kStartMs, 1000).value();
  size_t in_gap = 0, around = 0;
  for (const store::StoredReading& r : rows) {
    if (r.sensor != "pv") continue;
    const int64_t minute = (r.time_utc_ms - kStartMs) / 60000;
    ++(minute >= 60 && minute < 120 ? in_gap : around);
  }
  EXPECT_EQ(in_gap, 0u);
  EXPECT_GT(around, 5u);
}

TEST_F(ServiceTest, AutoFollowsTheGreenPowerFromAToB) {
  Open("auto");
  EXPECT_EQ(engine_->NowMs(), kStartMs);
  EXPECT_EQ(report_.vms_started, 1);
  EXPECT_EQ(VmSite(), "a");  // the recovery started it on its host
  RunUntil(kStartMs + 110 * 60000);
  EXPECT_EQ(VmSite(), "a");  // a is green: it stays
  EXPECT_TRUE(store_->Moves(10).value().empty());
  RunUntil(kStartMs + 4 * 3600000);
  EXPECT_EQ(VmSite(), "b");
  std::vector<store::MoveRecord> moves = store_->Moves(10).value();
  ASSERT_EQ(moves.size(), 1u);  // once, not back and forth
  EXPECT_EQ(moves[0].state, "completed");
  EXPECT_EQ(moves[0].from_site, "a");
  EXPECT_EQ(moves[0].to_site, "b");
  EXPECT_GT(moves[0].downtime_ms, 0);
  EXPECT_FALSE(moves[0].reason.empty());
  EXPECT_GE(moves[0].requested_utc_ms, kStartMs + 2 * 3600000);
  EXPECT_GT(moves[0].plan_id, 0);
  EXPECT_EQ(store_->GetPlan(moves[0].plan_id).value().status, "executed");

  const EngineStatus status = engine_->GetStatus();
  EXPECT_GT(status.totals.green_used_wh, status.totals.static_green_used_wh);
  EXPECT_LT(status.totals.co2_kg, status.totals.static_co2_kg);
  const std::string metrics = Metrics();
  EXPECT_NE(metrics.find("greenshift_migrations_total{result=\"completed\"} 1"), std::string::npos);
  EXPECT_NE(metrics.find("greenshift_site_green_power_watts{site=\"b\"} 4000"), std::string::npos);
  EXPECT_NE(metrics.find("greenshift_site_load_watts{site=\"b\"} 120"), std::string::npos);
  EXPECT_NE(metrics.find("greenshift_last_migration_downtime_seconds"), std::string::npos);
  // The move's record holds what it was priced at and how far the measurement was from it.
  const nlohmann::json result = nlohmann::json::parse(moves[0].result);
  ASSERT_TRUE(result.contains("predicted")) << moves[0].result;
  const double predicted_ms = result["predicted"]["total_ms"].get<double>();
  EXPECT_GT(predicted_ms, 0);
  EXPECT_GT(result["predicted"]["bytes"].get<double>(), 0);
  ASSERT_TRUE(result.contains("model_error")) << moves[0].result;
  EXPECT_NEAR(result["model_error"]["total"].get<double>(),
              (result["total_ms"].get<double>() - predicted_ms) / predicted_ms, 1e-9);
  EXPECT_EQ(status.model_errors.Summary().moves, 1u);
  EXPECT_NEAR(status.model_errors.Summary().total,
              std::abs(result["model_error"]["total"].get<double>()), 1e-9);
  EXPECT_NE(metrics.find("greenshift_model_compared_moves 1\n"), std::string::npos);
  EXPECT_NE(metrics.find("greenshift_model_error_ratio{quantity=\"total_time\"} "),
            std::string::npos);
  // Every replayed reading was stored; forecasts were issued for both sites.
  EXPECT_GT(store_->CountReadings().value(), 40);
  EXPECT_EQ(store_->CountRejected().value(), 0);
  EXPECT_FALSE(store_->LatestForecast("b").value().second.empty());
}

// Site b has two hosts. Both VMs go to a while a is green (db from its host b1), then both come
// back to b: web first, to b1 (both hosts empty: the first), then db to b2 (0 of 1024 MiB taken
// beats 256 of 512): they spread over b's hosts. The status shows every host's memory.
TEST_F(ServiceTest, AVmFollowingTheGreenPowerLandsOnTheLeastLoadedHost) {
  edits_ = {{"name = \"b1\"\nsite = \"b\"\ndriver = \"sim\"",
             "name = \"b1\"\nsite = \"b\"\ndriver = \"sim\"\nmemory_mib = 512\n"
             "[[hosts]]\nname = \"b2\"\nsite = \"b\"\ndriver = \"sim\"\nmemory_mib = 1024"},
            {"[[vms]]",
             "[[vms]]\nname = \"db\"\nhost = \"b1\"\nmemory_mib = 256\npeak_w = 200\n"
             "power_w = 100\n[[vms]]"}};
  Open("auto");
  EXPECT_EQ(report_.vms_started, 2);
  EXPECT_EQ(driver_->GetVm("db").value().host, "b1");  // started on its own host
  RunUntil(kStartMs + 4 * 3600000);
  EXPECT_EQ(VmSite(), "b");
  EXPECT_EQ(driver_->GetVm("web").value().host, "b1");
  EXPECT_EQ(driver_->GetVm("db").value().host, "b2");
  const EngineStatus status = engine_->GetStatus();
  ASSERT_EQ(status.hosts.size(), 3u);
  EXPECT_EQ(status.hosts[1].name, "b1");
  EXPECT_EQ(status.hosts[1].memory_mib, 512);
  EXPECT_EQ(status.hosts[1].memory_used_mib, 256);
  EXPECT_EQ(status.hosts[2].memory_used_mib, 256);
  EXPECT_EQ(status.hosts[0].memory_used_mib, 0);
  api::Api api(config_, *store_, *service_->recorder, *engine_);
  api::Request request;
  request.method = "GET";
  request.path = "/api/hosts";
  const json body = json::parse(api.Handle(request).body);
  EXPECT_EQ(body[2]["name"], "b2") << body.dump();
  EXPECT_EQ(body[2]["memory_mib"], 1024) << body.dump();
  EXPECT_EQ(body[2]["memory_used_mib"], 256) << body.dump();
  EXPECT_TRUE(body[0]["memory_mib"].is_null()) << body.dump();
}

// GET /api/links: the pair of sites as the planner prices a move over it, and a move predicted
// over a far link pauses the guest longer by half its round trip.
TEST_F(ServiceTest, LinksShowWhatAMigrationStreamGets) {
  edits_ = {{"[[hosts]]\nname = \"a1\"",
             "[[links]]\na = \"b\"\nb = \"a\"\nmbit = 100\nrtt_ms = 80\nnetwork = "
             "\"vxlan\"\n[[hosts]]\nname = \"a1\""}};
  Open("auto");
  api::Api api(config_, *store_, *service_->recorder, *engine_);
  api::Request request;
  request.method = "GET";
  request.path = "/api/links";
  const json body = json::parse(api.Handle(request).body);
  ASSERT_EQ(body.size(), 1u) << body.dump();
  EXPECT_EQ(body[0]["a"], "a");
  EXPECT_EQ(body[0]["b"], "b");
  EXPECT_EQ(body[0]["configured"], true);
  EXPECT_DOUBLE_EQ(body[0]["mbit"].get<double>(), 100);
  EXPECT_DOUBLE_EQ(body[0]["rtt_ms"].get<double>(), 80);
  EXPECT_EQ(body[0]["network"], "vxlan");
  EXPECT_DOUBLE_EQ(body[0]["stream_mbit"].get<double>(), 100);  // 4 MiB per 80 ms is more
  EXPECT_GT(body[0]["stream_ramp_ms"].get<double>(), 80);       // handshake and slow start
  const placement::Problem problem = ProblemOf(config_);
  const placement::MoveCost far = placement::PredictMove(problem, 0, 0, 1);
  placement::Problem near_problem = problem;
  for (placement::Link& link : near_problem.links) link.rtt_s = 0;
  const placement::MoveCost near = placement::PredictMove(near_problem, 0, 0, 1);
  EXPECT_NEAR(far.downtime_s - near.downtime_s, 0.040, 1e-6);
}

// The Grafana dashboard we ship asks only for metrics the service exposes.
TEST_F(ServiceTest, TheGrafanaDashboardAsksForMetricsThatExist) {
  Open("auto");
  RunUntil(kStartMs + 4 * 3600000);  // a move, so that the migration metrics have samples
  const std::string metrics = Metrics();
  std::ifstream in(std::string(GREENSHIFT_SOURCE_DIR) + "/packaging/grafana-dashboard.json");
  const json dashboard = json::parse(in);
  size_t asked = 0;
  for (const json& panel : dashboard["panels"]) {
    for (const json& target : panel["targets"]) {
      const std::string expr = target["expr"];
      for (size_t at = expr.find("greenshift_"); at != std::string::npos;
           at = expr.find("greenshift_", at + 1)) {
        size_t end = at;
        while (end < expr.size() &&
               (std::isalnum(static_cast<unsigned char>(expr[end])) || expr[end] == '_'))
          ++end;
        const std::string name = expr.substr(at, end - at);
        ++asked;
        // A sample of it, or at least its declaration (a counter nobody has counted yet).
        const bool exposed = metrics.find("\n" + name) != std::string::npos ||
                             metrics.find("# TYPE " + name + " ") != std::string::npos;
        EXPECT_TRUE(exposed) << "panel '" << panel["title"].get<std::string>() << "' asks for "
                             << name;
      }
    }
  }
  EXPECT_GT(asked, 15u);
}

TEST_F(ServiceTest, ApproveWaitsForTheOperator) {
  Open("approve");
  RunUntil(kStartMs + 150 * 60000);
  EXPECT_EQ(VmSite(), "a");  // planned, not executed
  std::vector<store::PlanRecord> plans = store_->Plans(10).value();
  ASSERT_FALSE(plans.empty());
  EXPECT_EQ(plans[0].status, "pending");
  for (size_t i = 1; i < plans.size(); ++i) EXPECT_EQ(plans[i].status, "superseded");
  EXPECT_TRUE(engine_->Approve(plans.back().id).status().IsConflict()) << "a superseded plan";
  EXPECT_TRUE(engine_->Approve(123456).status().IsNotFound());
  Result<PlanView> approved = engine_->Approve(plans[0].id);
  ASSERT_TRUE(approved.ok()) << approved.error();
  ASSERT_TRUE(engine_->WaitForMoves(5000));
  EXPECT_EQ(VmSite(), "b");
  EXPECT_TRUE(engine_->Approve(plans[0].id).status().IsConflict()) << "approved twice";
  EXPECT_TRUE(engine_->Reject(plans[0].id).IsConflict());
}

TEST_F(ServiceTest, RejectedPlansMoveNothing) {
  Open("approve");
  RunUntil(kStartMs + 150 * 60000);
  const int64_t id = store_->Plans(1).value().at(0).id;
  EXPECT_TRUE(engine_->Reject(id).ok());
  EXPECT_EQ(store_->GetPlan(id).value().status, "rejected");
  EXPECT_TRUE(engine_->Approve(id).status().IsConflict());
  EXPECT_EQ(VmSite(), "a");
  EXPECT_TRUE(store_->Moves(10).value().empty());
}

TEST_F(ServiceTest, DryRunOnlyRecords) {
  Open("dry-run");
  RunUntil(kStartMs + 4 * 3600000);
  EXPECT_EQ(VmSite(), "a");
  EXPECT_TRUE(store_->Moves(10).value().empty());
  std::vector<store::PlanRecord> plans = store_->Plans(10).value();
  ASSERT_FALSE(plans.empty());
  EXPECT_EQ(plans[0].status, "recorded");
  EXPECT_TRUE(engine_->RequestMove("web", "b").status().IsConflict());
}

TEST_F(ServiceTest, ManualMovesAndTheirErrors) {
  Open("auto");
  RunUntil(kStartMs + 30 * 60000);
  EXPECT_TRUE(engine_->RequestMove("nope", "b").status().IsNotFound());
  EXPECT_TRUE(engine_->RequestMove("web", "mars").status().IsNotFound());
  EXPECT_TRUE(engine_->RequestMove("web", "a").status().IsConflict());  // already there
  Result<MoveOrder> moved = engine_->RequestMove("web", "b");
  ASSERT_TRUE(moved.ok()) << moved.error();
  EXPECT_GT(moved->id, 0);
  EXPECT_TRUE(moved->manual);
  ASSERT_TRUE(engine_->WaitForMoves(5000));
  EXPECT_EQ(VmSite(), "b");
  EXPECT_EQ(store_->Moves(1).value().at(0).plan_id, 0);
  EXPECT_EQ(store_->Moves(1).value().at(0).state, "completed");
}

// The configuration says the link carries 1 Gbit/s and the VM dirties nothing; the link carries
// 100 Mbit/s and the guest rewrites 5 MB/s, its pages sent again encoded in 30 % of a page. The
// first move is priced on the sample taken just before it (the configured link still, pages
// sent whole): it takes about 10 times longer than predicted. What its stream carried and what
// its pages sent again cost price the way back, which is predicted within 2 %; the status and
// /metrics show the link and the VM as measured.
TEST_F(ServiceTest, MovesArePricedOnWhatTheLastOnesMeasured) {
  sim_link_bytes_s_ = 12.5e6;
  sim_dirty_mb_s_ = 5;
  sim_resent_wire_fraction_ = 0.3;
  Open("auto");
  RunUntil(kStartMs + 30 * 60000);
  ASSERT_TRUE(engine_->RequestMove("web", "b").ok());
  ASSERT_TRUE(engine_->WaitForMoves(5000));
  ASSERT_TRUE(engine_->RequestMove("web", "a").ok());
  ASSERT_TRUE(engine_->WaitForMoves(5000));
  std::vector<store::MoveRecord> moves = store_->Moves(10).value();
  ASSERT_EQ(moves.size(), 2u);
  const json back = json::parse(moves[0].result), there = json::parse(moves[1].result);
  ASSERT_EQ(moves[1].to_site, "b");
  ASSERT_EQ(moves[1].state, "completed") << moves[1].result;
  ASSERT_EQ(moves[0].state, "completed") << moves[0].result;
  EXPECT_NEAR(there["dirty_rate_sampled_mb_s"].get<double>(), 5, 1e-9);
  EXPECT_GT(there["model_error"]["total"].get<double>(), 5);
  EXPECT_NEAR(back["model_error"]["total"].get<double>(), 0, 0.02) << moves[0].result;
  EXPECT_NEAR(back["model_error"]["bytes"].get<double>(), 0, 0.02) << moves[0].result;

  const EngineStatus status = engine_->GetStatus();
  ASSERT_EQ(status.calibrated_links.size(), 2u);
  EXPECT_NEAR(status.calibrated_links[0].measured_bytes_s, 12.5e6, 0.01 * 12.5e6);
  EXPECT_EQ(status.calibrated_links[0].configured_bytes_s, 125e6);
  ASSERT_EQ(status.calibrated_vms.size(), 1u);
  EXPECT_EQ(status.calibrated_vms[0].samples, 2);
  EXPECT_EQ(status.calibrated_vms[0].encoded_moves, 2);
  EXPECT_NEAR(status.calibrated_vms[0].resent_wire_fraction, 0.3, 1e-3);
  EXPECT_GT(there["resent_page_bytes"].get<int64_t>(), 0) << moves[1].result;
  EXPECT_NE(Metrics().find("greenshift_link_measured_bytes_per_second{from=\"a\",to=\"b\"} "),
            std::string::npos);
  // The sim driver pauses the guest as long as the model's data takes: no switchover beyond.
  EXPECT_EQ(status.calibrated_links[0].switchovers, 1);
  EXPECT_NEAR(status.calibrated_links[0].switchover_s, 0, 1e-6);
  EXPECT_NE(Metrics().find("greenshift_link_switchover_seconds{from=\"a\",to=\"b\"} "),
            std::string::npos);
}

TEST_F(ServiceTest, AFailedMigrationLeavesTheVmOnItsSource) {
  Open("auto");
  driver_->FailMigrations(true);
  RunUntil(kStartMs + 150 * 60000);
  EXPECT_EQ(VmSite(), "a");
  std::vector<store::MoveRecord> moves = store_->Moves(10).value();
  ASSERT_FALSE(moves.empty());
  EXPECT_EQ(moves.back().state, "failed");
  EXPECT_NE(moves.back().result.find("link to host b1 is down"), std::string::npos);
  EXPECT_NE(Metrics().find("greenshift_migrations_total{result=\"failed\"}"), std::string::npos);
}

TEST_F(ServiceTest, ReconcileSettlesWhatTheLastRunLeft) {
  Open("auto");
  // As a killed service would leave them: one move running (the VM did arrive), one queued,
  // and a second run.
  store::MoveRecord running{0,         0,        "web",    "a", "b", "test",
                            "running", kStartMs, kStartMs, 0,   -1,  ""};
  store::MoveRecord queued{0, 0, "web", "b", "a", "test", "queued", kStartMs, 0, 0, -1, ""};
  const int64_t running_id = store_->AddMove(running).value();
  const int64_t queued_id = store_->AddMove(queued).value();
  hypervisor::MigrationOptions options;
  ASSERT_TRUE(driver_->Migrate("web", "b1", options, nullptr).completed);
  Close();
  Open("auto", /*keep_driver=*/true);
  std::map<int64_t, store::MoveRecord> by_id;
  const std::vector<store::MoveRecord> after = store_->Moves(10).value();
  for (const store::MoveRecord& m : after) by_id[m.id] = m;
  EXPECT_EQ(by_id[running_id].state, "completed");
  EXPECT_NE(by_id[running_id].result.find("reconciled"), std::string::npos);
  EXPECT_EQ(by_id[queued_id].state, "cancelled");
  EXPECT_EQ(VmSite(), "b");
  EXPECT_EQ(driver_->ListVms().value().size(), 1u);  // started once, never twice
  // The replay's clock went on from where it was (the epoch is kept in the store).
  EXPECT_EQ(engine_->NowMs(), kStartMs);
  EXPECT_EQ(report_.moves_completed, 1);
  EXPECT_EQ(report_.moves_cancelled, 1);
}

// A driver whose hypervisor does not answer (a libvirt daemon restarting, a lost connection).
class UnreachableDriver : public hypervisor::SimDriver {
 public:
  using SimDriver::SimDriver;
  Result<hypervisor::VmInfo> GetVm(const std::string& name) override {
    return Status::Unavailable("cannot reach the hypervisor to ask for VM '" + name + "'");
  }
};

TEST_F(ServiceTest, ADriverThatCannotAnswerIsNotTakenForAVmThatRunsNowhere) {
  // The VM may well run: starting it again could run it twice. The start fails instead.
  hypervisor::SimDriverConfig sim;
  sim.hosts = {"a1", "b1"};
  driver_ = std::make_unique<UnreachableDriver>(sim);
  expect_recovery_ = false;
  Open("auto", /*keep_driver=*/true);
  EXPECT_TRUE(recovery_.IsUnavailable()) << recovery_.message();
  EXPECT_NE(recovery_.message().find("cannot reach the hypervisor"), std::string::npos);
  EXPECT_EQ(starts_, 0);
  EXPECT_TRUE(driver_->ListVms().value().empty());
}

// A driver whose hypervisor lists the VMs but, while `silent` is set, does not answer about
// them in time (a libvirt daemon waiting for a VM's QEMU stuck on its dead disk).
class SilentDriver : public hypervisor::SimDriver {
 public:
  using SimDriver::SimDriver;
  Result<std::vector<hypervisor::VmInfo>> ListVms() override {
    Result<std::vector<hypervisor::VmInfo>> listed = SimDriver::ListVms();
    if (listed.ok() && silent)
      for (hypervisor::VmInfo& vm : *listed) vm.unanswered = "no answer within 2000 ms";
    return listed;
  }
  std::atomic<bool> silent{false};
};

TEST_F(ServiceTest, AVmItsHypervisorDoesNotAnswerAboutIsLoggedWhenItStartsAndEndsNotEveryTick) {
  hypervisor::SimDriverConfig sim;
  sim.hosts = {"a1", "b1"};
  auto silent = std::make_unique<SilentDriver>(sim);
  SilentDriver* driver = silent.get();
  driver_ = std::move(silent);
  Open("auto", /*keep_driver=*/true);
  auto inventory_events = [this] {
    std::vector<store::Event> events = store_->Events(1000).value();
    std::sort(events.begin(), events.end(),
              [](const store::Event& x, const store::Event& y) { return x.id < y.id; });
    std::vector<std::string> said;
    for (const store::Event& e : events)
      if (e.kind == "inventory") said.push_back(e.message);
    return said;
  };
  RunUntil(engine_->NowMs() + 3 * 600000);
  EXPECT_TRUE(inventory_events().empty());
  driver->silent = true;
  RunUntil(engine_->NowMs() + 5 * 600000);  // five ticks without an answer: said once
  ASSERT_EQ(inventory_events().size(), 1u);
  EXPECT_EQ(inventory_events()[0], "web: no answer within 2000 ms");
  driver->silent = false;
  RunUntil(engine_->NowMs() + 3 * 600000);  // answered again: said once
  ASSERT_EQ(inventory_events().size(), 2u);
  EXPECT_EQ(inventory_events()[1], "web: its hypervisor answers about it again");
  driver->silent = true;  // and silent again: said again
  RunUntil(engine_->NowMs() + 2 * 600000);
  EXPECT_EQ(inventory_events().size(), 3u);
}

TEST_F(ServiceTest, TheApiServesTheLoop) {
  Open("auto");
  RunUntil(kStartMs + 30 * 60000);
  api_ = std::make_unique<api::Api>(config_, *store_, *service_->recorder, *engine_);
  server_ = std::make_unique<api::HttpServer>(api::ServerOptions{}, *api_);
  ASSERT_TRUE(server_->Start().ok());
  httplib::Client http("127.0.0.1", server_->port());
  const httplib::Headers auth = {{"Authorization", std::string("Bearer ") + kToken}};

  auto vms = http.Get("/api/vms");
  ASSERT_TRUE(vms);
  EXPECT_EQ(vms->status, 200);
  EXPECT_EQ(json::parse(vms->body)[0]["site"], "a");
  auto sites = http.Get("/api/sites");
  ASSERT_TRUE(sites);
  EXPECT_EQ(json::parse(sites->body)[0]["green_w"], 4000);
  EXPECT_EQ(json::parse(sites->body)[0]["vms"], json::array({"web"}));

  auto no_token = http.Post("/api/moves", R"({"vm": "web", "to": "b"})", "application/json");
  ASSERT_TRUE(no_token);
  EXPECT_EQ(no_token->status, 401);
  auto bad_json = http.Post("/api/moves", auth, "{vm", "application/json");
  ASSERT_TRUE(bad_json);
  EXPECT_EQ(bad_json->status, 400);
  auto unknown_vm = http.Post("/api/moves", auth, R"({"vm": "x", "to": "b"})", "application/json");
  ASSERT_TRUE(unknown_vm);
  EXPECT_EQ(unknown_vm->status, 404);
  EXPECT_NE(json::parse(unknown_vm->body)["error"].get<std::string>().find("no VM is named 'x'"),
            std::string::npos);
  auto unknown_plan = http.Post("/api/plans/999/approve", auth, "", "application/json");
  ASSERT_TRUE(unknown_plan);
  EXPECT_EQ(unknown_plan->status, 404);
  // A replayed sensor is read by the service: nobody may push its readings.
  auto pushed = http.Post("/api/readings", auth, R"({"site": "b", "sensor": "pv", "power_w": 5})",
                          "application/json");
  ASSERT_TRUE(pushed);
  EXPECT_EQ(pushed->status, 409);

  auto moved = http.Post("/api/moves", auth, R"({"vm": "web", "to": "b"})", "application/json");
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->status, 202) << moved->body;
  ASSERT_TRUE(engine_->WaitForMoves(5000));
  auto moves = http.Get("/api/moves");
  ASSERT_TRUE(moves);
  const json list = json::parse(moves->body);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["state"], "completed");
  EXPECT_EQ(list[0]["reason"], "requested through the API");
  EXPECT_TRUE(list[0]["downtime_ms"].is_number());
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("greenshift_migrations_total{result=\"completed\"} 1"),
            std::string::npos);
  auto page = http.Get("/");
  ASSERT_TRUE(page);
  EXPECT_NE(page->body.find("/static/chart.js"), std::string::npos);
  auto forecasts = http.Get("/api/forecasts");
  ASSERT_TRUE(forecasts);
  const json forecast_sites = json::parse(forecasts->body);
  ASSERT_EQ(forecast_sites.size(), 2u);
  for (const json& site : forecast_sites) {
    ASSERT_FALSE(site["slots"].empty()) << site.dump();
    for (const json& slot : site["slots"]) {
      // Each slot says how much of its green a move counts on (the forecasts' record).
      ASSERT_TRUE(slot["green_realized_share"].is_number()) << slot.dump();
      EXPECT_GE(slot["green_realized_share"].get<double>(), 0);
      EXPECT_LE(slot["green_realized_share"].get<double>(), 1);
    }
  }
  server_->Stop();
}

}  // namespace
}  // namespace greenshift::control
