#include <gtest/gtest.h>

#include <cmath>

#include "placement/policy.h"
#include "placement/problem.h"
#include "sim/simulate.h"

namespace greenshift {
namespace {

// Three sites whose sun comes up eight hours apart, twelve VMs, three days.
sim::World ThreeSites(double downtime_budget_s = 0.5, double capacity_w = 1000) {
  sim::World world;
  world.slots = 72;
  const size_t S = 3, V = 12;
  for (size_t s = 0; s < S; ++s)
    world.problem.sites.push_back({"site" + std::to_string(s), capacity_w});
  world.problem.links.assign(S * S, placement::Link{125e6});
  world.problem.energy_per_byte_j = 1e-5;
  const double carbon[] = {400, 200, 300};
  for (size_t s = 0; s < S; ++s) {
    for (size_t t = 0; t < world.slots; ++t) {
      const double hour = std::fmod(static_cast<double>(t) + 8.0 * static_cast<double>(s), 24.0);
      const double sun = std::max(0.0, std::sin((hour - 6) / 12 * M_PI));
      world.pv_clear_w.push_back(900 * sun);
      world.pv_w.push_back(900 * sun * (t % 5 == 0 ? 0.4 : 1.0));  // some cloudy hours
      world.wind_w.push_back(s == 1 ? 50 : 0);
      world.carbon_g_per_kwh.push_back(carbon[s]);
    }
  }
  for (size_t v = 0; v < V; ++v) {
    placement::Vm vm;
    vm.name = "vm" + std::to_string(v);
    vm.memory_bytes = int64_t{2} << 30;
    vm.dirty_rate_bytes_s = 10e6;
    vm.working_set_bytes = int64_t{256} << 20;
    vm.peak_power_w = 100;
    vm.downtime_budget_s = downtime_budget_s;
    world.problem.vms.push_back(vm);
    for (size_t t = 0; t < world.slots; ++t)
      world.vm_power_w.push_back(40 + 60 * (0.5 + 0.5 * std::sin(static_cast<double>(t + v))));
    world.initial_site.push_back(static_cast<int>(v % S));
  }
  return world;
}

sim::PolicyResult RunPolicy(const sim::World& world, const std::string& name,
                            placement::PolicyOptions options = {}) {
  auto policy = placement::MakePolicy(name, options);
  EXPECT_TRUE(policy.ok()) << policy.error();
  sim::SimulationOptions sim_options;
  if (name == "optimal") {
    // A small MILP: 8 slots ahead, re-planned every 6, one second per solve at most.
    options.horizon_slots = 8;
    options.optimal_time_limit_s = 1;
    options.optimal_replan_slots = 6;
    policy = placement::MakePolicy(name, options);
  }
  sim_options.policy = options;
  Result<sim::PolicyResult> result = sim::Simulate(world, **policy, sim_options);
  EXPECT_TRUE(result.ok()) << result.error();
  return *result;
}

TEST(PlacementTest, CapacityIsNeverExceeded) {
  // Room for 4 VMs per site and 12 VMs: every site full all the time, whatever the policy.
  const sim::World tight = ThreeSites(0.5, 400);
  for (const std::string name : {"follow-sensor", "greedy-forecast"}) {
    const sim::PolicyResult r = RunPolicy(tight, name);
    for (size_t i = 0; i < r.site_vms.size(); ++i) EXPECT_LE(r.site_vms[i] * 100, 400) << name;
  }
  const sim::World roomy = ThreeSites(0.5, 800);
  for (const std::string name : {"follow-sensor", "greedy-forecast", "optimal"}) {
    const sim::PolicyResult r = RunPolicy(roomy, name);
    EXPECT_GT(r.migrations, 0) << name;
    for (size_t i = 0; i < r.site_vms.size(); ++i) EXPECT_LE(r.site_vms[i] * 100, 800) << name;
    EXPECT_EQ(r.refused_moves, 0) << name << " migrations " << r.migrations;
  }
}

TEST(PlacementTest, NoMoveOverTheDowntimeBudget) {
  // 0.1 ms budget: sending the device state alone takes longer, so no move converges within it
  // and nothing moves.
  const sim::World world = ThreeSites(0.0001);
  const placement::MoveCosts costs(world.problem);
  EXPECT_FALSE(costs.At(0, 0, 1).feasible);
  EXPECT_FALSE(costs.At(0, 0, 1).why_not.empty());
  for (const std::string name : {"follow-sensor", "greedy-forecast", "optimal"}) {
    EXPECT_EQ(RunPolicy(world, name).migrations, 0) << name;
  }
  // With a real budget, every planned move predicts less downtime than it.
  const sim::World ok = ThreeSites(0.5);
  const placement::MoveCosts ok_costs(ok.problem);
  auto policy = placement::MakePolicy("greedy-forecast", {});
  for (size_t t = 0; t < ok.slots; t += 5) {
    const placement::Outlook outlook = sim::ForecastOutlook(
        ok, t, 24, ok.initial_site, std::vector<int64_t>(ok.problem.vms.size(), -1000));
    const placement::Plan plan = (*policy)->Decide(ok.problem, ok_costs, outlook);
    for (const placement::Move& m : plan.moves) EXPECT_LE(m.predicted.downtime_s, 0.5);
    EXPECT_TRUE(placement::CheckPlan(ok.problem, outlook, plan, 4).ok());
  }
}

TEST(PlacementTest, NoVmMovesTwiceWithinTheDwellTime) {
  const sim::World world = ThreeSites();
  const placement::MoveCosts costs(world.problem);
  placement::PolicyOptions options;
  options.min_dwell_slots = 6;
  options.hysteresis_fraction = 0;
  options.hysteresis_kg = 0;
  auto policy = placement::MakePolicy("greedy-forecast", options);
  std::vector<int> site = world.initial_site;
  std::vector<int64_t> last(world.problem.vms.size(), -1000);
  size_t moves = 0;
  for (size_t t = 0; t < world.slots; ++t) {
    const placement::Outlook outlook = sim::ForecastOutlook(world, t, 8, site, last);
    const placement::Plan plan = (*policy)->Decide(world.problem, costs, outlook);
    ASSERT_TRUE(placement::CheckPlan(world.problem, outlook, plan, 6).ok());
    for (const placement::Move& m : plan.moves) {
      EXPECT_GE(static_cast<int64_t>(t) - last[m.vm], 6);
      site[m.vm] = static_cast<int>(m.to);
      last[m.vm] = static_cast<int64_t>(t);
      ++moves;
    }
  }
  EXPECT_GT(moves, 0u);
  // And CheckPlan catches a plan that breaks it.
  placement::Outlook outlook = sim::ForecastOutlook(world, 10, 8, world.initial_site, last);
  outlook.last_move_slot[0] = 8;
  placement::Plan bad{"handmade", {}};
  placement::Move move;
  move.vm = 0;
  move.from = static_cast<size_t>(world.initial_site[0]);
  move.to = (move.from + 1) % 3;
  move.slot = 10;
  move.predicted = costs.At(0, move.from, move.to);
  bad.moves.push_back(move);
  Status status = placement::CheckPlan(world.problem, outlook, bad, 6);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("within the minimum dwell"), std::string::npos);
}

TEST(PlacementTest, TheOracleIsNeverBeaten) {
  for (double capacity : {400.0, 800.0, 1200.0}) {
    const sim::World world = ThreeSites(0.5, capacity);
    Result<sim::PolicyResult> oracle = sim::OracleResult(world);
    ASSERT_TRUE(oracle.ok()) << oracle.error();
    const sim::PolicyResult base = RunPolicy(world, "static");
    EXPECT_LE(oracle->co2_kg, base.co2_kg);
    for (const std::string name : {"follow-sensor", "greedy-forecast", "optimal"}) {
      const sim::PolicyResult r = RunPolicy(world, name);
      EXPECT_GE(r.co2_kg, oracle->co2_kg - 1e-9) << name << " at capacity " << capacity;
      EXPECT_LE(r.green_share, oracle->green_share + 1e-9) << name;
    }
  }
}

TEST(PlacementTest, UnknownPolicyAndBadOptionsAreClearErrors) {
  auto unknown = placement::MakePolicy("random", {});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().find("unknown policy 'random'"), std::string::npos);
  placement::PolicyOptions bad;
  bad.min_dwell_slots = 0;
  EXPECT_FALSE(placement::MakePolicy("greedy-forecast", bad).ok());
  sim::World world = ThreeSites();
  world.problem.vms[3].peak_power_w = 0;
  auto policy = placement::MakePolicy("static", {});
  Result<sim::PolicyResult> r = sim::Simulate(world, **policy, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("VM 'vm3'"), std::string::npos);
}

