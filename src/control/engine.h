// The engine: observe, predict, plan, act, record, once a tick, with the stages as separate
// objects (observer, forecaster, planner, executor, accountant; the recorder writes down what
// each one does). The service runs it on a clock with a thread of its own; the simulator ticks
// it slot by slot over recorded data with the sim driver. The two differ only in their clock,
// their sources and their driver, so a policy is evaluated by the code that runs in production.
//
// A tick at time `now` (the loop keeps ticks on slot boundaries):
//   1. the inventory: where the driver says each VM runs (the service; the simulator's fleet is
//      the engine's own);
//   2. observe: sensors, grid carbon, VM power;
//   3. account: the period that just ended;
//   4. predict: each site over the policy's horizon; a site whose inputs do not cover now is
//      stale, and no planned move may touch it;
//   5. plan, when the policy's re-plan interval has passed: the plan is recorded, and by the
//      mode executed (auto), kept for approval (approve), or only recorded (dry-run);
//   6. act: the current plan's moves due in this slot go to the executor.
//
// Operators act through Approve, Reject, RequestMove and Push; views say what the engine knows.
//
// Thread safety: Tick runs on one thread (the loop); everything else may be called from any
// thread at any time. The planner runs holding nothing the API needs.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "control/accounts.h"
#include "control/calibration.h"
#include "control/clock.h"
#include "control/config.h"
#include "control/executor.h"
#include "control/fleet.h"
#include "control/forecaster.h"
#include "control/inputs.h"
#include "control/model_check.h"
#include "control/observer.h"
#include "control/planner.h"
#include "control/recorder.h"
#include "core/histogram.h"
#include "core/status.h"
#include "hypervisor/driver.h"
#include "placement/policy.h"
#include "placement/problem.h"

namespace greenshift::control {

struct EngineSetup {
  placement::Problem problem;  // sites, VMs, links, the slot (one tick)
  HostMap hosts;
  std::vector<int> home_site;  // per VM
  // Per VM: the host it is started on when it runs nowhere (empty, or -1: the least loaded
  // host of its home site that has room).
  std::vector<int> home_host;
  std::vector<SensorSpec> sensors;
  ObserverOptions observer;
  std::shared_ptr<Inputs> inputs;
  std::vector<double> default_vm_power_w;  // per VM, before anything is observed
  // The predict stage; null: a Forecaster over `inputs` (what the service always uses).
  std::unique_ptr<Predictor> predictor;
  std::unique_ptr<placement::Policy> policy;
  int64_t min_dwell_slots = 1;
  ExecutorOptions executor;
  Mode mode = Mode::kAuto;
  bool refresh_inventory = true;    // ask the driver where the VMs run at every tick
  bool keep_static_account = true;  // account "every VM at home" beside what happened
  // Price moves on what completed moves measured of their links (calibration.h); the dirty
  // rates sampled before moves (executor.dirty_rate_sample_s) are used either way.
  bool calibrate = true;
};

// A plan as the views show it.
struct PlanView {
  int64_t id = 0;
  int64_t made_ms = 0;
  int64_t first_slot = 0;
  std::string policy, mode, status;
  std::vector<placement::Move> moves;
  std::string note;
};

struct SiteView {
  std::string name;
  double green_w = NAN;           // measured now (NaN: no fresh sensor)
  double forecast_next_w = NAN;   // for the slot about to start
  double carbon_g_per_kwh = NAN;  // over the last period
  double load_w = 0;              // what the VMs there draw
  std::vector<std::string> vms;
  std::string forecast_method;
  std::string stale;  // why its inputs do not cover now; empty when they do
};

struct VmView {
  std::string name;
  int site = -1, home_site = 0;
  std::string host;  // where the driver runs it
  hypervisor::VmState state = hypervisor::VmState::kUnknown;
  bool moving = false;
  int64_t last_move_slot = kNeverMoved;
};

// A host as the views show it.
struct HostView {
  std::string name;
  size_t site = 0;
  int64_t memory_mib = 0;       // what its VMs may take (0: no limit of its own)
  int64_t memory_used_mib = 0;  // its VMs' and those in flight to it
};

struct EngineStatus {
  int64_t now_ms = 0;
  Mode mode = Mode::kAuto;
  std::string policy;
  std::vector<std::string> driver_capabilities;  // what the driver says it can do
  int64_t ticks = 0;
  int64_t last_tick_ms = 0;
  double last_tick_duration_s = 0;
  std::string last_error;
  double last_planning_ms = 0;
  double last_mip_gap = NAN;
  bool inventory_ok = true;
  std::vector<HostView> hosts;
  ExecutorView moves;
  AccountTotals totals;
  std::optional<PlanView> current_plan;
  std::vector<std::string> stale_sites;
  Histogram loop_seconds{{0.001, 0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30}};
  Histogram pause_seconds{{0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 5}};
  double last_pause_ms = -1, total_pause_ms = 0;
  ModelErrors model_errors;  // the cost model against the last completed moves (model_check.h)
  // What the moves measured, that prices the next ones (calibration.h).
  std::vector<LinkCalibration> calibrated_links;
  std::vector<VmCalibration> calibrated_vms;
};

class Engine {
 public:
  using Clock = std::function<int64_t()>;  // the engine's now, UTC ms
  Engine(EngineSetup setup, hypervisor::Driver& driver, Recorder& recorder, Clock clock);
  ~Engine();

