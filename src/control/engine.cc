#include "control/engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/clock.h"

namespace greenshift::control {

namespace {

// The problem as the driver can carry it out: moves are priced as what it will do.
placement::Problem AsTheDriverMoves(placement::Problem problem, const hypervisor::Driver& driver) {
  problem.live_migration = driver.GetCapabilities().live_migration;
  return problem;
}

}  // namespace

Engine::Engine(EngineSetup setup, hypervisor::Driver& driver, Recorder& recorder, Clock clock)
    : problem_(AsTheDriverMoves(std::move(setup.problem), driver)),
      home_site_(setup.home_site),
      home_host_(setup.home_host),
      mode_(setup.mode),
      refresh_inventory_(setup.refresh_inventory),
      calibrate_(setup.calibrate),
      driver_(driver),
      recorder_(recorder),
      clock_(std::move(clock)),
      inputs_(setup.inputs) {
  std::vector<std::string> site_names;
  for (const placement::Site& site : problem_.sites) site_names.push_back(site.name);
  observer_ = std::make_unique<Observer>(site_names, std::move(setup.sensors), inputs_, recorder_,
                                         setup.observer);
  forecaster_ = setup.predictor ? std::move(setup.predictor)
                                : std::make_unique<Forecaster>(inputs_, problem_.slot_s,
                                                               std::move(setup.default_vm_power_w));
  calibration_ = std::make_unique<Calibration>(problem_);
  planner_ = std::make_unique<Planner>(problem_, std::move(setup.policy), setup.min_dwell_slots,
                                       home_site_);
  fleet_ = std::make_unique<Fleet>(problem_, std::move(setup.hosts));
  accountant_ = std::make_unique<Accountant>(problem_, home_site_, setup.keep_static_account);
  setup.executor.min_dwell_slots = setup.min_dwell_slots;
  setup.executor.slot_ms = slot_ms();
  executor_ = std::make_unique<Executor>(
      setup.executor, problem_, *fleet_, driver_, recorder_, clock_,
      [this](const MoveOrder& order, const MoveOutcome& outcome) { MoveEnded(order, outcome); },
      [this](const placement::Move& move, double dirty_rate_bytes_s) {
        calibration_->ObserveDirtyRate(move.vm, dirty_rate_bytes_s);
        return placement::PredictMove(calibration_->Priced(), move.vm, move.from, move.to);
      });
  status_.mode = mode_;
  status_.policy = planner_->policy().Name();
  status_.driver_capabilities = driver_.GetCapabilities().Names();
}

Engine::~Engine() {
  Stop();
}

int Engine::SiteIndex(const std::string& name) const {
  for (size_t s = 0; s < problem_.sites.size(); ++s) {
    if (problem_.sites[s].name == name) return static_cast<int>(s);
  }
  return -1;
}

int Engine::VmIndex(const std::string& name) const {
  for (size_t v = 0; v < problem_.vms.size(); ++v) {
    if (problem_.vms[v].name == name) return static_cast<int>(v);
  }
  return -1;
}

void Engine::MoveEnded(const MoveOrder& order, const MoveOutcome& outcome) {
  accountant_->MoveEnded(outcome, order.move.from, order.move.to);
  // What the move measured of the link prices its next moves (calibration.h); one that
  // failed can still say what the VM's pages sent again cost.
  if (calibrate_)
    calibration_->ObserveMove(order.move.vm, order.move.from, order.move.to, outcome.result);
  if (outcome.state != "completed") return;
  const double pause_ms =
      outcome.result.paused_ms >= 0 ? outcome.result.paused_ms : outcome.result.downtime_ms;
  std::lock_guard<std::mutex> lock(mutex_);
  if (outcome.compared) status_.model_errors.Add(outcome.model_error);
  if (pause_ms < 0) return;
  status_.pause_seconds.Observe(pause_ms / 1000);
  status_.last_pause_ms = pause_ms;
  status_.total_pause_ms += pause_ms;
}

Status Engine::Tick(int64_t now_ms) {
  const SteadyTime began = SteadyNow();
  const int64_t slot = TickSlot(now_ms, slot_ms());
  std::string error;
  bool inventory_ok = true;
  if (refresh_inventory_) {
    Result<std::vector<hypervisor::VmInfo>> listed = driver_.ListVms();
    if (listed.ok()) {
      fleet_->Refresh(*listed);
      // A VM its hypervisor did not fully answer about is listed all the same (its place and
      // state known): the operator hears why its figures are missing, once when it starts (or
      // the reason changes), and again when the hypervisor answers: not every tick between.
      std::map<std::string, std::string> unanswered;
      for (const hypervisor::VmInfo& vm : *listed) {
        if (vm.unanswered.empty()) {
          if (unanswered_.count(vm.spec.name))
            recorder_.Event(LogLevel::kInfo, "inventory",
                            vm.spec.name + ": its hypervisor answers about it again", now_ms);
          continue;
        }
        auto said = unanswered_.find(vm.spec.name);
        if (said == unanswered_.end() || said->second != vm.unanswered)
          recorder_.Event(LogLevel::kWarning, "inventory", vm.spec.name + ": " + vm.unanswered,
                          now_ms);
        unanswered[vm.spec.name] = vm.unanswered;
      }
      unanswered_ = std::move(unanswered);
    } else {
      // Nothing is planned on an inventory nobody knows.
      inventory_ok = false;
      error = "the driver's inventory: " + listed.error();
      recorder_.Event(LogLevel::kError, "inventory", error, now_ms);
    }
  }
  executor_->BeginSlot(slot);
  const auto observation = std::make_shared<const Observation>(ObserveAndAccount(now_ms));

  const auto forecast =
      std::make_shared<const Forecast>(forecaster_->Predict(now_ms, planner_->HorizonSlots()));
  recorder_.ForecastIssued(*forecast);
  std::vector<std::string> stale(problem_.sites.size());
  std::vector<std::string> stale_names;
  for (size_t s = 0; s < stale.size(); ++s) {
    stale[s] = forecast->sites[s].stale;
    if (!stale[s].empty()) stale_names.push_back(problem_.sites[s].name);
  }
  executor_->SetBlocked(stale);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    last_observation_ = observation;
    last_forecast_ = forecast;
    status_.stale_sites = stale_names;
    status_.inventory_ok = inventory_ok;
  }

