// The engine's stages one by one: the executor's pre- and post-conditions, the observer's
// all-or-none pushes and duplicates, the forecaster's stale inputs.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "control/executor.h"
#include "control/fleet.h"
#include "control/forecaster.h"
#include "control/observer.h"
#include "control/recorder.h"
#include "control/sources.h"
#include "hypervisor/sim/sim_driver.h"

namespace greenshift::control {
namespace {

// What the stages record, kept in memory so the tests can read it.
class MemoryRecorder : public Recorder {
 public:
  Status Readings(std::vector<store::StoredReading> readings, bool) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (fail_readings) return Status::Unavailable("store: database or disk is full");
    for (const store::StoredReading& r : readings) stored[{r.sensor, r.time_utc_ms}] = r.power_w;
    return Status::Ok();
  }
  Result<bool> HasReading(const std::string&, const std::string& sensor, int64_t time,
                          double power_w) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = stored.find({sensor, time});
    return it != stored.end() && it->second == power_w;
  }
  void Rejected(const store::RejectedReading& r) override {
    std::lock_guard<std::mutex> lock(mutex_);
    rejected.push_back(r.reason);
  }
  void ForecastIssued(const Forecast&) override {}
  Result<int64_t> PlanMade(const PlanEntry&) override { return ++ids_; }
  Status PlanStatus(int64_t, const std::string&, const std::string&) override {
    return Status::Ok();
  }
  Status SupersedePending() override { return Status::Ok(); }
  Result<int64_t> MoveQueued(const MoveOrder&, int64_t) override { return ++ids_; }
  void MoveStarted(const MoveOrder&, int64_t) override {}
  void MoveEnded(const MoveOrder& order, const MoveOutcome& outcome) override {
    std::lock_guard<std::mutex> lock(mutex_);
    ended.push_back({order.move.vm, outcome});
  }
  void PeriodClosed(const PeriodAccount&) override {}
  void Event(LogLevel, const std::string&, const std::string&, int64_t) override {}

  std::vector<std::pair<size_t, MoveOutcome>> Ended() {
    std::lock_guard<std::mutex> lock(mutex_);
    return ended;
  }

  bool fail_readings = false;
  std::map<std::pair<std::string, int64_t>, double> stored;
  std::vector<std::string> rejected;
  std::vector<std::pair<size_t, MoveOutcome>> ended;

 private:
  std::mutex mutex_;
  std::atomic<int64_t> ids_{0};
};

// A driver that says a migration completed while the VM stays where it was: the executor's
// postcondition must catch it (a hypervisor API that lies, or a VM moved back behind our back).
class LyingDriver : public hypervisor::SimDriver {
 public:
  using SimDriver::SimDriver;
  hypervisor::MigrationResult Migrate(const std::string& name, const std::string& to,
                                      const hypervisor::MigrationOptions&,
                                      const hypervisor::ProgressCallback&) override {
    hypervisor::MigrationResult r;
    r.vm = name;
    r.to = to;
    r.completed = true;
    r.running_on = to;
    return r;
  }
};

// A driver whose hypervisors cannot migrate at all (a libvirt connection to a hypervisor
// without migration support): the executor must ask before it tries.
class StaticDriver : public hypervisor::SimDriver {
 public:
  using SimDriver::SimDriver;
  hypervisor::Capabilities GetCapabilities() const override { return {}; }
  hypervisor::MigrationResult Migrate(const std::string& name, const std::string& to,
                                      const hypervisor::MigrationOptions& options,
                                      const hypervisor::ProgressCallback& progress) override {
    ++asked;
    return SimDriver::Migrate(name, to, options, progress);
  }
  std::atomic<int> asked{0};
};

// Counts the migrations that run at once.
class CountingDriver : public hypervisor::SimDriver {
 public:
  using SimDriver::SimDriver;
  hypervisor::MigrationResult Migrate(const std::string& name, const std::string& to,
                                      const hypervisor::MigrationOptions& options,
                                      const hypervisor::ProgressCallback& progress) override {
    const int now = ++running;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
    hypervisor::MigrationResult r = SimDriver::Migrate(name, to, options, progress);
    --running;
    return r;
  }
  std::atomic<int> running{0}, most{0};
};

class ExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"a", "b", "c"}) problem_.sites.push_back({name, 400});
    problem_.links.assign(9, placement::Link{125e6});
    for (int v = 0; v < 4; ++v) {
      placement::Vm vm;
      vm.name = "vm" + std::to_string(v);
      vm.memory_bytes = int64_t{256} << 20;
      vm.peak_power_w = 100;
      problem_.vms.push_back(vm);
    }
    costs_ = std::make_unique<placement::MoveCosts>(problem_);
    hosts_.names = {"a1", "b1", "c1"};
    hosts_.site = {0, 1, 2};
    hosts_.driver_location = {"a1", "b1", "c1"};
  }

  // Driver, fleet and executor with every VM on `site`.
  template <typename DriverT = hypervisor::SimDriver>
  void Build(bool run_inline, int site = 0, double speed = 0, int64_t dwell = 4, bool live = true) {
    hypervisor::SimDriverConfig config;
    config.live_migration = live;
    config.hosts = hosts_.driver_location;
    config.instant = speed == 0;
    config.speed = speed;
    driver_ = std::make_unique<DriverT>(config);
    fleet_ = std::make_unique<Fleet>(problem_, hosts_);
    for (size_t v = 0; v < problem_.vms.size(); ++v) {
      hypervisor::SimVm vm;
      vm.spec.name = problem_.vms[v].name;
      vm.spec.memory_mib = 256;
      ASSERT_TRUE(driver_->StartVm(vm, hosts_.driver_location[site]).ok());
      fleet_->Place(v, site, hypervisor::VmState::kRunning);
    }
    ExecutorOptions options;
    options.run_inline = run_inline;
    options.min_dwell_slots = dwell;
    options.slot_ms = 1000;
    options.migration.downtime_limit_ms = 0;
    executor_ = std::make_unique<Executor>(
        options, problem_, *fleet_, *driver_, recorder_, [this] { return now_ms_.load(); },
        nullptr);
    executor_->BeginSlot(10);
  }

  MoveOrder Order(size_t vm, size_t from, size_t to, int64_t slot = 10, bool manual = false) {
    MoveOrder order;
    order.manual = manual;
    order.plan_id = manual ? 0 : 1;
    order.move.vm = vm;
    order.move.from = from;
    order.move.to = to;
    order.move.slot = slot;
    order.move.reason = "test";
    order.move.predicted = costs_->At(vm, from, to);
    return order;
  }

  // How the VM's last move ended.
  std::string WhyOf(size_t vm) {
    std::string last = "(no outcome)";
    for (const auto& [v, outcome] : recorder_.Ended()) {
      if (v == vm) last = outcome.state + ": " + outcome.why;
    }
    return last;
  }

  placement::Problem problem_;
  std::unique_ptr<placement::MoveCosts> costs_;
  HostMap hosts_;
  MemoryRecorder recorder_;
  std::unique_ptr<hypervisor::SimDriver> driver_;
  std::unique_ptr<Fleet> fleet_;
  std::unique_ptr<Executor> executor_;
  std::atomic<int64_t> now_ms_{10000};
};

TEST_F(ExecutorTest, EachMoveKeepsItsPreconditions) {
  Build(/*run_inline=*/true);
  fleet_->SetLastMove(1, 8);  // moved two slots ago: the dwell of 4 holds it
  executor_->SetBlocked({"", "", "its weather ended on 2022-12-31"});
  executor_->Submit({Order(0, 1, 0),              // vm0 is at a, not b
                     Order(1, 0, 1),              // within its dwell time
                     Order(2, 0, 2),              // into a stale site
                     Order(3, 0, 1, 10, true)});  // an operator's: allowed
  EXPECT_NE(WhyOf(0).find("cancelled: VM 'vm0' is not at site 'b'"), std::string::npos) << WhyOf(0);
  EXPECT_NE(WhyOf(1).find("within the minimum dwell of 4"), std::string::npos) << WhyOf(1);
  EXPECT_NE(WhyOf(2).find("site c's inputs are stale: its weather ended"), std::string::npos)
      << WhyOf(2);
  EXPECT_EQ(WhyOf(3), "completed: ");
  EXPECT_EQ(fleet_->Get(3).site, 1);
  EXPECT_EQ(fleet_->Get(3).last_move_slot, 10);
  for (size_t v = 0; v < 3; ++v) {
    EXPECT_EQ(fleet_->Get(v).site, 0);    // nothing else moved...
    EXPECT_FALSE(fleet_->Get(v).moving);  // ...and nothing is left marked as moving
  }
  EXPECT_EQ(driver_->GetVm("vm0").value().host, "a1");
}

