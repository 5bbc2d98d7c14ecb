// The Green Energy Control loop: every period it observes (sensors: pushed, replayed, MQTT,
// Modbus), predicts (each site's green power over the horizon: its PV and wind model on the
// weather, corrected by what the sensors measure; or what they measure now, where a site has no
// weather), plans (the configured placement policy) and acts by the mode: `auto` executes the
// plan, `approve` keeps it until it is approved through the API, `dry-run` only records it. The
// executor carries out moves through the driver, at most `migrations_per_link` at a time on a
// link, and records each move with its measured result. Everything goes to the store.
//
// After a restart, Reconcile() settles the store with what the driver reports before the loop
// acts again: a migration the last run left behind is finished or rolled back by the driver, its
// move marked with where the VM was found, queued moves dropped. No move runs twice, no VM is
// lost.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/config.h"
#include "core/status.h"
#include "energy/carbon.h"
#include "energy/csv.h"
#include "energy/forecast.h"
#include "energy/sensor.h"
#include "energy/weather.h"
#include "hypervisor/driver.h"
#include "placement/policy.h"
#include "store/store.h"

namespace greenshift::energy {
class MqttSensorSubscriber;
}

namespace greenshift::control {

// The service's clock: real time, or a replay that starts at `start_ms` when the wall clock
// read `epoch_wall_ms` and runs `speed` times as fast.
class ServiceClock {
 public:
  using WallClock = std::function<int64_t()>;  // UTC ms
  ServiceClock(WallClock wall, int64_t epoch_wall_ms, int64_t start_ms, double speed)
      : wall_(std::move(wall)), epoch_wall_ms_(epoch_wall_ms), start_ms_(start_ms), speed_(speed) {}
  int64_t NowMs() const;
  double speed() const { return speed_; }
  const WallClock& wall() const { return wall_; }

 private:
  WallClock wall_;
  int64_t epoch_wall_ms_, start_ms_;
  double speed_;
};

// An answer to the API: the HTTP status and the JSON body.
struct Reply {
  int status = 200;
  nlohmann::json body;
};

class Controller {
 public:
  // Loads the sites' weather, carbon and replay files and the policy; the clock of a replay
  // continues where an earlier run of the same store left it.
  static Result<std::unique_ptr<Controller>> Create(const ServiceConfig& config,
                                                    store::Store& store, hypervisor::Driver& driver,
                                                    ServiceClock::WallClock wall);
  ~Controller();

  // Settles the store with the driver (see above), starts the VMs that run nowhere on their
  // configured host, then the executor. Call once, before Start or Tick.
  Status Reconcile();
  // One period: observe, predict, plan, act. Moves it queues run on the executor's threads.
  Status Tick();
  // Runs Tick every period (the period in the service's clock) on a thread of its own.
  void Start();
  // Stops the loop and the executor: a migration still running is cancelled (its VM stays on
  // its source) and recorded as failed.
  void Stop();
  // Waits until no move is queued or running (or `timeout_ms` passed); true when idle.
  bool WaitForMoves(int64_t timeout_ms);

  int64_t NowMs() const { return clock_.NowMs(); }

  // A reading the API stored (pushed by a sensor): the loop takes it as the sensor's newest
  // without asking the store.
  void NoteReading(const std::string& site, const std::string& sensor, int64_t time_utc_ms,
                   double power_w);

  // The API's views and actions.
  nlohmann::json StatusJson();
  // What the loop knows of each site now (green power, forecast, carbon, load, VMs), in the
  // config's order; the API adds it to its description of the sites.
  nlohmann::json SitesJson();
  nlohmann::json VmsJson();
  Reply Plans(size_t limit);
  Reply Plan(int64_t id);
  Reply Approve(int64_t id);
  Reply Reject(int64_t id);
  Reply Moves(size_t limit);
  // A manual move of `vm` to `site`: 404 for an unknown VM or site, 409 when the VM is already
  // there or already moving, 422 when its predicted downtime is over its budget.
  Reply RequestMove(const std::string& vm, const std::string& site);
  Reply Forecasts();
  // The loop's part of /metrics.
  std::string Metrics();

