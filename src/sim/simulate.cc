#include "sim/simulate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>

#include "control/clock.h"
#include "control/engine.h"
#include "control/planner.h"
#include "control/recorder.h"
#include "control/sources.h"
#include "hypervisor/sim/sim_driver.h"

namespace greenshift::sim {

namespace {

// A policy the caller owns, lent to the engine (which takes ownership of the policies it runs).
class LentPolicy : public placement::Policy {
 public:
  explicit LentPolicy(placement::Policy& policy) : policy_(policy) {}
  std::string Name() const override { return policy_.Name(); }
  placement::Plan Decide(const placement::Problem& problem, const placement::MoveCosts& costs,
                         const placement::Outlook& outlook) override {
    return policy_.Decide(problem, costs, outlook);
  }
  placement::SolveReport LastSolve() const override { return policy_.LastSolve(); }
  std::string LastSolveNote() const override { return policy_.LastSolveNote(); }
  size_t HorizonSlots() const override { return policy_.HorizonSlots(); }
  bool SeesOnlySensors() const override { return policy_.SeesOnlySensors(); }
  int64_t ReplanEverySlots() const override { return policy_.ReplanEverySlots(); }

 private:
  placement::Policy& policy_;
};

int64_t StartSlot(const World& world) {
  return world.start_utc_s / world.problem.slot_s;
}

// Each site's inputs from the world: the clear-sky PV and the grid's intensity per slot, forecast
// from history (what the simulator's realizable policies may know).
std::shared_ptr<control::Inputs> InputsOf(const World& world) {
  const size_t T = world.slots;
  std::vector<std::shared_ptr<const control::SiteInputs>> sites;
  for (size_t s = 0; s < world.problem.sites.size(); ++s) {
    auto in = std::make_shared<control::SiteInputs>();
    in->forecast = control::GreenForecast::kHistory;
    in->carbon_forecast = control::CarbonForecast::kHistory;
    in->weather_file = "the scenario's weather";
    in->clear_sky_pv_w.first_slot = StartSlot(world);
    in->clear_sky_pv_w.values.assign(
        world.pv_clear_w.begin() + static_cast<ptrdiff_t>(s * T),
        world.pv_clear_w.begin() + static_cast<ptrdiff_t>((s + 1) * T));
    in->has_carbon = true;
    in->carbon_file = "the scenario's carbon";
    for (size_t t = 0; t < T; ++t) {
      in->carbon.time_utc_s.push_back(world.start_utc_s +
                                      static_cast<int64_t>(t) * world.problem.slot_s);
      in->carbon.g_per_kwh.push_back(world.carbon_g_per_kwh[s * T + t]);
    }
    sites.push_back(std::move(in));
  }
  return std::make_shared<control::Inputs>(std::move(sites));
}

// The sites' sensors: what PV and wind made in each slot, reported at its end.
std::vector<std::unique_ptr<control::SensorSource>> SensorsOf(
    const World& world, std::vector<control::SensorSpec>* specs) {
  const size_t T = world.slots;
  const int64_t slot_s = world.problem.slot_s;
  std::vector<int64_t> ends(T);
  for (size_t t = 0; t < T; ++t) ends[t] = world.start_utc_s + static_cast<int64_t>(t + 1) * slot_s;
  std::vector<std::unique_ptr<control::SensorSource>> sources;
  for (size_t s = 0; s < world.problem.sites.size(); ++s) {
    const std::string& site = world.problem.sites[s].name;
    for (const auto& [name, series, measures] :
         {std::make_tuple("pv", &world.pv_w, control::Measures::kPv),
          std::make_tuple("wind", &world.wind_w, control::Measures::kWind)}) {
      std::vector<double> values(series->begin() + static_cast<ptrdiff_t>(s * T),
                                 series->begin() + static_cast<ptrdiff_t>((s + 1) * T));
      const double most = values.empty() ? 0 : *std::max_element(values.begin(), values.end());
      specs->push_back({site, name, "replay", measures, std::max(1.0, most)});
      sources.push_back(control::MakeReplaySource(site, name, ends, std::move(values), 2 * slot_s));
    }
  }
  return sources;
}

// What the VMs drew over the slot that ends at `now`. The world keeps each VM's year in a row;
// reading one value of every VM each slot would touch a cache line per VM per slot, so the rows
// are copied a block of slots at a time into a buffer laid out by slot.
class WorldLoad : public control::LoadSource {
 public:
  explicit WorldLoad(const World& world) : world_(world) {}
  void Read(int64_t now_ms, std::vector<double>* vm_power_w) override {
    const size_t V = world_.problem.vms.size(), T = world_.slots;
    const int64_t ended = (now_ms / 1000 - world_.start_utc_s) / world_.problem.slot_s - 1;
    vm_power_w->assign(V, NAN);
    if (ended < 0 || ended >= static_cast<int64_t>(T)) return;
    const size_t t = static_cast<size_t>(ended);
    if (t < block_start_ || t >= block_start_ + kBlock || block_.empty()) {
      block_start_ = t;
      const size_t n = std::min(kBlock, T - t);
      block_.assign(kBlock * V, NAN);
      for (size_t v = 0; v < V; ++v) {
        const double* row = &world_.vm_power_w[v * T + t];
        for (size_t j = 0; j < n; ++j) block_[j * V + v] = row[j];
      }
    }
    const double* slot = &block_[(t - block_start_) * V];
    std::copy(slot, slot + V, vm_power_w->begin());
  }

