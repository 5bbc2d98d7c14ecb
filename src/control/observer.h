// observe: the first stage of the engine. It takes readings from every sensor, polled (replay,
// Modbus, MQTT: SensorSource) or pushed through the API, validates each one in one place
// (energy::SensorValidator, one per sensor, continued from the store's newest reading after a
// restart), records what it accepted and what it rejected with why, and says what each site
// measures now: the sum of its sensors' fresh readings, the grid's carbon intensity, and the
// power each VM draws.
//
// Thread safety: Push (the API's threads) and Observe (the loop) run at once; the views too.
// Sources are polled outside the lock (a dead inverter's timeout stalls no API call).
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "control/config.h"
#include "control/inputs.h"
#include "control/recorder.h"
#include "control/sources.h"
#include "core/status.h"
#include "energy/sensor.h"

namespace greenshift::control {

struct SensorSpec {
  std::string site, name;
  std::string kind;  // push, replay, modbus, mqtt
  Measures measures = Measures::kGreen;
  double capacity_w = 0;
};

struct SiteObservation {
  double green_w = NAN;         // its fresh sensors' newest readings summed (NaN: none is fresh)
  double pv_w = 0, wind_w = 0;  // the parts of it by what each sensor measures (green: PV)
  int fresh_sensors = 0;
  double carbon_g_per_kwh = NAN;  // the grid's, over the period that just ended
};

struct Observation {
  int64_t time_ms = 0;
  std::vector<SiteObservation> sites;
  std::vector<double> vm_power_w;  // what each VM drew over the period that just ended
};

// What the VMs draw: the configured figures (the service), recorded traces (the simulator).
class LoadSource {
 public:
  virtual ~LoadSource() = default;
  // Fills one value per VM: its mean power over the period that ends at `now_ms`.
  virtual void Read(int64_t now_ms, std::vector<double>* vm_power_w) = 0;
};

struct ObserverOptions {
  // A sensor's newest reading older than this does not count (3 periods, at least 5 minutes).
  int64_t stale_ms = 300000;
  energy::SensorLimits limits;              // capacity is each sensor's own
  std::function<int64_t()> received_clock;  // when a reading arrived (UTC ms); default: now
};

struct PushOutcome {
  size_t stored = 0;      // new readings, now durable
  size_t duplicates = 0;  // re-sent readings that were stored before (not stored again)
};

struct SensorView {
  SensorSpec spec;
  bool has_reading = false;
  int64_t last_time_ms = 0;
  double last_power_w = 0;
  int64_t accepted = 0, rejected = 0;
};

struct ObserverCounters {
  int64_t accepted = 0, duplicates = 0, problems = 0;
  std::map<std::string, int64_t> rejected;  // by reason
};

class Observer {
 public:
  Observer(std::vector<std::string> site_names, std::vector<SensorSpec> sensors,
           std::shared_ptr<const Inputs> inputs, Recorder& recorder, ObserverOptions options);

  // Sources are polled in Observe, in the order added.
  void AddSource(std::unique_ptr<SensorSource> source);
  void SetLoadSource(std::unique_ptr<LoadSource> load);

  // Continues each sensor's order and duplicate checks from its newest stored reading.
  void Seed(const std::vector<store::StoredReading>& newest);

  // Readings pushed by sensors: all of them or none. NotFound for an unknown site or sensor,
  // Conflict for a sensor the service reads itself, Invalid for a reading that fails
  // validation (nothing of the batch is stored; the rejection is), Unavailable when the store
  // cannot take them (nothing stored; the client may send them again).
  Result<PushOutcome> Push(const std::vector<energy::Reading>& readings, int64_t now_ms);

  // Polls the sources, validates and records what they delivered, and says what each site
  // measures at `now_ms`.
  Observation Observe(int64_t now_ms);

  std::vector<SensorView> Sensors() const;
  ObserverCounters Counters() const;
  // Each polled source and whether it is connected.
  std::vector<std::pair<std::string, bool>> Sources() const;
  // The index of (site, sensor) in Sensors(), or -1.
  int SensorIndex(const std::string& site, const std::string& sensor) const;

 private:
  struct SensorState {
    SensorSpec spec;
    size_t site = 0;
    energy::SensorValidator validator;
    int64_t rejected = 0;  // since the start (the validator counts what it accepted)
  };
  // Validates `reading` of sensor `index` against `state` (a copy for a trial, or the real
  // one). Fills `verdict`; a duplicate of an older stored reading is found in the store.
  energy::Verdict Check(SensorState& state, const energy::Reading& reading, int64_t now_ms);
  void RecordRejected(const energy::Reading& reading, const std::string& reason,
                      const std::string& why, int64_t received_ms);
  int64_t Received(int64_t now_ms) const;

  const std::vector<std::string> site_names_;
  const std::shared_ptr<const Inputs> inputs_;
  Recorder& recorder_;
  const ObserverOptions options_;

  mutable std::mutex mutex_;  // guards sensors_ and counters_
  std::vector<SensorState> sensors_;
  std::map<std::pair<std::string, std::string>, size_t> index_;
  ObserverCounters counters_;

  // The loop's own: only Observe uses them.
  std::vector<std::unique_ptr<SensorSource>> sources_;
  std::unique_ptr<LoadSource> load_;
  std::vector<double> vm_power_w_;
};

}  // namespace greenshift::control