 private:
  struct SiteState {
    const SiteConfig* config = nullptr;
    energy::SiteModel model;
    bool has_model = false;
    energy::WeatherSeries weather;
    energy::CarbonSeries carbon;
    bool has_carbon = false;
    double measured_w = NAN;  // the sum of its sensors' fresh readings; NaN when none is fresh
    std::vector<double> forecast_w;  // over the horizon, from the slot about to start
    double carbon_now = 0;
    energy::PowerSeries history;  // measured, one value per tick
  };
  struct ReplaySensor {
    size_t site = 0;
    const SensorConfig* config = nullptr;
    std::vector<int64_t> time_s;
    std::vector<double> power_w;
    energy::SensorValidator validator{energy::SensorLimits{}};
  };
  struct ModbusSensor {
    size_t site = 0;
    const SensorConfig* config = nullptr;
    std::string host;
    int port = 502;
    energy::SensorValidator validator{energy::SensorLimits{}};
  };
  struct MqttBroker {
    std::string host, prefix;
    int port = 1883;
    std::unique_ptr<energy::MqttSensorSubscriber> subscriber;
    int64_t rejected_seen = 0;  // the subscriber's rejections already recorded
  };
  struct VmState {
    const VmConfig* config = nullptr;
    size_t home_site = 0;
    std::string driver_site;  // where the driver says it runs
    int site = -1;            // its config site; -1 when it runs nowhere we know
    hypervisor::VmState state = hypervisor::VmState::kUnknown;
    int64_t last_move_ms = 0;
    bool busy = false;  // a move of it is queued or running
  };
  struct QueuedMove {
    store::MoveRecord record;
    size_t vm = 0, from = 0, to = 0;
  };

  Controller(const ServiceConfig& config, store::Store& store, hypervisor::Driver& driver,
             ServiceClock clock);
  Status Load();
  hypervisor::VmSpec SpecFor(const VmConfig& vm) const;
  std::string DriverSiteOf(size_t site) const;  // where the driver runs a site's VMs
  int SiteOfDriverSite(const std::string& driver_site) const;
  int SiteOfHost(const std::string& host) const;
  int SiteIndex(const std::string& name) const;  // -1 when no site is named so
  int VmIndex(const std::string& name) const;    // -1 when no VM is named so
  // A sensor's reading older than this is stale: 3 periods, at least 5 minutes.
  int64_t StaleMs() const;
  double CarbonAt(const SiteState& site, int64_t utc_s) const;  // gCO2/kWh
  double LoadW(size_t site) const;  // what the VMs there draw (the caller holds mutex_)
  Status RefreshVms();              // from the driver
  void Observe(int64_t now_ms);
  void StoreReading(const energy::Reading& reading, energy::SensorValidator* validator,
                    int64_t now_ms);
  void Predict(int64_t now_ms);
  void Account(int64_t now_ms);
  Status PlanAndAct(int64_t now_ms);
  // Queues the moves of a plan (the caller holds mutex_).
  void QueueLocked(int64_t plan_id, const std::vector<placement::Move>& moves, int64_t now_ms);
  void Dispatch();  // the executor's thread
  void RunMove(QueuedMove move);
  nlohmann::json MoveJson(const store::MoveRecord& move) const;
  nlohmann::json PlanJson(const store::PlanRecord& plan) const;

  const ServiceConfig& config_;
  store::Store& store_;
  hypervisor::Driver& driver_;
  ServiceClock clock_;
  std::unique_ptr<placement::Policy> policy_;
  placement::Problem problem_;
  std::unique_ptr<placement::MoveCosts> costs_;

  std::mutex mutex_;  // guards everything below
  std::vector<SiteState> sites_;
  std::vector<VmState> vms_;
  std::vector<ReplaySensor> replay_;
  std::vector<ModbusSensor> modbus_;
  std::vector<MqttBroker> mqtt_;
  // Each sensor's newest stored reading: (site, sensor) -> (time, W).
  std::map<std::pair<std::string, std::string>, std::pair<int64_t, double>> latest_;
  nlohmann::json current_plan_ = nlohmann::json::object();
  int64_t last_tick_ms_ = 0;  // service clock
  int64_t ticks_ = 0;
  double last_tick_duration_s_ = 0;
  std::string last_error_;
  // Green share with greenshift and with every VM left on its home site ("static").
  double load_wh_ = 0, green_used_wh_ = 0, co2_kg_ = 0;
  double static_green_used_wh_ = 0, static_co2_kg_ = 0;
  std::map<std::string, int64_t> moves_by_result_;
  double last_downtime_ms_ = -1, total_downtime_ms_ = 0;
  int64_t readings_stored_ = 0, readings_rejected_ = 0;

  // The executor.
  std::deque<QueuedMove> queue_;
  std::map<std::pair<size_t, size_t>, int> running_per_link_;  // (lower, higher site) -> count
  int running_ = 0;
  std::condition_variable changed_;
  std::atomic<bool> stopping_{false};
  std::thread dispatcher_;
  struct Migration {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Migration> migrations_;  // finished ones are joined by the dispatcher
  std::thread loop_;
  std::condition_variable loop_wake_;
};

}  // namespace greenshift::control