 private:
  static constexpr size_t kBlock = 64;
  const World& world_;
  std::vector<double> block_;  // kBlock slots x VMs, from block_start_
  size_t block_start_ = 0;
};

// The simulator's recorder: it adds up the policy's result; nothing is stored.
class ResultRecorder : public control::Recorder {
 public:
  ResultRecorder(const World& world, PolicyResult* result, bool keep_moves)
      : world_(world), result_(result), keep_moves_(keep_moves) {}
  Status Readings(std::vector<store::StoredReading>, bool) override { return Status::Ok(); }
  Result<bool> HasReading(const std::string&, const std::string&, int64_t, double) override {
    return false;
  }
  void Rejected(const store::RejectedReading& r) override {
    ++rejected_;
    if (first_rejection_.empty()) first_rejection_ = r.why;
  }
  void ForecastIssued(const control::Forecast&) override {}
  Result<int64_t> PlanMade(const control::PlanEntry&) override { return ++plans_; }
  Status PlanStatus(int64_t, const std::string&, const std::string&) override {
    return Status::Ok();
  }
  Status SupersedePending() override { return Status::Ok(); }
  Result<int64_t> MoveQueued(const control::MoveOrder&, int64_t) override { return ++moves_; }
  void MoveStarted(const control::MoveOrder&, int64_t) override {}
  void MoveEnded(const control::MoveOrder& order, const control::MoveOutcome& outcome) override {
    if (outcome.state != "completed") {
      ++result_->refused_moves;
      return;
    }
    ++result_->migrations;
    const int64_t slot = order.move.slot - StartSlot(world_);
    if (slot >= 0 && slot < static_cast<int64_t>(result_->migrations_by_slot.size()))
      ++result_->migrations_by_slot[static_cast<size_t>(slot)];
    result_->bytes_moved += outcome.result.bytes;
    result_->downtime_s += std::max(0.0, outcome.result.downtime_ms) / 1000;
    result_->migration_energy_kwh += outcome.EnergyJ(world_.problem.energy_per_byte_j) / 3.6e6;
    if (keep_moves_) {
      const placement::Move& m = order.move;
      result_->moves.push_back({world_.problem.vms[m.vm].name, world_.problem.sites[m.from].name,
                                world_.problem.sites[m.to].name, m.slot - StartSlot(world_)});
    }
  }
  void PeriodClosed(const control::PeriodAccount& a) override {
    // The period that just closed is the slot before the tick's.
    const int64_t t = (a.end_ms / 1000 - world_.start_utc_s) / world_.problem.slot_s - 1;
    if (t < 0 || t >= static_cast<int64_t>(world_.slots)) return;
    const size_t T = world_.slots, slot = static_cast<size_t>(t);
    for (size_t s = 0; s < a.load_w.size(); ++s) {
      result_->site_load_w[s * T + slot] = a.load_w[s];
      result_->site_vms[s * T + slot] = a.vms[s];
    }
    result_->load_kwh += a.load_wh / 1000;
    result_->green_kwh += a.green_used_wh / 1000;
    result_->brown_kwh += (a.load_wh - a.green_used_wh) / 1000;
    result_->co2_kg += a.co2_kg;
    result_->cumulative_co2_kg[slot] = result_->co2_kg;
  }
  void Event(LogLevel level, const std::string& kind, const std::string& message,
             int64_t) override {
    if (level >= LogLevel::kError && first_error_.empty()) first_error_ = kind + ": " + message;
  }
  const std::string& first_error() const { return first_error_; }
  int64_t rejected() const { return rejected_; }
  const std::string& first_rejection() const { return first_rejection_; }