  if (inventory_ok && planner_->Due(slot)) {
    // Moves are priced on what the last moves measured (calibration.h), once it changed.
    if (const int64_t version = calibration_->version(); version != priced_version_) {
      planner_->Reprice(calibration_->Priced());
      priced_version_ = version;
    }
    placement::Outlook outlook;
    fleet_->Read([&](const std::vector<VmPlace>& vms) {
      outlook = planner_->MakeOutlook(slot, *forecast, *observation, vms);
    });
    Result<placement::Plan> plan = planner_->Decide(outlook);
    if (!plan.ok()) {
      error = plan.error();
      recorder_.Event(LogLevel::kError, "plan", error, now_ms);
    } else {
      const char* status = mode_ == Mode::kAuto      ? "executed"
                           : mode_ == Mode::kApprove ? "pending"
                                                     : "recorded";
      std::string note;
      for (const std::string& name : stale_names)
        note += (note.empty() ? "stale inputs at " : ", ") + name;
      if (mode_ == Mode::kApprove) {
        // A newer plan replaces one still waiting: only the latest can be approved.
        Status superseded = recorder_.SupersedePending();
        if (!superseded.ok()) error = superseded.message();
      }
      PlanEntry entry{now_ms, slot, plan->policy, ModeName(mode_), status, &*plan, note};
      Result<int64_t> id = recorder_.PlanMade(entry);
      if (!id.ok()) {
        error = "recording the plan: " + id.error();  // a plan nobody can audit is not acted on
      } else {
        PlanView view{
            *id, now_ms, slot, plan->policy, ModeName(mode_), status, std::move(plan->moves), note};
        std::lock_guard<std::mutex> lock(mutex_);
        current_ = std::move(view);
        applied_slot_ = kNeverMoved;
      }
    }
  }
  // Moves go out only on a fresh inventory: the executor checks them against the fleet.
  if (inventory_ok) Apply(slot);

  const double seconds = MillisBetween(began, SteadyNow()) / 1000;
  std::lock_guard<std::mutex> lock(mutex_);
  status_.ticks++;
  status_.last_tick_ms = now_ms;
  status_.last_tick_duration_s = seconds;
  status_.loop_seconds.Observe(seconds);
  status_.last_planning_ms = planner_->last_planning_ms();
  status_.last_mip_gap = planner_->last_solve().Gap();
  status_.last_error = error;
  return error.empty() ? Status::Ok() : Status::Error(error);
}

