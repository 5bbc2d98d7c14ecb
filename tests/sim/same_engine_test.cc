// The simulator and the service are one engine: given the same replay (two real sites, five days
// of 2022 weather, PV and grid carbon), `simulate` and `greenshift serve` (its engine built from
// a TOML config, a real SQLite store, the sim driver, moves run on the executor's threads) make
// exactly the same moves, at the same hours.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <tuple>

#include "control/recovery.h"
#include "control/service.h"
#include "core/clock.h"
#include "core/files.h"
#include "energy/weather.h"
#include "hypervisor/sim/sim_driver.h"
#include "placement/policy.h"
#include "sim/scenario.h"
#include "sim/simulate.h"
#include "store/store.h"

namespace greenshift {
namespace {

const std::string kData = std::string(GREENSHIFT_SOURCE_DIR) + "/data";

struct SiteData {
  const char* name;
  const char* zone;
};
const SiteData kSites[] = {{"frankfurt", "DE-LU"}, {"sanjose", "US-CAL-CISO"}};

std::string Number(double v) {
  char text[40];
  std::snprintf(text, sizeof text, "%.17g", v);
  return text;
}

class SameEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/gs-same-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(SameEngineTest, SimulateAndTheServiceMakeTheSameMoves) {
  // The scenario: two sites that see the sun nine hours apart, 6 VMs that fit anywhere.
  std::string scenario_json = R"({"name": "same", "start": "2022-06-01T00:00:00Z", "days": 5,
    "link_mbit": 1000, "energy_per_byte_j": 1e-6, "sites": [)";
  for (size_t s = 0; s < 2; ++s) {
    scenario_json += std::string(s ? "," : "") + R"({"name": ")" + kSites[s].name +
                     R"(", "weather": ")" + kData + "/weather/openmeteo_" + kSites[s].zone +
                     R"(_2022.json", "carbon": ")" + kData + "/carbon/" + kSites[s].zone +
                     R"(_2022_hourly.csv", "pv_kw": 2, "tilt": 30, "azimuth": 180,
                     "capacity_kw": 2})";
  }
  scenario_json += R"(], "vms": {"planetlab_dir": ")" + kData + R"(/workload/planetlab_20110303",
    "count": 6, "memory_mib": 1024, "dirty_mb_s": 10, "working_set_mib": 128,
    "idle_w": 60, "peak_w": 150, "downtime_budget_ms": 500},
    "policy": {"min_dwell_hours": 3, "horizon_hours": 3, "hysteresis_kg": 0.001,
               "hysteresis_fraction": 0.1}})";
  const std::string scenario_path = dir_ + "/scenario.json";
  ASSERT_TRUE(WriteFileAtomic(scenario_path, scenario_json).ok());
  Result<sim::Scenario> scenario = sim::LoadScenario(scenario_path);
  ASSERT_TRUE(scenario.ok()) << scenario.error();
  sim::World& world = scenario->world;
  const size_t T = world.slots, V = world.problem.vms.size();
  // The service's VMs draw their configured power: so do these.
  for (size_t v = 0; v < V; ++v)
    std::fill(world.vm_power_w.begin() + static_cast<ptrdiff_t>(v * T),
              world.vm_power_w.begin() + static_cast<ptrdiff_t>((v + 1) * T), 90.0 + 10 * v);

  // simulate.
  Result<std::unique_ptr<placement::Policy>> policy =
      placement::MakePolicy("greedy-forecast", scenario->options.policy);
  ASSERT_TRUE(policy.ok());
  sim::SimulationOptions options = scenario->options;
  options.keep_moves = true;
  Result<sim::PolicyResult> simulated = sim::Simulate(world, **policy, options);
  ASSERT_TRUE(simulated.ok()) << simulated.error();
  ASSERT_GE(simulated->moves.size(), 4u) << "too few moves to compare";

  // The same as the service's config: the sensors replay the world's PV, reported at the end
  // of each hour; the same weather (for the clear sky), carbon, VMs and policy.
  std::string toml = R"([service]