TEST_F(ExecutorTest, AMoveIntoAFullSiteWaitsForAMoveOutOfIt) {
  // b has room for two VMs and holds two (vm2, vm3); vm0 and vm1 come from a, vm3 leaves for c.
  Build(true);
  for (size_t v : {2, 3}) {
    ASSERT_TRUE(driver_->StopVm(problem_.vms[v].name).ok());
    hypervisor::SimVm vm;
    vm.spec.name = problem_.vms[v].name;
    vm.spec.memory_mib = 256;
    ASSERT_TRUE(driver_->StartVm(vm, "b1").ok());
    fleet_->Place(v, 1, hypervisor::VmState::kRunning);
  }
  problem_.sites[1].capacity_w = 200;
  executor_->Submit({Order(0, 0, 1), Order(1, 0, 1), Order(3, 1, 2)});
  EXPECT_EQ(WhyOf(3), "completed: ");
  EXPECT_EQ(WhyOf(0), "completed: ");  // after vm3 left
  EXPECT_NE(WhyOf(1).find("site b has no room for VM vm1 (200 of 200 W taken"), std::string::npos)
      << WhyOf(1);
  EXPECT_EQ(recorder_.Ended()[0].first, 3u);  // vm3 first, although it was asked for last
  EXPECT_EQ(fleet_->PeakUsedW()[1], 200);
  EXPECT_EQ(fleet_->Get(1).site, 0);
}

TEST_F(ExecutorTest, ADriverThatSaysCompletedIsCheckedAgainstWhereItFindsTheVm) {
  Build<LyingDriver>(true);
  executor_->Submit({Order(0, 0, 1)});
  EXPECT_NE(WhyOf(0).find("failed: the driver reported the migration completed, but finds VM vm0 "
                          "at a1"),
            std::string::npos)
      << WhyOf(0);
  EXPECT_EQ(fleet_->Get(0).site, 0);  // where the VM really runs
}

TEST_F(ExecutorTest, WhatTheDriverCannotDoIsNotAskedOfIt) {
  // Hosts that move VMs only stopped: the move runs offline (the whole memory with the VM
  // paused), not refused as a failed live migration.
  Build(/*run_inline=*/true, 0, 0, 4, /*live=*/false);
  EXPECT_FALSE(driver_->GetCapabilities().live_migration);
  executor_->Submit({Order(0, 0, 1)});
  ASSERT_EQ(WhyOf(0), "completed: ");
  const hypervisor::MigrationResult r = recorder_.Ended()[0].second.result;
  EXPECT_EQ(r.mode, hypervisor::MigrationMode::kOffline);
  EXPECT_GT(r.downtime_ms, 2000);  // 256 MiB at 125 MB/s, all of it paused
  EXPECT_DOUBLE_EQ(r.downtime_ms, r.total_ms);
  EXPECT_EQ(fleet_->Get(0).site, 1);
  // The same driver asked for a live migration directly says why it will not.
  hypervisor::MigrationOptions live;
  live.mode = hypervisor::MigrationMode::kLive;
  hypervisor::MigrationResult refused = driver_->Migrate("vm1", "b1", live, nullptr);
  EXPECT_FALSE(refused.completed);
  EXPECT_NE(refused.error.find("cannot migrate a VM live"), std::string::npos) << refused.error;

  // Hosts that cannot migrate at all: refused before the driver is asked; the VM stays.
  Build<StaticDriver>(true);
  executor_->Submit({Order(1, 0, 1, 10, /*manual=*/true)});
  EXPECT_NE(WhyOf(1).find("the driver cannot migrate VMs"), std::string::npos) << WhyOf(1);
  EXPECT_EQ(static_cast<StaticDriver&>(*driver_).asked, 0);
  EXPECT_EQ(driver_->GetVm("vm1").value().host, "a1");
  EXPECT_EQ(fleet_->Get(1).site, 0);
}

TEST_F(ExecutorTest, OneMigrationPerLinkAndQueuedMovesExpireWithTheirSlot) {
  // Each migration takes its model time (about 2 s) at 20x: about 100 ms.
  Build<CountingDriver>(/*run_inline=*/false, 0, 20, /*dwell=*/0);
  auto& counting = static_cast<CountingDriver&>(*driver_);
  executor_->Start();
  executor_->Submit({Order(0, 0, 1), Order(1, 0, 1), Order(2, 0, 1)});
  ASSERT_TRUE(executor_->WaitIdle(10000));
  EXPECT_EQ(counting.most.load(), 1);
  for (size_t v = 0; v < 3; ++v) EXPECT_EQ(WhyOf(v), "completed: ");
  // Queued behind a busy link when its slot passes: dropped, not made late.
  executor_->Submit({Order(0, 1, 2), Order(1, 1, 2)});
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // vm0's migration is running
  executor_->BeginSlot(11);
  ASSERT_TRUE(executor_->WaitIdle(10000));
  EXPECT_NE(WhyOf(1).find("its slot passed before it could start"), std::string::npos) << WhyOf(1);
  EXPECT_EQ(fleet_->Get(0).site, 2);
  EXPECT_EQ(fleet_->Get(1).site, 1);
  executor_->Stop();
}