  const placement::Problem& problem() const { return problem_; }
  Observer& observer() { return *observer_; }
  Fleet& fleet() { return *fleet_; }
  Executor& executor() { return *executor_; }
  const Planner& planner() const { return *planner_; }
  int64_t slot_ms() const { return problem_.slot_s * 1000; }
  int home_site(size_t vm) const { return home_site_[vm]; }
  int home_host(size_t vm) const { return vm < home_host_.size() ? home_host_[vm] : -1; }
  int64_t NowMs() const { return clock_(); }

  // One tick at `now_ms` (see above). Errors are also recorded; the next tick tries again.
  Status Tick(int64_t now_ms);
  // Observes and closes the period that ends at `now_ms`, and nothing else: the end of a
  // simulation, whose last slot is accounted without planning another.
  void CloseLastPeriod(int64_t now_ms) { ObserveAndAccount(now_ms); }

  // Runs Tick at once, then on every slot boundary of `clock`, on a thread of its own.
  void Start(const ServiceClock& clock);
  // Stops the loop and the executor: a migration still running is cancelled (its VM stays on
  // its source) and recorded as failed, queued moves as cancelled.
  void Stop();
  // Waits until no move is queued or running (or `timeout_ms` passed); true when idle.
  bool WaitForMoves(int64_t timeout_ms) { return executor_->WaitIdle(timeout_ms); }

  // The operator's actions. Errors carry their kind: NotFound, Conflict (not pending, dry-run,
  // already moving...), Invalid (a move that cannot be made).
  Result<PlanView> Approve(int64_t plan_id);
  Status Reject(int64_t plan_id);
  Result<MoveOrder> RequestMove(const std::string& vm, const std::string& site);
  Result<PushOutcome> Push(const std::vector<energy::Reading>& readings) {
    return observer_->Push(readings, NowMs());
  }

  // What the engine knows now.
  EngineStatus GetStatus() const;
  std::vector<SiteView> Sites() const;
  std::vector<VmView> Vms() const;
  std::shared_ptr<const Forecast> LatestForecast() const;  // null before the first tick
  // Each site's inputs (weather, carbon); Inputs is safe to read from any thread.
  const Inputs& inputs() const { return *inputs_; }
  int SiteIndex(const std::string& name) const;
  int VmIndex(const std::string& name) const;

 private:
  void Apply(int64_t slot);  // the current plan's moves due at `slot`, if it may be executed
  Observation ObserveAndAccount(int64_t now_ms);
  void MoveEnded(const MoveOrder& order, const MoveOutcome& outcome);

  const placement::Problem problem_;
  const std::vector<int> home_site_;
  const std::vector<int> home_host_;
  const Mode mode_;
  const bool refresh_inventory_;
  const bool calibrate_;
  hypervisor::Driver& driver_;
  Recorder& recorder_;
  const Clock clock_;
  std::shared_ptr<Inputs> inputs_;
  std::unique_ptr<Observer> observer_;
  std::unique_ptr<Predictor> forecaster_;
  std::unique_ptr<Calibration> calibration_;  // before the executor, which reprices on it
  std::unique_ptr<Planner> planner_;
  int64_t priced_version_ = 0;  // the calibration the planner's prices are of (the loop's)
  std::unique_ptr<Fleet> fleet_;
  std::unique_ptr<Accountant> accountant_;
  std::unique_ptr<Executor> executor_;

  std::mutex plan_mutex_;     // plan status changes (a new plan, approve, reject), in order
  mutable std::mutex mutex_;  // guards what the views read, below
  std::optional<PlanView> current_;
  int64_t applied_slot_ = kNeverMoved;  // the current plan's last slot whose moves went out
  std::shared_ptr<const Observation> last_observation_;
  std::shared_ptr<const Forecast> last_forecast_;
  EngineStatus status_;

  // The VMs the driver's last listing did not fully answer about, and why (as logged). Tick's
  // own: ticks do not overlap.
  std::map<std::string, std::string> unanswered_;

  std::atomic<bool> stopping_{false};
  std::condition_variable wake_;
  std::thread loop_;
};

}  // namespace greenshift::control