 private:
  const World& world_;
  PolicyResult* result_;
  const bool keep_moves_;
  int64_t plans_ = 0, moves_ = 0, rejected_ = 0;
  std::string first_error_, first_rejection_;
};

// Perfect foresight: the forecast is what the world will do (the clairvoyant reference). Past
// the world's end, its last slot.
class KnownFuture : public control::Predictor {
 public:
  explicit KnownFuture(const World& world) : world_(world) {}
  void Learn(const control::Observation&) override {}
  control::Forecast Predict(int64_t now_ms, size_t slots) const override {
    const size_t S = world_.problem.sites.size(), V = world_.problem.vms.size(), T = world_.slots;
    control::Forecast f;
    f.issued_ms = now_ms;
    f.slot_s = world_.problem.slot_s;
    f.first_slot = control::TickSlot(now_ms, f.slot_s * 1000);
    f.slots = slots;
    const int64_t from = f.first_slot - StartSlot(world_);
    auto at = [&](size_t k) {
      const int64_t t = from + static_cast<int64_t>(k);
      return static_cast<size_t>(std::clamp<int64_t>(t, 0, static_cast<int64_t>(T) - 1));
    };
    f.sites.resize(S);
    for (size_t s = 0; s < S; ++s) {
      f.sites[s].method = "known";
      for (size_t k = 0; k < slots; ++k) {
        f.sites[s].green_w.push_back(world_.GreenW(s, at(k)));
        f.sites[s].carbon_g_per_kwh.push_back(world_.carbon_g_per_kwh[s * T + at(k)]);
      }
    }
    f.vm_power_w.resize(V * slots);
    for (size_t v = 0; v < V; ++v)
      for (size_t k = 0; k < slots; ++k)
        f.vm_power_w[v * slots + k] = world_.vm_power_w[v * T + at(k)];
    return f;
  }