TEST(PlacementTest, PoliciesSayWhatTheyNeed) {
  placement::PolicyOptions options;
  options.horizon_slots = 5;
  options.optimal_horizon_slots = 9;
  options.optimal_replan_slots = 3;
  auto sensor = placement::MakePolicy("follow-sensor", options);
  auto greedy = placement::MakePolicy("greedy-forecast", options);
  auto optimal = placement::MakePolicy("optimal", options);
  ASSERT_TRUE(sensor.ok() && greedy.ok() && optimal.ok());
  EXPECT_TRUE((*sensor)->SeesOnlySensors());
  EXPECT_EQ((*sensor)->HorizonSlots(), 1u);
  EXPECT_FALSE((*greedy)->SeesOnlySensors());
  EXPECT_EQ((*greedy)->HorizonSlots(), 5u);
  EXPECT_EQ((*greedy)->ReplanEverySlots(), 1);
  EXPECT_EQ((*optimal)->HorizonSlots(), 9u);
  EXPECT_EQ((*optimal)->ReplanEverySlots(), 3);
  // The simulator gives each the outlook it asks for: the sensor policy sees the slot before.
  const sim::World world = ThreeSites();
  const std::vector<int64_t> never(world.problem.vms.size(), -(int64_t{1} << 40));
  const placement::Outlook seen = sim::OutlookFor(world, **sensor, 10, world.initial_site, never);
  ASSERT_EQ(seen.slots, 1u);
  EXPECT_DOUBLE_EQ(seen.Green(1, 0), world.GreenW(1, 9));
  const placement::Outlook ahead = sim::OutlookFor(world, **optimal, 10, world.initial_site, never);
  EXPECT_EQ(ahead.slots, 9u);
  options.optimal_replan_slots = 0;
  EXPECT_FALSE(placement::MakePolicy("optimal", options).ok());
}

}  // namespace
}  // namespace greenshift