token = "same-engine-test-token-0123"
mode = "auto"
period_s = 3600
link_mbit = 1000
energy_per_byte_j = 1e-6
downtime_limit_ms = 0
auto_converge = false
replay_start = "2022-06-01T00:00:00Z"
[policy]
name = "greedy-forecast"
min_dwell_hours = 3
horizon_hours = 3
hysteresis_kg = 0.001
hysteresis_fraction = 0.1
)";
  for (size_t s = 0; s < 2; ++s) {
    const std::string weather = kData + "/weather/openmeteo_" + kSites[s].zone + "_2022.json";
    Result<energy::WeatherSeries> w = energy::ReadWeatherFile(weather, 0);
    ASSERT_TRUE(w.ok()) << w.error();
    const std::string csv = dir_ + "/" + kSites[s].name + ".csv";
    std::string rows = "time,power_w\n";
    for (size_t t = 0; t < T; ++t) {
      rows += FormatUtcSeconds(world.start_utc_s + static_cast<int64_t>(t + 1) * 3600) + "," +
              Number(world.pv_w[s * T + t]) + "\n";
    }
    ASSERT_TRUE(WriteFileAtomic(csv, rows).ok());
    // The grid's carbon as the world has it (the year's file holds hours before the world
    // starts, which the simulator cannot know).
    const std::string carbon = dir_ + "/" + kSites[s].name + "-carbon.csv";
    std::string carbon_rows =
        "Datetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity gCO\u2082eq/kWh (direct),"
        "Carbon Intensity gCO\u2082eq/kWh (LCA)\n";
    for (size_t t = 0; t < T; ++t) {
      std::string at = FormatUtcSeconds(world.start_utc_s + static_cast<int64_t>(t) * 3600);
      at = at.substr(0, 10) + " " + at.substr(11, 8);
      carbon_rows += at + ",X,X,X," + Number(world.carbon_g_per_kwh[s * T + t]) + "," +
                     Number(world.carbon_g_per_kwh[s * T + t]) + "\n";
    }
    ASSERT_TRUE(WriteFileAtomic(carbon, carbon_rows).ok());
    toml += std::string("[[sites]]\nname = \"") + kSites[s].name +
            "\"\nlatitude = " + Number(w->latitude_deg) +
            "\nlongitude = " + Number(w->longitude_deg) +
            "\ncapacity_kw = 2\npv_kwp = 2\npv_tilt = 30\npv_azimuth = 180\nweather = \"" +
            weather + "\"\ncarbon = \"" + carbon +
            "\"\nforecast = \"history\"\ncarbon_forecast = \"history\"\n"
            "[[sites.sensors]]\nname = \"pv\"\nkind = \"replay\"\nmeasures = \"pv\"\naddress = \"" +
            csv + "\"\ncapacity_kw = 2\n";
  }
  for (size_t s = 0; s < 2; ++s)
    toml += std::string("[[hosts]]\nname = \"") + kSites[s].name + "-1\"\nsite = \"" +
            kSites[s].name + "\"\ndriver = \"sim\"\n";
  for (size_t v = 0; v < V; ++v) {
    toml += "[[vms]]\nname = \"" + world.problem.vms[v].name + "\"\nhost = \"" +
            kSites[world.initial_site[v]].name +
            "-1\"\nmemory_mib = 1024\ndirty_mb_s = 10\n"
            "working_set_mib = 128\npeak_w = 150\npower_w = " +
            Number(90.0 + 10 * v) + "\ndowntime_budget_ms = 500\n";
  }
  Result<control::ServiceConfig> config = control::ParseConfig(toml, dir_ + "/g.toml");
  ASSERT_TRUE(config.ok()) << config.error();
  Result<std::unique_ptr<store::Store>> store = store::Store::Open(dir_ + "/g.db", true);
  ASSERT_TRUE(store.ok()) << store.error();
  hypervisor::SimDriverConfig sim;
  sim.hosts = {"frankfurt-1", "sanjose-1"};
  sim.bandwidth_bytes_s = 1000e6 / 8;
  sim.speed = 1e6;  // a migration takes its model time, a millionth of it
  hypervisor::SimDriver driver(sim);
  std::atomic<int64_t> wall{1800000000000};
  const int64_t epoch = wall;
  Result<control::Service> service =
      control::BuildService(*config, **store, driver, [&wall] { return wall.load(); });
  ASSERT_TRUE(service.ok()) << service.error();
  control::Engine& engine = *service->engine;
  engine.executor().Start();
  auto start = [&](size_t v, const std::string& host) {
    hypervisor::SimVm vm;
    vm.spec.name = config->vms[v].name;
    vm.spec.memory_mib = 1024;
    vm.dirty_mb_s = 10;
    vm.working_set_mib = 128;
    return driver.StartVm(vm, host);
  };
  ASSERT_TRUE(control::Recover(engine, **store, driver, *service->recorder, start,
                               std::chrono::milliseconds(1000))
                  .ok());
  for (size_t t = 0; t < T; ++t) {
    wall = epoch + static_cast<int64_t>(t) * 3600 * 1000;
    ASSERT_EQ(engine.NowMs(), (world.start_utc_s + static_cast<int64_t>(t) * 3600) * 1000);
    Status ticked = engine.Tick(engine.NowMs());
    ASSERT_TRUE(ticked.ok()) << "hour " << t << ": " << ticked.message();
    ASSERT_TRUE(engine.WaitForMoves(10000));
  }
  engine.Stop();

  std::vector<sim::SimulatedMove> served;
  const std::vector<store::MoveRecord> records = (*store)->Moves(10000).value();
  for (auto it = records.rbegin(); it != records.rend(); ++it) {
    EXPECT_EQ(it->state, "completed") << it->vm << " " << it->result;
    served.push_back({it->vm, it->from_site, it->to_site,
                      (it->requested_utc_ms / 1000 - world.start_utc_s) / 3600});
  }
  auto order = [](const sim::SimulatedMove& a, const sim::SimulatedMove& b) {
    return std::tie(a.slot, a.vm) < std::tie(b.slot, b.vm);
  };
  std::vector<sim::SimulatedMove> expected = simulated->moves;
  std::sort(expected.begin(), expected.end(), order);
  std::sort(served.begin(), served.end(), order);
  ASSERT_EQ(served.size(), expected.size());
  for (size_t i = 0; i < served.size(); ++i) {
    EXPECT_TRUE(served[i] == expected[i])
        << "move " << i << ": service " << served[i].vm << " " << served[i].from << "->"
        << served[i].to << " at hour " << served[i].slot << ", simulate " << expected[i].vm << " "
        << expected[i].from << "->" << expected[i].to << " at hour " << expected[i].slot;
  }
}

}  // namespace
}  // namespace greenshift