TEST_F(ExecutorTest, AVmGoesToTheLeastLoadedHostOfItsSiteThatHasRoom) {
  // Site b: b1 with 1000 MiB (vm3 runs there, 256 MiB) and b2 with 512, empty. Five VMs of
  // 256 MiB come from a, one after the other: vm0 to b2 (share 0 < 0.256), vm1 to b1 (0.256 <
  // 0.5), vm2 to b2 (0.5 < 0.512), vm4 to b1 (b2 is full), vm5 waits (b1 has 232 MiB left).
  for (const char* name : {"vm4", "vm5"}) {
    placement::Vm vm = problem_.vms[0];
    vm.name = name;
    problem_.vms.push_back(vm);
  }
  costs_ = std::make_unique<placement::MoveCosts>(problem_);
  hosts_.names = {"a1", "b1", "b2", "c1"};
  hosts_.site = {0, 1, 1, 2};
  hosts_.driver_location = {"a1", "b1", "b2", "c1"};
  hosts_.memory_mib = {4096, 1000, 512, 4096};
  problem_.sites[0].capacity_w = 1000;
  problem_.sites[1].capacity_w = 1000;
  Build(/*run_inline=*/true);
  ASSERT_TRUE(driver_->StopVm("vm3").ok());
  hypervisor::SimVm vm3;
  vm3.spec.name = "vm3";
  vm3.spec.memory_mib = 256;
  ASSERT_TRUE(driver_->StartVm(vm3, "b1").ok());
  fleet_->Place(3, 1, hypervisor::VmState::kRunning);
  EXPECT_EQ(fleet_->PickHost(0, 1), 2);
  executor_->Submit(
      {Order(0, 0, 1), Order(1, 0, 1), Order(2, 0, 1), Order(4, 0, 1), Order(5, 0, 1)});
  for (size_t v : {0, 1, 2, 4}) EXPECT_EQ(WhyOf(v), "completed: ") << v;
  const std::map<std::string, std::string> expected = {
      {"vm0", "b2"}, {"vm1", "b1"}, {"vm2", "b2"}, {"vm4", "b1"}};
  for (const auto& [vm, host] : expected) {
    EXPECT_EQ(driver_->GetVm(vm).value().host, host) << vm;
    EXPECT_EQ(fleet_->hosts().names[static_cast<size_t>(
                  fleet_->Get(static_cast<size_t>(std::stoi(vm.substr(2)))).host)],
              host)
        << vm;
  }
  EXPECT_NE(
      WhyOf(5).find("no host of site b has the memory for VM vm5 (256 MiB; free: b1 232 b2 0)"),
      std::string::npos)
      << WhyOf(5);
  EXPECT_EQ(fleet_->Get(5).site, 0);
  EXPECT_EQ(fleet_->MemoryUsedMib(), (std::vector<int64_t>{256, 768, 512, 0}));
}