 private:
  const World& world_;
};

struct SimWorld {
  std::unique_ptr<hypervisor::SimDriver> driver;
  std::unique_ptr<control::Engine> engine;
};

// The engine over the world, its VMs placed where the world starts them.
Result<SimWorld> Build(const World& world, std::unique_ptr<placement::Policy> policy,
                       const placement::PolicyOptions& policy_options, bool clairvoyant,
                       control::Recorder& recorder, std::function<int64_t()> clock) {
  const size_t S = world.problem.sites.size(), V = world.problem.vms.size(), T = world.slots;
  hypervisor::SimDriverConfig driver_config;
  driver_config.instant = true;
  for (size_t a = 0; a < S; ++a) {
    driver_config.hosts.push_back(world.problem.sites[a].name);
    for (size_t b = 0; b < S; ++b) {
      if (a == b) continue;
      driver_config
          .link_bandwidth_bytes_s[{world.problem.sites[a].name, world.problem.sites[b].name}] =
          world.problem.LinkBetween(a, b).bandwidth_bytes_s;
    }
  }
  SimWorld sim;
  sim.driver = std::make_unique<hypervisor::SimDriver>(driver_config);

  control::EngineSetup setup;
  setup.problem = world.problem;
  for (size_t s = 0; s < S; ++s) {
    setup.hosts.names.push_back(world.problem.sites[s].name);
    setup.hosts.site.push_back(s);
    setup.hosts.driver_location.push_back(world.problem.sites[s].name);
  }
  setup.home_site = world.initial_site;
  setup.inputs = InputsOf(world);
  std::vector<std::unique_ptr<control::SensorSource>> sources = SensorsOf(world, &setup.sensors);
  setup.observer.stale_ms = std::max<int64_t>(300000, 3 * world.problem.slot_s * 1000);
  for (size_t v = 0; v < V; ++v) setup.default_vm_power_w.push_back(world.vm_power_w[v * T]);
  if (clairvoyant) setup.predictor = std::make_unique<KnownFuture>(world);
  setup.policy = std::move(policy);
  setup.min_dwell_slots = policy_options.min_dwell_slots;
  setup.executor.run_inline = true;
  setup.executor.migration.mode = hypervisor::MigrationMode::kLive;
  setup.executor.migration.timeout = std::chrono::hours(24);
  // As the planner's move costs predict them: each VM's budget as the downtime limit.
  setup.executor.migration.downtime_limit_ms = 0;
  setup.executor.migration.auto_converge = false;
  setup.mode = control::Mode::kAuto;
  setup.refresh_inventory = false;  // nobody but the engine moves the simulator's VMs
  setup.keep_static_account = false;
  // The sim driver moves a VM exactly as the model prices it on the configured links: there is
  // nothing to learn from its moves, and the year is priced as configured.
  setup.calibrate = false;
  sim.engine = std::make_unique<control::Engine>(std::move(setup), *sim.driver, recorder, clock);
  for (std::unique_ptr<control::SensorSource>& source : sources)
    sim.engine->observer().AddSource(std::move(source));
  sim.engine->observer().SetLoadSource(std::make_unique<WorldLoad>(world));

  for (size_t v = 0; v < V; ++v) {
    const placement::Vm& vm = world.problem.vms[v];
    hypervisor::SimVm sim_vm;
    sim_vm.spec.name = vm.name;
    sim_vm.spec.memory_mib = static_cast<int>(vm.memory_bytes >> 20);
    sim_vm.dirty_mb_s = vm.dirty_rate_bytes_s / 1e6;
    sim_vm.working_set_mib =
        vm.working_set_bytes > 0 ? static_cast<int>(vm.working_set_bytes >> 20) : -1;
    // A shared disk is not copied, and its writes go to the storage, not over the migration.
    sim_vm.disk_used_bytes = vm.disk_shared ? 0 : vm.disk_bytes;
    sim_vm.disk_write_mb_s = vm.disk_shared ? 0 : vm.disk_write_rate_bytes_s / 1e6;
    const size_t site = static_cast<size_t>(world.initial_site[v]);
    GS_RETURN_IF_ERROR(sim.driver->StartVm(sim_vm, world.problem.sites[site].name));
    sim.engine->fleet().Place(v, static_cast<int>(site), hypervisor::VmState::kRunning);
  }
  return sim;
}

// What was measured over slot t of the world, as the observer reports it at the slot's end.
control::Observation ObservationOf(const World& world, size_t t) {
  const size_t S = world.problem.sites.size(), V = world.problem.vms.size(), T = world.slots;
  control::Observation o;
  o.time_ms = (world.start_utc_s + static_cast<int64_t>(t + 1) * world.problem.slot_s) * 1000;
  o.sites.resize(S);
  for (size_t s = 0; s < S; ++s) {
    o.sites[s].pv_w = world.pv_w[s * T + t];
    o.sites[s].wind_w = world.wind_w[s * T + t];
    o.sites[s].green_w = o.sites[s].pv_w + o.sites[s].wind_w;
    o.sites[s].fresh_sensors = 2;
    o.sites[s].carbon_g_per_kwh = world.carbon_g_per_kwh[s * T + t];
  }
  o.vm_power_w.resize(V);
  for (size_t v = 0; v < V; ++v) o.vm_power_w[v] = world.vm_power_w[v * T + t];
  return o;
}

}  // namespace

Status World::Check() const {
  GS_RETURN_IF_ERROR(problem.Check());
  const size_t sites = problem.sites.size(), vms = problem.vms.size();
  if (slots == 0) return Status::Error("the world has no slots");
  if (start_utc_s % problem.slot_s != 0)
    return Status::Invalid("the world must start on a slot boundary (a multiple of " +
                           std::to_string(problem.slot_s) + " s)");
  for (const auto* series : {&pv_w, &wind_w, &pv_clear_w, &carbon_g_per_kwh}) {
    if (series->size() != sites * slots) return Status::Error("a site series has the wrong length");
  }
  if (vm_power_w.size() != vms * slots) return Status::Error("VM power has the wrong length");
  if (initial_site.size() != vms) return Status::Error("every VM needs an initial site");
  std::vector<double> used(sites, 0.0);
  for (size_t v = 0; v < vms; ++v) {
    if (initial_site[v] < 0 || static_cast<size_t>(initial_site[v]) >= sites)
      return Status::Error("VM '" + problem.vms[v].name + "' starts at an unknown site");
    used[initial_site[v]] += problem.vms[v].peak_power_w;
    for (size_t t = 0; t < slots; ++t) {
      const double p = vm_power_w[v * slots + t];
      if (!(p >= 0) || p > problem.vms[v].peak_power_w * (1 + 1e-9))
        return Status::Error("VM '" + problem.vms[v].name + "': power at slot " +
                             std::to_string(t) + " outside 0..peak");
    }
  }
  for (size_t s = 0; s < sites; ++s) {
    if (used[s] > problem.sites[s].capacity_w)
      return Status::Error("site '" + problem.sites[s].name +
                           "': the VMs that start there exceed its capacity");
  }
  return Status::Ok();
}

Result<PolicyResult> Simulate(const World& world, placement::Policy& policy,
                              const SimulationOptions& options) {
  GS_RETURN_IF_ERROR(world.Check());
  const size_t S = world.problem.sites.size(), T = world.slots;
  PolicyResult result;
  result.policy = policy.Name();
  result.site_load_w.assign(S * T, 0.0);
  result.site_vms.assign(S * T, 0.0);
  result.cumulative_co2_kg.assign(T, 0.0);
  result.migrations_by_slot.assign(T, 0);
  ResultRecorder recorder(world, &result, options.keep_moves);
  int64_t now_ms = world.start_utc_s * 1000;
  Result<SimWorld> built = Build(world, std::make_unique<LentPolicy>(policy), options.policy,
                                 options.clairvoyant, recorder, [&now_ms] { return now_ms; });
  if (!built.ok()) return built.status();
  SimWorld sim = std::move(*built);
  control::Engine& engine = *sim.engine;
  const int64_t slot_ms = world.problem.slot_s * 1000;
  // A tick at the start of every slot; at the end of the last, its accounts.
  for (size_t t = 0; t < T; ++t) {
    now_ms = (world.start_utc_s * 1000) + static_cast<int64_t>(t) * slot_ms;
    Status ticked = engine.Tick(now_ms);
    if (!ticked.ok()) return ticked.Context("slot " + std::to_string(t));
    if (options.progress) options.progress(t + 1, T);
    if (engine.planner().last_plan_slot() != StartSlot(world) + static_cast<int64_t>(t)) continue;
    result.planning_ms += engine.planner().last_planning_ms();
    const placement::SolveReport& solve = engine.planner().last_solve();
    if (std::isnan(solve.objective_kg)) continue;  // a policy that solves nothing
    ++result.solves;
    result.solves_stopped_by_clock += solve.stopped_by_clock ? 1 : 0;
    if (std::isinf(solve.objective_kg)) {
      ++result.solves_without_plan;
      continue;
    }
    result.mip_objective_kg += solve.objective_kg;
    result.mip_gap_kg += solve.GapKg();
    result.worst_mip_gap_kg = std::max(result.worst_mip_gap_kg, solve.GapKg());
  }
  now_ms = (world.start_utc_s * 1000) + static_cast<int64_t>(T) * slot_ms;
  engine.CloseLastPeriod(now_ms);
  if (recorder.rejected() > 0)
    return Status::Error("the simulator's own sensors had " + std::to_string(recorder.rejected()) +
                         " readings rejected: " + recorder.first_rejection());
  if (!recorder.first_error().empty()) return Status::Error(recorder.first_error());
  result.green_share = result.load_kwh > 0 ? result.green_kwh / result.load_kwh : 0;
  return result;
}

double MovesPerVmDay(const PolicyResult& r, const World& world) {
  const double vm_days = static_cast<double>(world.problem.vms.size()) *
                         static_cast<double>(world.slots * world.problem.slot_s) / 86400;
  return vm_days > 0 ? static_cast<double>(r.migrations) / vm_days : 0;
}

double BusiestMovesPerVmDay(const PolicyResult& r, const World& world, int days) {
  const size_t T = r.migrations_by_slot.size();
  const size_t slot_s = static_cast<size_t>(std::max<int64_t>(1, world.problem.slot_s));
  const size_t window =
      std::min(T, std::max<size_t>(1, static_cast<size_t>(std::max(0, days)) * 86400 / slot_s));
  if (window == 0 || world.problem.vms.empty()) return 0;
  int64_t in_window = 0, most = 0;
  for (size_t t = 0; t < T; ++t) {
    in_window += r.migrations_by_slot[t];
    if (t >= window) in_window -= r.migrations_by_slot[t - window];
    if (t + 1 >= window) most = std::max(most, in_window);
  }
  const double vm_days =
      static_cast<double>(world.problem.vms.size()) * static_cast<double>(window * slot_s) / 86400;
  return static_cast<double>(most) / vm_days;
}

Result<PolicyResult> OracleResult(const World& world) {
  GS_RETURN_IF_ERROR(world.Check());
  const size_t sites = world.problem.sites.size(), vms = world.problem.vms.size(), T = world.slots;
  PolicyResult result;
  result.policy = "oracle";
  result.cumulative_co2_kg.assign(T, 0.0);
  std::vector<double> green(sites), carbon(sites), power(vms);
  for (size_t t = 0; t < T; ++t) {
    for (size_t v = 0; v < vms; ++v) power[v] = world.vm_power_w[v * T + t];
    for (size_t s = 0; s < sites; ++s) {
      green[s] = world.GreenW(s, t);
      carbon[s] = world.carbon_g_per_kwh[s * T + t];
    }
    Result<placement::OracleSlot> slot =
        placement::OracleBound(world.problem, green, carbon, power);
    if (!slot.ok()) return slot.status().Context("slot " + std::to_string(t));
    result.load_kwh += slot->load_wh / 1000;
    result.green_kwh += slot->green_wh / 1000;
    result.co2_kg += slot->co2_kg;
    result.cumulative_co2_kg[t] = result.co2_kg;
  }
  result.brown_kwh = result.load_kwh - result.green_kwh;
  result.green_share = result.load_kwh > 0 ? result.green_kwh / result.load_kwh : 0;
  return result;
}

placement::Outlook ForecastOutlook(const World& world, size_t t, size_t horizon_slots,
                                   const std::vector<int>& site_of_vm,
                                   const std::vector<int64_t>& last_move_slot) {
  const size_t V = world.problem.vms.size(), T = world.slots;
  std::vector<double> default_power(V);
  for (size_t v = 0; v < V; ++v) default_power[v] = world.vm_power_w[v * T];
  control::Forecaster forecaster(InputsOf(world), world.problem.slot_s, default_power);
  const size_t week = static_cast<size_t>(7 * 86400 / world.problem.slot_s);
  auto ms_at = [&](size_t j) {
    return (world.start_utc_s + static_cast<int64_t>(j) * world.problem.slot_s) * 1000;
  };
  // The week before as the engine lives it, a forecast after each slot's observation, so that
  // the forecasts' record (the share of their green that came) is the engine's too.
  for (size_t j = t > week ? t - week : 0; j < t && j < T; ++j) {
    forecaster.Learn(ObservationOf(world, j));
    if (j + 1 < t) forecaster.Predict(ms_at(j + 1), horizon_slots);
  }
  const int64_t now_ms = ms_at(t);
  const control::Forecast forecast = forecaster.Predict(now_ms, horizon_slots);
  placement::Outlook outlook;
  outlook.now_slot = static_cast<int64_t>(t);
  outlook.slots = horizon_slots;
  outlook.site_of_vm = site_of_vm;
  outlook.last_move_slot = last_move_slot;
  control::PutForecast(forecast, &outlook);
  outlook.vm_power_w = forecast.vm_power_w;
  return outlook;
}

placement::Outlook OutlookFor(const World& world, const placement::Policy& policy, size_t t,
                              const std::vector<int>& site_of_vm,
                              const std::vector<int64_t>& last_move_slot) {
  if (!policy.SeesOnlySensors())
    return ForecastOutlook(world, t, std::max<size_t>(1, policy.HorizonSlots()), site_of_vm,
                           last_move_slot);
  // What the sensors measured in the slot before (at the first slot, nothing yet: the forecast).
  placement::Outlook outlook = ForecastOutlook(world, t, 1, site_of_vm, last_move_slot);
  outlook.green_realized_share.clear();  // what is measured, as the engine's planner gives it
  if (t == 0) return outlook;
  const control::Observation seen = ObservationOf(world, t - 1);
  for (size_t s = 0; s < world.problem.sites.size(); ++s) {
    outlook.green_w[s] = seen.sites[s].green_w;
    outlook.carbon_g_per_kwh[s] = seen.sites[s].carbon_g_per_kwh;
  }
  outlook.vm_power_w = seen.vm_power_w;
  return outlook;
}

}  // namespace greenshift::sim