Observation Engine::ObserveAndAccount(int64_t now_ms) {
  Observation observation = observer_->Observe(now_ms);
  forecaster_->Learn(observation);
  std::optional<PeriodAccount> account;
  fleet_->Read([&](const std::vector<VmPlace>& vms) {
    account = accountant_->Close(observation, vms, slot_ms());
  });
  if (account) recorder_.PeriodClosed(*account);
  return observation;
}

void Engine::Apply(int64_t slot) {
  std::vector<MoveOrder> orders;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!current_ || (current_->status != "executed" && current_->status != "approved")) return;
    // Each slot's moves go out once; an approved plan catches up on the slots it waited in.
    for (const placement::Move& move : current_->moves) {
      if (move.slot > slot || move.slot <= applied_slot_) continue;
      MoveOrder order;
      order.plan_id = current_->id;
      order.move = move;
      order.move.slot = std::max(move.slot, slot);
      orders.push_back(std::move(order));
    }
    applied_slot_ = slot;
  }
  if (!orders.empty()) executor_->Submit(std::move(orders));
}

Result<PlanView> Engine::Approve(int64_t plan_id) {
  PlanView view;
  {
    std::lock_guard<std::mutex> plans(plan_mutex_);
    // Only a pending plan is approved, and only the newest plan can be pending: it is the
    // current one.
    GS_RETURN_IF_ERROR(recorder_.PlanStatus(plan_id, "pending", "approved"));
    std::lock_guard<std::mutex> lock(mutex_);
    if (!current_ || current_->id != plan_id)
      return Status::Error("plan " + std::to_string(plan_id) +
                           " was pending but is not the current plan");
    current_->status = "approved";
    view = *current_;
  }
  recorder_.Event(LogLevel::kInfo, "plan", "plan " + std::to_string(plan_id) + " approved",
                  NowMs());
  Apply(TickSlot(NowMs(), slot_ms()));
  return view;
}

Status Engine::Reject(int64_t plan_id) {
  {
    std::lock_guard<std::mutex> plans(plan_mutex_);
    GS_RETURN_IF_ERROR(recorder_.PlanStatus(plan_id, "pending", "rejected"));
    std::lock_guard<std::mutex> lock(mutex_);
    if (current_ && current_->id == plan_id) current_->status = "rejected";
  }
  recorder_.Event(LogLevel::kInfo, "plan", "plan " + std::to_string(plan_id) + " rejected",
                  NowMs());
  return Status::Ok();
}

Result<MoveOrder> Engine::RequestMove(const std::string& vm_name, const std::string& site_name) {
  const int v = VmIndex(vm_name), s = SiteIndex(site_name);
  if (v < 0) return Status::NotFound("no VM is named '" + vm_name + "'");
  if (s < 0) return Status::NotFound("no site is named '" + site_name + "'");
  if (mode_ == Mode::kDryRun)
    return Status::Conflict("the service runs in dry-run mode: it moves nothing");
  const VmPlace place = fleet_->Get(static_cast<size_t>(v));
  if (place.moving) return Status::Conflict("VM '" + vm_name + "' is already moving");
  if (place.site < 0 || place.state != hypervisor::VmState::kRunning)
    return Status::Conflict("VM '" + vm_name + "' is not running");
  if (place.site == s) return Status::Conflict("VM '" + vm_name + "' already runs on " + site_name);
  const std::vector<double> used = fleet_->PeakUsedW();
  const double peak = problem_.vms[static_cast<size_t>(v)].peak_power_w;
  if (used[static_cast<size_t>(s)] + peak > problem_.sites[static_cast<size_t>(s)].capacity_w)
    return Status::Conflict(
        "site " + site_name + " has no room for VM '" + vm_name + "' (" +
        std::to_string(static_cast<int64_t>(used[static_cast<size_t>(s)])) + " of " +
        std::to_string(static_cast<int64_t>(problem_.sites[static_cast<size_t>(s)].capacity_w)) +
        " W taken)");
  // Priced on what was measured so far (the planner's prices are the loop's to change).
  const placement::MoveCost cost =
      placement::PredictMove(calibration_->Priced(), static_cast<size_t>(v),
                             static_cast<size_t>(place.site), static_cast<size_t>(s));
  if (!cost.feasible)
    return Status::Invalid("moving VM '" + vm_name + "' to " + site_name +
                           " is not possible: " + cost.why_not);
  MoveOrder order;
  order.manual = true;
  order.move.vm = static_cast<size_t>(v);
  order.move.from = static_cast<size_t>(place.site);
  order.move.to = static_cast<size_t>(s);
  order.move.slot = TickSlot(NowMs(), slot_ms());
  order.move.reason = "requested through the API";
  order.move.predicted = cost;
  const std::vector<int64_t> ids = executor_->Submit({order});
  if (ids.empty() || ids.front() == 0)
    return Status::Unavailable("the move could not be recorded (the store is failing)");
  order.id = ids.front();
  return order;
}