TEST(FleetTest, PickHostMatchesAnExhaustiveSearchOverRandomFleets) {
  // The rule, checked against every host by brute force: of the hosts of the site the VM fits
  // in (memory taken, in-flight VMs included), the smallest share taken, then the fewest VMs,
  // then the first; -1 when none fits.
  uint64_t seed = 12345;
  auto next = [&seed](uint64_t n) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (seed >> 33) % n;
  };
  for (int round = 0; round < 300; ++round) {
    placement::Problem problem;
    problem.sites = {{"a", 1e9}, {"b", 1e9}};
    const size_t n_vms = 1 + next(12);
    for (size_t v = 0; v < n_vms; ++v) {
      placement::Vm vm;
      vm.name = "vm" + std::to_string(v);
      vm.memory_bytes = int64_t{64 + static_cast<int64_t>(next(8)) * 64} << 20;
      vm.peak_power_w = 1;
      problem.vms.push_back(vm);
    }
    HostMap hosts;
    const size_t n_hosts = 2 + next(5);
    const bool limited = next(4) != 0;
    for (size_t h = 0; h < n_hosts; ++h) {
      hosts.names.push_back("h" + std::to_string(h));
      hosts.site.push_back(h == 0 ? 0 : 1 + 0 * h);  // h0 at a, the rest at b
      hosts.driver_location.push_back(hosts.names.back());
      hosts.memory_mib.push_back(limited ? 256 + static_cast<int64_t>(next(6)) * 128 : 0);
    }
    Fleet fleet(problem, hosts);
    std::vector<int64_t> used(n_hosts, 0);
    std::vector<int> count(n_hosts, 0);
    // The last VM stays at a; the others run on random hosts of b, some of them in flight.
    const size_t moving = n_vms - 1;
    fleet.Place(moving, 0, hypervisor::VmState::kRunning);
    used[0] += problem.vms[moving].memory_bytes >> 20;
    count[0] += 1;
    for (size_t v = 0; v + 1 < n_vms; ++v) {
      const size_t h = 1 + next(n_hosts - 1);
      if (hosts.memory_mib[h] > 0 &&
          used[h] + (problem.vms[v].memory_bytes >> 20) > hosts.memory_mib[h])
        continue;  // it would not have been placed there
      fleet.Place(v, static_cast<int>(h), hypervisor::VmState::kRunning);
      used[h] += problem.vms[v].memory_bytes >> 20;
      count[h] += 1;
    }
    ASSERT_EQ(fleet.MemoryUsedMib(), used);
    int expected = -1;
    const int64_t need = problem.vms[moving].memory_bytes >> 20;
    for (size_t h = 1; h < n_hosts; ++h) {
      if (hosts.memory_mib[h] > 0 && used[h] + need > hosts.memory_mib[h]) continue;
      auto load = [&](size_t i) {
        return hosts.memory_mib[i] > 0 ? double(used[i]) / double(hosts.memory_mib[i])
                                       : double(used[i]);
      };
      if (expected < 0 || load(h) < load(size_t(expected)) ||
          (load(h) == load(size_t(expected)) && count[h] < count[size_t(expected)]))
        expected = static_cast<int>(h);
    }
    ASSERT_EQ(fleet.PickHost(moving, 1), expected) << "round " << round;
    const Reservation r = fleet.Reserve(moving, 1);
    ASSERT_EQ(r.host, expected) << r.why;
    if (expected >= 0) {
      // The reservation counts at the destination until the move ends, and only once after it.
      EXPECT_EQ(fleet.MemoryUsedMib()[size_t(expected)], used[size_t(expected)] + need);
      EXPECT_EQ(fleet.MemoryUsedMib()[0], used[0]);
      fleet.EndMove(moving, expected, hypervisor::VmState::kRunning, true, 1);
      EXPECT_EQ(fleet.MemoryUsedMib()[size_t(expected)], used[size_t(expected)] + need);
      EXPECT_EQ(fleet.MemoryUsedMib()[0], 0);
    } else {
      EXPECT_NE(r.why.find("no host of site b has the memory"), std::string::npos) << r.why;
    }
  }
}

class ObserverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto in = std::make_shared<SiteInputs>();
    inputs_ = std::make_shared<Inputs>(std::vector<std::shared_ptr<const SiteInputs>>{in, in});
    observer_ = std::make_unique<Observer>(
        std::vector<std::string>{"a", "b"},
        std::vector<SensorSpec>{{"a", "roof", "push", Measures::kPv, 5000},
                                {"a", "mast", "push", Measures::kWind, 2000},
                                {"b", "pv", "replay", Measures::kPv, 5000}},
        inputs_, recorder_, ObserverOptions{});
  }
  MemoryRecorder recorder_;
  std::shared_ptr<Inputs> inputs_;
  std::unique_ptr<Observer> observer_;
  const int64_t now_ = 1700000000000;
};

TEST_F(ObserverTest, APushIsStoredWholeOrNotAtAll) {
  Result<PushOutcome> bad =
      observer_->Push({{"a", "roof", now_ - 2000, 100}, {"a", "roof", now_ - 1000, -50}}, now_);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsInvalid());
  EXPECT_NE(bad.error().find("reading 1: "), std::string::npos) << bad.error();
  EXPECT_TRUE(recorder_.stored.empty());
  // The first reading of the refused batch did not move the sensor on.
  Result<PushOutcome> good = observer_->Push({{"a", "roof", now_ - 2000, 100}}, now_);
  ASSERT_TRUE(good.ok()) << good.error();
  EXPECT_EQ(good->stored, 1u);
  EXPECT_TRUE(observer_->Push({{"a", "attic", now_, 1}}, now_).status().IsNotFound());
  EXPECT_TRUE(observer_->Push({{"z", "roof", now_, 1}}, now_).status().IsNotFound());
  EXPECT_TRUE(observer_->Push({{"b", "pv", now_, 1}}, now_).status().IsConflict());
}

TEST_F(ObserverTest, ReadingsSentAgainAreDuplicatesNotErrors) {
  ASSERT_TRUE(observer_
                  ->Push({{"a", "roof", now_ - 3000, 100},
                          {"a", "roof", now_ - 2000, 110},
                          {"a", "roof", now_ - 1000, 120}},
                         now_)
                  .ok());
  // The whole batch again (its answer was lost): every reading is known, none stored twice.
  Result<PushOutcome> again = observer_->Push({{"a", "roof", now_ - 3000, 100},
                                               {"a", "roof", now_ - 2000, 110},
                                               {"a", "roof", now_ - 1000, 120},
                                               {"a", "roof", now_, 130}},
                                              now_);
  ASSERT_TRUE(again.ok()) << again.error();
  EXPECT_EQ(again->stored, 1u);
  EXPECT_EQ(again->duplicates, 3u);
  // An older time with another value is not a duplicate: out of order.
  Result<PushOutcome> other = observer_->Push({{"a", "roof", now_ - 2000, 999}}, now_);
  EXPECT_TRUE(other.status().IsInvalid());
  EXPECT_NE(other.error().find("out_of_order"), std::string::npos);
}

TEST_F(ObserverTest, AStoreThatFailsLeavesTheSensorAsItWas) {
  recorder_.fail_readings = true;
  Result<PushOutcome> failed = observer_->Push({{"a", "roof", now_ - 1000, 100}}, now_);
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(failed.status().IsUnavailable());
  EXPECT_NE(failed.error().find("nothing was stored"), std::string::npos);
  recorder_.fail_readings = false;
  // The client sends the same reading again: taken now.
  Result<PushOutcome> retried = observer_->Push({{"a", "roof", now_ - 1000, 100}}, now_);
  ASSERT_TRUE(retried.ok()) << retried.error();
  EXPECT_EQ(retried->stored, 1u);
}

TEST_F(ObserverTest, ASiteMeasuresItsFreshSensorsByKind) {
  ASSERT_TRUE(
      observer_->Push({{"a", "roof", now_ - 1000, 300}, {"a", "mast", now_ - 1000, 50}}, now_)
          .ok());
  const Observation o = observer_->Observe(now_);
  EXPECT_EQ(o.sites[0].green_w, 350);
  EXPECT_EQ(o.sites[0].pv_w, 300);
  EXPECT_EQ(o.sites[0].wind_w, 50);
  EXPECT_EQ(o.sites[0].fresh_sensors, 2);
  EXPECT_TRUE(std::isnan(o.sites[1].green_w));  // nothing from b
  // Ten minutes later both readings are stale (older than 5 minutes).
  EXPECT_TRUE(std::isnan(observer_->Observe(now_ + 600000).sites[0].green_w));
}

TEST(ReplaySourceTest, AGapInTheRecordingIsSilenceNotAMadeUpValue) {
  // Rows every 15 min: 1000 W, 2000 W, a gap, 4000 W. Between the first two the replay draws
  // a line; the row before the gap holds its value until the gap; in the gap, nothing.
  const int64_t t0 = 1654070400;
  std::unique_ptr<SensorSource> replay = MakeReplaySource(
      "a", "pv", {t0, t0 + 900, t0 + 1800, t0 + 2700}, {1000, 2000, NAN, 4000}, 1800);
  auto read = [&](int64_t at_s) -> double {
    std::vector<energy::Reading> readings;
    std::vector<std::string> errors;
    replay->Poll(at_s * 1000, &readings, &errors);
    return readings.empty() ? -1 : readings.front().power_w;
  };
  EXPECT_EQ(read(t0 - 1), -1);
  EXPECT_EQ(read(t0 + 450), 1500);
  EXPECT_EQ(read(t0 + 900), 2000);
  EXPECT_EQ(read(t0 + 1799), 2000);
  EXPECT_EQ(read(t0 + 1800), -1);
  EXPECT_EQ(read(t0 + 2699), -1);
  EXPECT_EQ(read(t0 + 2700), 4000);
  EXPECT_EQ(read(t0 + 2700 + 1801), -1);  // past the end
}

TEST(ForecasterTest, InputsThatDoNotCoverNowMakeTheSiteStale) {
  auto fresh = std::make_shared<SiteInputs>();
  fresh->has_carbon = true;
  fresh->carbon_file = "grid.csv";
  const int64_t hour = 3600;
  for (int64_t t = 0; t < 48; ++t) {
    fresh->carbon.time_utc_s.push_back(1655769600 + t * hour);  // 21-22 June 2022
    fresh->carbon.g_per_kwh.push_back(300);
  }
  auto inputs = std::make_shared<Inputs>(std::vector<std::shared_ptr<const SiteInputs>>{fresh});
  Forecaster forecaster(inputs, hour, {});
  Observation seen;
  seen.time_ms = (1655769600 + 10 * hour) * 1000;
  seen.sites.resize(1);
  seen.sites[0].green_w = 500;
  forecaster.Learn(seen);
  const Forecast during = forecaster.Predict(seen.time_ms, 2);
  EXPECT_EQ(during.sites[0].stale, "");
  EXPECT_EQ(during.sites[0].green_w[0], 500);  // persistence
  // A year later the carbon file has long ended: stale, and said why.
  const Forecast later = forecaster.Predict(seen.time_ms + 365LL * 86400000, 2);
  EXPECT_NE(later.sites[0].stale.find("carbon intensity (grid.csv) ends at 2022-06-23"),
            std::string::npos)
      << later.sites[0].stale;
  // No sensor reading at all: persistence has nothing to persist.
  Observation silent = seen;
  silent.time_ms += 3600000;
  silent.sites[0].green_w = NAN;
  forecaster.Learn(silent);
  EXPECT_EQ(forecaster.Predict(silent.time_ms, 1).sites[0].stale,
            "no fresh reading from its sensors");
}