void Engine::Start(const ServiceClock& clock) {
  if (loop_.joinable()) return;
  loop_ = std::thread([this, clock] {
    executor_->Start();
    while (!stopping_) {
      const int64_t now = clock.NowMs();
      Status ticked = Tick(now);
      (void)ticked;  // recorded by Tick
      // The next slot boundary, in the wall clock's time.
      const int64_t next = NextBoundaryMs(now + 1, slot_ms());
      const int64_t wall_next = clock.WallAt(next);
      std::unique_lock<std::mutex> lock(mutex_);
      while (!stopping_ && clock.wall()() < wall_next) {
        const int64_t wait_ms = std::max<int64_t>(1, wall_next - clock.wall()());
        wake_.wait_for(lock, std::chrono::milliseconds(std::min<int64_t>(wait_ms, 1000)));
      }
    }
  });
}

void Engine::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    wake_.notify_all();
  }
  if (loop_.joinable()) loop_.join();
  executor_->Stop();
}

EngineStatus Engine::GetStatus() const {
  EngineStatus status;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    status = status_;
    status.current_plan = current_;
  }
  status.now_ms = NowMs();
  status.moves = executor_->View();
  status.totals = accountant_->Totals();
  status.calibrated_links = calibration_->Links();
  status.calibrated_vms = calibration_->Vms();
  const HostMap& hosts = fleet_->hosts();
  const std::vector<int64_t> used = fleet_->MemoryUsedMib();
  for (size_t h = 0; h < hosts.names.size(); ++h)
    status.hosts.push_back({hosts.names[h], hosts.site[h], hosts.memory_mib[h], used[h]});
  return status;
}

std::vector<SiteView> Engine::Sites() const {
  const std::vector<VmPlace> fleet = fleet_->Snapshot();
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<SiteView> out(problem_.sites.size());
  for (size_t s = 0; s < out.size(); ++s) {
    SiteView& view = out[s];
    view.name = problem_.sites[s].name;
    if (last_observation_ && s < last_observation_->sites.size()) {
      view.green_w = last_observation_->sites[s].green_w;
      view.carbon_g_per_kwh = last_observation_->sites[s].carbon_g_per_kwh;
    }
    if (last_forecast_ && s < last_forecast_->sites.size()) {
      const SiteForecast& f = last_forecast_->sites[s];
      if (!f.green_w.empty()) view.forecast_next_w = f.green_w[0];
      view.forecast_method = f.method;
      view.stale = f.stale;
    }
    for (size_t v = 0; v < fleet.size(); ++v) {
      if (fleet[v].site != static_cast<int>(s)) continue;
      view.vms.push_back(problem_.vms[v].name);
      if (last_observation_ && v < last_observation_->vm_power_w.size() &&
          !std::isnan(last_observation_->vm_power_w[v]))
        view.load_w += last_observation_->vm_power_w[v];
    }
  }
  return out;
}

std::vector<VmView> Engine::Vms() const {
  const std::vector<VmPlace> fleet = fleet_->Snapshot();
  std::vector<VmView> out;
  for (size_t v = 0; v < fleet.size(); ++v) {
    const VmPlace& place = fleet[v];
    VmView view;
    view.name = problem_.vms[v].name;
    view.site = place.site;
    view.home_site = home_site_[v];
    if (place.host >= 0) view.host = fleet_->hosts().names[static_cast<size_t>(place.host)];
    view.state = place.state;
    view.moving = place.moving;
    view.last_move_slot = place.last_move_slot;
    out.push_back(std::move(view));
  }
  return out;
}

std::shared_ptr<const Forecast> Engine::LatestForecast() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return last_forecast_;
}

}  // namespace greenshift::control