TEST(ForecasterTest, HistoryScalesTheClearSkyByTheLastHourFadingIntoTheWeek) {
  // A clear sky of 1000 W from 06:00 to 18:00 every day (a few watts at 05:00, the first
  // light), and a week seen at half of it: the week's clear-sky index is 0.5.
  const int64_t hour = 3600, day0 = 1655769600 / 86400 * 86400;  // 21 June 2022, 00:00
  auto site = std::make_shared<SiteInputs>();
  site->forecast = GreenForecast::kHistory;
  site->clear_sky_pv_w.first_slot = day0 / hour;
  for (int64_t h = 0; h < 24 * 9; ++h) {
    const int64_t of_day = h % 24;
    site->clear_sky_pv_w.values.push_back(of_day == 5 ? 4 : of_day >= 6 && of_day < 18 ? 1000 : 0);
  }
  auto inputs = std::make_shared<Inputs>(std::vector<std::shared_ptr<const SiteInputs>>{site});
  Forecaster forecaster(inputs, hour, {});
  std::map<int64_t, double> learned;
  auto learn = [&](int64_t slot, double pv_w) {
    learned[slot] = pv_w;
    Observation seen;
    seen.time_ms = (slot + 1) * hour * 1000;  // at the end of its slot
    seen.sites.resize(1);
    seen.sites[0].green_w = pv_w;
    seen.sites[0].pv_w = pv_w;
    forecaster.Learn(seen);
  };
  // The week's index before `slot`, as the forecaster should find it.
  auto week_index = [&](int64_t slot) {
    double pv = 0, clear = 0;
    for (const auto& [t, w] : learned) {
      if (t < slot - 7 * 24 || t >= slot) continue;
      pv += w;
      clear += site->clear_sky_pv_w.At(t);
    }
    return pv / clear;
  };
  const int64_t first = day0 / hour;
  const int64_t week_end = first + 7 * 24;  // 00:00, a week on
  for (int64_t slot = first; slot < week_end; ++slot)
    learn(slot, site->clear_sky_pv_w.At(slot) * 0.5);
  // At midnight the last hour (dark) says nothing: 07:00 is forecast on the week's index.
  const Forecast night = forecaster.Predict(week_end * hour * 1000, 8);
  EXPECT_EQ(night.sites[0].method, "history");
  EXPECT_EQ(night.sites[0].green_w[0], 0);
  EXPECT_NEAR(night.sites[0].green_w[7], 500, 1e-6);
  // A bright morning: 10:00 was seen at 0.9. The next hour is forecast near 0.9, the hours
  // after fade into the week's 0.5 over 16 h (today's sky mostly stays today's).
  for (int64_t slot = week_end; slot < week_end + 10; ++slot)
    learn(slot, site->clear_sky_pv_w.At(slot) * 0.5);
  learn(week_end + 10, 900);
  const Forecast bright = forecaster.Predict((week_end + 11) * hour * 1000, 4);
  double week = week_index(week_end + 11);
  EXPECT_NEAR(week, 0.5, 0.01);
  for (size_t k = 0; k < 4; ++k) {
    const double index = week + (0.9 - week) * std::exp(-static_cast<double>(k + 1) / 16);
    EXPECT_NEAR(bright.sites[0].green_w[k], 1000 * index, 1e-6) << "lead " << k + 1;
  }
  // The first light counts (it tells a clear dawn from a grey one) but a few watts of clear
  // sky make a noisy ratio: 40 W over 4 W of clear sky is read as 1.5 at most.
  const int64_t dawn_slot = week_end + 24 + 5;
  learn(dawn_slot, 40);
  const Forecast dawn = forecaster.Predict((dawn_slot + 1) * hour * 1000, 1);
  week = week_index(dawn_slot + 1);
  EXPECT_NEAR(dawn.sites[0].green_w[0], 1000 * (week + (1.5 - week) * std::exp(-1.0 / 16)), 1e-6);
  learn(dawn_slot, 1);  // the same hour seen again, grey: 0.25
  const Forecast grey = forecaster.Predict((dawn_slot + 1) * hour * 1000, 1);
  week = week_index(dawn_slot + 1);
  EXPECT_NEAR(grey.sites[0].green_w[0], 1000 * (week + (0.25 - week) * std::exp(-1.0 / 16)), 1e-6);
}

TEST(ForecasterTest, ItLearnsWhichShareOfTheGreenItForecastCameByHourOfDayAndLead) {
  // Persistence (no model, no history): each hour forecasts the hour just measured for every
  // slot ahead. The site makes 500 W in the even hours (UTC) and 1000 W in the odd ones: one
  // hour ahead, an even hour was forecast 1000 and got 500 (half of it came), an odd hour was
  // forecast 500 and got 1000 (all of it came); two hours ahead every forecast was right. One
  // record for the whole day would say 2/3 one hour ahead at every hour; kept by the hour of the
  // day it tells the even hours from the odd.
  auto site = std::make_shared<SiteInputs>();
  auto inputs = std::make_shared<Inputs>(std::vector<std::shared_ptr<const SiteInputs>>{site});
  const int64_t hour = 3600, first = 1655769600 / hour;  // 21 June 2022, 00:00 UTC: even
  ASSERT_EQ(first % 24, 0);
  // Two forecasters fed alike, until the end: there the second sees each slot once, and never
  // the one whose reading is missing.
  Forecaster a(inputs, hour, {}), b(inputs, hour, {});
  auto learn = [&](Forecaster& f, int64_t slot, double green_w) {
    Observation seen;
    seen.time_ms = (slot + 1) * hour * 1000;  // at the end of its slot
    seen.sites.resize(1);
    seen.sites[0].green_w = green_w;
    f.Learn(seen);
  };
  auto share = [&](Forecaster& f, int64_t slot) {  // a tick's forecast (remembered, to score)
    return f.Predict(slot * hour * 1000, 3).sites[0].green_realized_share;
  };
  // A tick: what the slot before measured, then the forecast.
  auto tick = [&](int64_t slot, double last_w) {
    learn(a, slot - 1, last_w);
    learn(b, slot - 1, last_w);
    const std::vector<double> got = share(a, slot);
    EXPECT_EQ(share(b, slot), got);
    return got;
  };
  // Nothing scored yet: the share a fixed margin used to count on.
  const std::vector<double> unscored = share(a, first);
  share(b, first);
  ASSERT_EQ(unscored.size(), 3u);
  for (double s : unscored) EXPECT_DOUBLE_EQ(s, 0.9);
  int64_t slot = first + 1;
  for (; slot < first + 400; ++slot) tick(slot, (slot - 1) % 2 ? 1000 : 500);  // ~16 days
  ASSERT_EQ(slot % 2, 0);
  const std::vector<double> even = tick(slot, 1000);  // slots: 0 even, 1 odd, 2 even
  EXPECT_NEAR(even[0], 0.5, 1e-9);
  EXPECT_NEAR(even[1], 1.0, 1e-9);
  EXPECT_NEAR(even[2], 0.5, 1e-9);
  ++slot;
  const std::vector<double> odd = tick(slot, 500);
  for (double s : odd) EXPECT_NEAR(s, 1.0, 1e-9);
  // The sun sets in this odd hour: 500 was forecast, nothing came, and that counts, for that
  // hour of the day. A dark day after it forecasts nothing and scores nothing: the next day at
  // the same hour the record is as the dusk left it, the even hour after it as it was, and a
  // day later both still are.
  const int64_t dusk = slot;
  for (++slot; slot < dusk + 24; ++slot) tick(slot, 0);
  const std::vector<double> after_dusk = tick(slot, 0);
  EXPECT_LT(after_dusk[0], 1.0 - 0.001);
  ++slot;
  EXPECT_NEAR(tick(slot, 0)[0], 0.5, 1e-9);
  for (++slot; slot < dusk + 48; ++slot) tick(slot, 0);
  EXPECT_EQ(tick(slot, 0), after_dusk);
  // A slot seen again, or a reading missing, is not scored (once, and only on a measurement).
  ++slot;
  ASSERT_EQ(slot % 2, 0);
  tick(slot, 800);          // the forecast: 800 for this slot and the two after it
  learn(a, slot, 100);      // 100 came: scored
  learn(a, slot, 100);      // seen again: not scored again
  learn(b, slot, 100);      // seen once
  learn(a, slot + 1, NAN);  // not measured: the forecast for it is not scored
  const std::vector<double> a_next_day = share(a, slot + 24), b_next_day = share(b, slot + 24);
  EXPECT_LT(a_next_day[0], 0.5 - 0.001);  // this even hour's record took the 800 -> 100
  EXPECT_EQ(a_next_day, b_next_day);
  for (double s : a_next_day) {
    EXPECT_GE(s, 0);
    EXPECT_LE(s, 1);
  }
}

}  // namespace
}  // namespace greenshift::control
