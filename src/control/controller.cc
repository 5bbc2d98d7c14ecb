#include "control/controller.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/clock.h"
#include "core/files.h"
#include "core/names.h"
#include "energy/mqtt.h"
#include "energy/sunspec.h"
#include "energy/wind.h"
#include "lab/lab.h"

namespace greenshift::control {

using nlohmann::json;

namespace {

std::string TimeText(int64_t utc_ms) {
  return FormatUtcSeconds(utc_ms / 1000);
}

// "host:port/rest" (port optional) into its parts.
Status SplitAddress(const std::string& address, int default_port, std::string* host, int* port,
                    std::string* rest) {
  const size_t slash = address.find('/');
  const std::string hostport = address.substr(0, slash);
  if (rest) *rest = slash == std::string::npos ? "" : address.substr(slash + 1);
  const size_t colon = hostport.rfind(':');
  *host = hostport.substr(0, colon);
  *port = default_port;
  if (colon != std::string::npos) {
    try {
      *port = std::stoi(hostport.substr(colon + 1));
    } catch (...) {
      *port = -1;
    }
  }
  if (host->empty() || *port <= 0 || *port > 65535)
    return Status::Error("'" + address + "' is not host:port");
  return Status::Ok();
}

}  // namespace

int64_t ServiceClock::NowMs() const {
  const int64_t wall = wall_();
  if (start_ms_ == 0) return wall;
  return start_ms_ + static_cast<int64_t>(std::llround((wall - epoch_wall_ms_) * speed_));
}

Controller::Controller(const ServiceConfig& config, store::Store& store, hypervisor::Driver& driver,
                       ServiceClock clock)
    : config_(config), store_(store), driver_(driver), clock_(std::move(clock)) {}

Controller::~Controller() {
  Stop();
}

Result<std::unique_ptr<Controller>> Controller::Create(const ServiceConfig& config,
                                                       store::Store& store,
                                                       hypervisor::Driver& driver,
                                                       ServiceClock::WallClock wall) {
  // A replay keeps its epoch in the store: a restarted service goes on with the same day.
  int64_t epoch = wall();
  if (config.replay_start_utc_s != 0) {
    const std::string key = "replay_epoch:" + std::to_string(config.replay_start_utc_s) + "@" +
                            std::to_string(config.replay_speed);
    Result<std::optional<std::string>> kept = store.Setting(key);
    if (!kept.ok()) return kept.status();
    if (kept->has_value()) {
      epoch = std::stoll(**kept);
    } else {
      GS_RETURN_IF_ERROR(store.SetSetting(key, std::to_string(epoch)));
    }
  }
  ServiceClock clock(wall, epoch, config.replay_start_utc_s * 1000, config.replay_speed);
  std::unique_ptr<Controller> c(new Controller(config, store, driver, std::move(clock)));
  GS_RETURN_IF_ERROR(c->Load());
  return c;
}

Status Controller::Load() {
  Result<std::unique_ptr<placement::Policy>> policy =
      placement::MakePolicy(config_.policy, config_.policy_options);
  if (!policy.ok()) return policy.status();
  policy_ = std::move(*policy);

  problem_.slot_s = std::max<int64_t>(1, std::llround(config_.period_s));
  for (size_t s = 0; s < config_.sites.size(); ++s) {
    const SiteConfig& sc = config_.sites[s];
    const std::string where = config_.file + ": site '" + sc.name + "'";
    SiteState site;
    site.config = &sc;
    site.model.name = sc.name;
    site.history.step_s = problem_.slot_s;
    if (!sc.weather.empty()) {
      Result<energy::WeatherSeries> weather =
          energy::ReadWeatherFile(sc.weather, 0, sc.latitude, sc.longitude);
      if (!weather.ok()) return weather.status().Context(where);
      site.weather = std::move(*weather);
      if (sc.pv_kwp > 0) {
        energy::PvSystem pv;
        pv.latitude_deg = sc.latitude;
        pv.longitude_deg = sc.longitude;
        pv.tilt_deg = sc.pv_tilt_deg;
        pv.azimuth_deg = sc.pv_azimuth_deg;
        pv.capacity_w = pv.inverter_limit_w = sc.pv_kwp * 1000;
        site.model.pv.push_back(pv);
      }
      if (!sc.wind_turbine.empty()) {
        Result<std::string> text = ReadFile(sc.wind_curves);
        if (!text.ok()) return text.status().Context(where);
        Result<std::vector<energy::PowerCurve>> curves =
            energy::ParsePowerCurves(*text, sc.wind_curves);
        if (!curves.ok()) return curves.status().Context(where);
        Result<energy::PowerCurve> curve = energy::FindPowerCurve(*curves, sc.wind_turbine);
        if (!curve.ok()) return curve.status().Context(where);
        site.model.wind.push_back({*curve, sc.wind_hub_height_m, 0.1, sc.wind_count});
      }
      site.has_model = true;
    }
    if (!sc.carbon.empty()) {
      Result<std::string> text = ReadFile(sc.carbon);
      if (!text.ok()) return text.status().Context(where);
      Result<energy::CarbonSeries> carbon = energy::ParseCarbonCsv(*text, sc.carbon);
      if (!carbon.ok()) return carbon.status().Context(where);
      site.carbon = std::move(*carbon);
      site.has_carbon = true;
    }
    for (const SensorConfig& sensor : sc.sensors) {
      energy::SensorLimits limits;
      limits.capacity_w = sensor.capacity_w;
      const std::string sensor_where = where + " sensor '" + sensor.name + "'";
      if (sensor.kind == "replay") {
        Result<std::string> text = ReadFile(sensor.address);
        if (!text.ok()) return text.status().Context(sensor_where);
        Result<energy::TimeSeriesTable> table = energy::ParseTimeSeriesCsv(*text, sensor.address);
        if (!table.ok()) return table.status().Context(sensor_where);
        Result<const std::vector<double>*> column = table->Column(sensor.column);
        if (!column.ok()) return column.status().Context(sensor_where);
        ReplaySensor replay;
        replay.site = s;
        replay.config = &sensor;
        replay.time_s = table->time_utc_s;
        replay.power_w = **column;
        replay.validator = energy::SensorValidator(limits);
        replay_.push_back(std::move(replay));
      } else if (sensor.kind == "modbus") {
        ModbusSensor modbus;
        modbus.site = s;
        modbus.config = &sensor;
        GS_RETURN_IF_ERROR(SplitAddress(sensor.address, 502, &modbus.host, &modbus.port, nullptr)
                               .Context(sensor_where));
        modbus.validator = energy::SensorValidator(limits);
        modbus_.push_back(std::move(modbus));
      } else if (sensor.kind == "mqtt") {
        MqttBroker broker;
        GS_RETURN_IF_ERROR(
            SplitAddress(sensor.address, 1883, &broker.host, &broker.port, &broker.prefix)
                .Context(sensor_where));
        if (broker.prefix.empty()) broker.prefix = "greenshift";
        bool known = false;
        for (const MqttBroker& b : mqtt_) {
          known |= b.host == broker.host && b.port == broker.port && b.prefix == broker.prefix;
        }
        if (!known) {
          energy::MqttOptions options;
          options.host = broker.host;
          options.port = broker.port;
          options.topic_prefix = broker.prefix;
          options.client_id = "greenshift-" + std::to_string(::getpid());
          for (const SiteConfig& other : config_.sites) {
            for (const SensorConfig& o : other.sensors) {
              if (o.kind == "mqtt")
                options.limits.capacity_w = std::max(options.limits.capacity_w, o.capacity_w);
            }
          }
          Result<std::unique_ptr<energy::MqttSensorSubscriber>> subscriber =
              energy::MqttSensorSubscriber::Connect(options);
          if (!subscriber.ok()) return subscriber.status().Context(sensor_where);
          broker.subscriber = std::move(*subscriber);
          mqtt_.push_back(std::move(broker));
        }
      }
    }
    sites_.push_back(std::move(site));
    problem_.sites.push_back({sc.name, sc.capacity_w});
  }
  problem_.links.assign(sites_.size() * sites_.size(),
                        placement::Link{config_.link_mbit * 1e6 / 8});
  for (const VmConfig& vc : config_.vms) {
    placement::Vm vm;
    vm.name = vc.name;
    vm.memory_bytes = vc.memory_mib << 20;
    vm.dirty_rate_bytes_s = vc.dirty_mb_s * 1e6;
    vm.peak_power_w = vc.peak_power_w;
    vm.downtime_budget_s = vc.downtime_budget_s;
    problem_.vms.push_back(vm);
    VmState state;
    state.config = &vc;
    state.home_site = static_cast<size_t>(SiteOfHost(vc.host));
    vms_.push_back(state);
  }
  GS_RETURN_IF_ERROR(problem_.Check().Context(config_.file));
  costs_ = std::make_unique<placement::MoveCosts>(problem_);
  return Status::Ok();
}

int Controller::SiteIndex(const std::string& name) const {
  for (size_t s = 0; s < config_.sites.size(); ++s) {
    if (config_.sites[s].name == name) return static_cast<int>(s);
  }
  return -1;
}

int Controller::VmIndex(const std::string& name) const {
  for (size_t v = 0; v < config_.vms.size(); ++v) {
    if (config_.vms[v].name == name) return static_cast<int>(v);
  }
  return -1;
}

int Controller::SiteOfHost(const std::string& host) const {
  const HostConfig* h = config_.FindHost(host);
  return h ? SiteIndex(h->site) : -1;
}

int64_t Controller::StaleMs() const {
  return std::max<int64_t>(300000, 3 * problem_.slot_s * 1000);
}

double Controller::CarbonAt(const SiteState& site, int64_t utc_s) const {
  return site.has_carbon ? site.carbon.At(utc_s) : site.config->carbon_g_per_kwh;
}

double Controller::LoadW(size_t site) const {
  double load = 0;
  for (const VmState& vm : vms_) {
    if (vm.site == static_cast<int>(site)) load += vm.config->power_w;
  }
  return load;
}

std::string Controller::DriverSiteOf(size_t site) const {
  for (const HostConfig& h : config_.hosts) {
    if (h.site == config_.sites[site].name) return h.DriverSite();
  }
  return "";
}

int Controller::SiteOfDriverSite(const std::string& driver_site) const {
  for (const HostConfig& h : config_.hosts) {
    if (h.DriverSite() == driver_site) return SiteIndex(h.site);
  }
  return -1;
}

hypervisor::VmSpec Controller::SpecFor(const VmConfig& vm) const {
  hypervisor::VmSpec spec;
  spec.name = vm.name;
  spec.memory_mib = static_cast<int>(vm.memory_mib);
  spec.dirty_mb_s = static_cast<int>(std::lround(vm.dirty_mb_s));
  spec.dirty_size_mib = spec.dirty_mb_s > 0 ? std::min(64, spec.memory_mib / 4) : 0;
  spec.ip_cidr = vm.address;
  spec.mac = lab::MacFor(config_.lab, vm.name);
  return spec;
}

Status Controller::RefreshVms() {
  Result<std::vector<hypervisor::VmInfo>> listed = driver_.ListVms();
  if (!listed.ok()) return listed.status();
  std::lock_guard<std::mutex> lock(mutex_);
  for (VmState& vm : vms_) {
    vm.site = -1;
    vm.state = hypervisor::VmState::kStopped;
    vm.driver_site.clear();
    for (const hypervisor::VmInfo& info : *listed) {
      if (info.spec.name != vm.config->name) continue;
      vm.driver_site = info.site;
      vm.site = SiteOfDriverSite(info.site);
      vm.state = info.state;
    }
  }
  return Status::Ok();
}

Status Controller::Reconcile() {
  const int64_t now = NowMs();
  // The sensors' newest readings from before the restart.
  for (const SiteConfig& site : config_.sites) {
    Result<std::vector<store::StoredReading>> recent =
        store_.Readings(site.name, now - StaleMs(), 10000);
    if (!recent.ok()) return recent.status();
    for (const store::StoredReading& r : *recent) {
      NoteReading(r.site, r.sensor, r.time_utc_ms, r.power_w);
    }
  }
  const auto timeout =
      std::chrono::milliseconds(static_cast<int64_t>(config_.migration_timeout_s * 1000));
  for (const VmState& vm : vms_) {
    const std::string& name = vm.config->name;
    Result<hypervisor::VmInfo> info = driver_.GetVm(name);
    if (!info.ok()) {
      const std::string where = DriverSiteOf(vm.home_site);
      GS_RETURN_IF_ERROR(driver_.StartVm(SpecFor(*vm.config), where)
                             .Context("starting VM '" + name + "' on host " + vm.config->host));
      store_.AddEvent(now, "vm", "started VM " + name + " on host " + vm.config->host).ok();
      continue;
    }
    if (info->state == hypervisor::VmState::kMigrating || info->copies.size() > 1) {
      Result<hypervisor::VmInfo> settled = driver_.Recover(name, timeout);
      if (!settled.ok()) return settled.status().Context("settling VM '" + name + "'");
      store_
          .AddEvent(now, "reconcile",
                    "VM " + name + " was left in a migration; it runs on " + settled->site)
          .ok();
    }
  }
  GS_RETURN_IF_ERROR(RefreshVms());

  // Moves the last run left: a running one ended however the driver settled it; a queued one
  // never started and is dropped (the next plan decides afresh).
  for (const char* state : {"running", "queued"}) {
    Result<std::vector<store::MoveRecord>> moves = store_.Moves(100000, state);
    if (!moves.ok()) return moves.status();
    for (store::MoveRecord move : *moves) {
      const bool was_running = move.state == "running";
      std::string found = "nowhere";
      for (const VmState& vm : vms_) {
        if (vm.config->name == move.vm && vm.site >= 0) found = config_.sites[vm.site].name;
      }
      if (!was_running) {
        move.state = "cancelled";
        move.result = json{{"note", "the service restarted before the move started"}}.dump();
      } else if (found == move.to_site) {
        move.state = "completed";
        move.result = json{
            {"note", "the service stopped during the migration; it completed (found on " + found +
                         " after the restart)"},
            {"reconciled",
             true}}.dump();
      } else {
        move.state = "interrupted";
        move.result = json{
            {"note",
             "the service stopped during the migration; the VM was found "
             "on " +
                 found + " after the restart"},
            {"reconciled",
             true}}.dump();
      }
      move.finished_utc_ms = now;
      GS_RETURN_IF_ERROR(store_.UpdateMove(move));
      store_
          .AddEvent(now, "reconcile",
                    "move " + std::to_string(move.id) + " of " + move.vm + " " + move.from_site +
                        " -> " + move.to_site + ": " + move.state)
          .ok();
      std::lock_guard<std::mutex> lock(mutex_);
      moves_by_result_[move.state]++;
    }
  }
  GS_RETURN_IF_ERROR(store_.SupersedePendingPlans());
  // When each VM last moved, for the dwell time.
  Result<std::vector<store::MoveRecord>> done = store_.Moves(100000, "completed");
  if (!done.ok()) return done.status();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const store::MoveRecord& move : *done) {
      for (VmState& vm : vms_) {
        if (vm.config->name == move.vm)
          vm.last_move_ms = std::max(vm.last_move_ms, move.finished_utc_ms);
      }
    }
  }
  // Settled: the executor may run moves now.
  if (!dispatcher_.joinable()) dispatcher_ = std::thread([this] { Dispatch(); });
  return Status::Ok();
}

void Controller::NoteReading(const std::string& site, const std::string& sensor,
                             int64_t time_utc_ms, double power_w) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& newest = latest_[{site, sensor}];
  if (time_utc_ms >= newest.first) newest = {time_utc_ms, power_w};
}

void Controller::StoreReading(const energy::Reading& reading, energy::SensorValidator* validator,
                              int64_t now_ms) {
  const int64_t received = clock_.wall()();
  energy::Verdict verdict;
  verdict.accepted = true;
  if (validator) verdict = validator->Check(reading, now_ms);
  if (verdict.accepted) {
    store::StoredReading stored{
        0, reading.site, reading.sensor, reading.time_utc_ms, reading.power_w, received};
    Status added = store_.AddReadings({stored});
    if (added.ok()) {
      readings_stored_++;
      NoteReading(reading.site, reading.sensor, reading.time_utc_ms, reading.power_w);
      return;
    }
    verdict.accepted = false;
    verdict.why = added.message();
  }
  readings_rejected_++;
  store::RejectedReading rejected{reading.site,
                                  reading.sensor,
                                  reading.time_utc_ms,
                                  reading.power_w,
                                  validator ? energy::RejectReasonName(verdict.reason) : "store",
                                  verdict.why,
                                  received};
  store_.AddRejected(rejected).ok();
}

void Controller::Observe(int64_t now_ms) {
  const double now_s = now_ms / 1000.0;
  for (ReplaySensor& r : replay_) {
    // The recorded power at this moment, linear between the recorded rows.
    auto it = std::upper_bound(r.time_s.begin(), r.time_s.end(), static_cast<int64_t>(now_s));
    if (it == r.time_s.begin() || r.time_s.empty()) continue;  // before the recording
    const size_t i = static_cast<size_t>(it - r.time_s.begin()) - 1;
    double power = r.power_w[i];
    if (i + 1 < r.time_s.size()) {
      const double f = (now_s - r.time_s[i]) / static_cast<double>(r.time_s[i + 1] - r.time_s[i]);
      power = r.power_w[i] + f * (r.power_w[i + 1] - r.power_w[i]);
    } else if (now_s - r.time_s[i] > 2 * problem_.slot_s) {
      continue;  // past the end of the recording: the sensor falls silent
    }
    StoreReading({config_.sites[r.site].name, r.config->name, now_ms, power}, &r.validator, now_ms);
  }
  for (ModbusSensor& m : modbus_) {
    energy::SunSpecOptions options;
    options.host = m.host;
    options.port = m.port;
    Result<energy::InverterPower> power = energy::ReadSunSpecPower(options);
    if (!power.ok()) {
      store_
          .AddEvent(now_ms, "sensor",
                    config_.sites[m.site].name + "/" + m.config->name + ": " + power.error())
          .ok();
      continue;
    }
    StoreReading({config_.sites[m.site].name, m.config->name, now_ms, power->power_w}, &m.validator,
                 now_ms);
  }
  for (MqttBroker& broker : mqtt_) {
    // What the subscriber rejected (validation, malformed payloads) is counted, and each
    // problem recorded as an event: never dropped silently.
    int64_t rejected = 0;
    for (const auto& [sensor, counts] : broker.subscriber->counts())
      rejected += counts.rejected + counts.malformed;
    if (rejected > broker.rejected_seen) {
      const std::vector<std::string> problems = broker.subscriber->recent_problems();
      const size_t fresh = static_cast<size_t>(std::min<int64_t>(
          rejected - broker.rejected_seen, static_cast<int64_t>(problems.size())));
      for (size_t i = problems.size() - fresh; i < problems.size(); ++i)
        store_.AddEvent(now_ms, "rejected", "mqtt " + broker.host + ": " + problems[i]).ok();
      readings_rejected_ += rejected - broker.rejected_seen;
      broker.rejected_seen = rejected;
    }
    for (const energy::Reading& reading : broker.subscriber->TakeAccepted()) {
      const SiteConfig* site = config_.FindSite(reading.site);
      bool known = false;
      if (site) {
        for (const SensorConfig& s : site->sensors) known |= s.name == reading.sensor;
      }
      if (!known) {
        readings_rejected_++;
        store_
            .AddRejected(
                {reading.site, reading.sensor, reading.time_utc_ms, reading.power_w,
                 "unknown-sensor",
                 "no sensor '" + reading.sensor + "' at site '" + reading.site + "' in the config",
                 clock_.wall()()})
            .ok();
        continue;
      }
      StoreReading(reading, nullptr, now_ms);  // the subscriber validated it
    }
  }
  // Each site's green power now: the sum of its sensors' newest fresh readings.
  const int64_t stale_ms = StaleMs();
  for (SiteState& site : sites_) {
    std::lock_guard<std::mutex> lock(mutex_);
    double sum = 0;
    std::set<std::string> seen;
    for (const SensorConfig& sensor : site.config->sensors) {
      auto it = latest_.find({site.config->name, sensor.name});
      if (it == latest_.end()) continue;
      const int64_t t = it->second.first;
      if (t < now_ms - stale_ms || t > now_ms + 60000) continue;
      sum += it->second.second;
      seen.insert(sensor.name);
    }
    site.measured_w = seen.empty() ? NAN : sum;
    const int64_t slot_start_s = now_ms / 1000 / problem_.slot_s * problem_.slot_s;
    if (!seen.empty() &&
        (site.history.time_utc_s.empty() || site.history.time_utc_s.back() < slot_start_s)) {
      site.history.time_utc_s.push_back(slot_start_s);
      site.history.power_w.push_back(sum);
      const size_t keep = static_cast<size_t>(std::max<int64_t>(8, 6 * 3600 / problem_.slot_s));
      if (site.history.time_utc_s.size() > keep) {
        site.history.time_utc_s.erase(site.history.time_utc_s.begin());
        site.history.power_w.erase(site.history.power_w.begin());
      }
    }
  }
}

void Controller::Predict(int64_t now_ms) {
  const size_t horizon = std::max<size_t>(1, policy_->HorizonSlots());
  const int64_t slot_ms = problem_.slot_s * 1000;
  const int64_t start_ms = (now_ms / slot_ms + 1) * slot_ms;  // the slot about to start
  for (SiteState& site : sites_) {
    std::vector<double> forecast;
    double measured;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      measured = site.measured_w;
    }
    if (site.has_model) {
      energy::ForecastOptions options;
      options.step_s = problem_.slot_s;
      options.slots = horizon;
      options.correction_window_s = std::max<int64_t>(3 * 3600, 3 * problem_.slot_s);
      options.correction_decay_s = std::max<double>(4 * 3600, 4.0 * problem_.slot_s);
      energy::PowerSeries recent;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        recent = site.history;
      }
      Result<energy::SiteForecast> f =
          energy::ForecastSite(site.model, site.weather, recent, start_ms / 1000, options);
      if (f.ok()) {
        forecast = f->green_w;
      } else {
        std::lock_guard<std::mutex> lock(mutex_);
        last_error_ = "forecast of site " + site.config->name + ": " + f.error();
      }
    }
    if (forecast.empty()) {
      // No weather model (or it does not cover the time): what the sensors measure now stays.
      forecast.assign(horizon, std::isnan(measured) ? 0.0 : measured);
    }
    std::vector<store::ForecastPoint> points;
    for (size_t k = 0; k < forecast.size(); ++k) {
      if (std::isnan(forecast[k])) forecast[k] = 0;
      points.push_back({start_ms + static_cast<int64_t>(k) * slot_ms, forecast[k]});
    }
    store_.AddForecast(site.config->name, now_ms, points).ok();
    std::lock_guard<std::mutex> lock(mutex_);
    site.forecast_w = std::move(forecast);
    site.carbon_now = CarbonAt(site, now_ms / 1000);
  }
}

void Controller::Account(int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (last_tick_ms_ == 0 || now_ms <= last_tick_ms_) return;
  // A gap (the service was down) counts as one period at most.
  const double hours =
      std::min<double>(now_ms - last_tick_ms_, 2 * problem_.slot_s * 1000.0) / 3.6e6;
  for (size_t s = 0; s < sites_.size(); ++s) {
    const double load = LoadW(s);
    double static_load = 0;
    for (const VmState& vm : vms_) {
      if (vm.home_site == s) static_load += vm.config->power_w;
    }
    const double green = std::isnan(sites_[s].measured_w) ? 0 : sites_[s].measured_w;
    const double carbon = sites_[s].carbon_now;
    load_wh_ += load * hours;
    green_used_wh_ += std::min(load, green) * hours;
    co2_kg_ += placement::KgCo2(std::max(0.0, load - green) * hours, carbon);
    static_green_used_wh_ += std::min(static_load, green) * hours;
    static_co2_kg_ += placement::KgCo2(std::max(0.0, static_load - green) * hours, carbon);
  }
}

Status Controller::Tick() {
  const SteadyTime started = SteadyNow();
  const int64_t now = NowMs();
  Status refreshed = RefreshVms();
  Observe(now);
  Predict(now);
  Account(now);
  Status acted = refreshed.ok() ? PlanAndAct(now) : refreshed;
  std::lock_guard<std::mutex> lock(mutex_);
  last_tick_ms_ = now;
  ticks_++;
  last_tick_duration_s_ = MillisBetween(started, SteadyNow()) / 1000;
  if (!acted.ok()) last_error_ = acted.message();
  return acted;
}

Status Controller::PlanAndAct(int64_t now_ms) {
  const int64_t slot_ms = problem_.slot_s * 1000;
  placement::Outlook outlook;
  outlook.now_slot = now_ms / slot_ms;
  const bool sensors_only = policy_->SeesOnlySensors();
  outlook.slots = sensors_only ? 1 : std::max<size_t>(1, policy_->HorizonSlots());
  const size_t S = sites_.size(), V = vms_.size(), H = outlook.slots;
  std::lock_guard<std::mutex> lock(mutex_);
  outlook.green_w.resize(S * H);
  outlook.carbon_g_per_kwh.resize(S * H);
  for (size_t s = 0; s < S; ++s) {
    const SiteState& site = sites_[s];
    for (size_t k = 0; k < H; ++k) {
      const double measured = std::isnan(site.measured_w) ? 0 : site.measured_w;
      outlook.green_w[s * H + k] =
          sensors_only ? measured : (k < site.forecast_w.size() ? site.forecast_w[k] : 0);
      const int64_t at_s = (now_ms / slot_ms + 1 + static_cast<int64_t>(k)) * problem_.slot_s;
      outlook.carbon_g_per_kwh[s * H + k] = CarbonAt(site, at_s);
    }
  }
  outlook.vm_power_w.resize(V * H);
  for (size_t v = 0; v < V; ++v) {
    const VmState& vm = vms_[v];
    for (size_t k = 0; k < H; ++k) outlook.vm_power_w[v * H + k] = vm.config->power_w;
    outlook.site_of_vm.push_back(vm.site >= 0 ? vm.site : static_cast<int>(vm.home_site));
    // A VM busy moving, or not running, is held where it is through the dwell rule.
    const bool held = vm.busy || vm.site < 0 || vm.state != hypervisor::VmState::kRunning;
    outlook.last_move_slot.push_back(held ? outlook.now_slot
                                     : vm.last_move_ms > 0
                                         ? vm.last_move_ms / slot_ms
                                         : std::numeric_limits<int64_t>::min() / 4);
  }
  placement::Plan plan = policy_->Decide(problem_, *costs_, outlook);
  std::vector<placement::Move> moves;
  for (const placement::Move& m : plan.moves) {
    const VmState& vm = vms_[m.vm];
    if (m.slot != outlook.now_slot || vm.busy || vm.site != static_cast<int>(m.from)) continue;
    moves.push_back(m);
  }
  json body = {{"slot_start", TimeText(outlook.now_slot * slot_ms)},
               {"policy", policy_->Name()},
               {"moves", json::array()}};
  for (const placement::Move& m : moves) {
    body["moves"].push_back({{"vm", problem_.vms[m.vm].name},
                             {"from", problem_.sites[m.from].name},
                             {"to", problem_.sites[m.to].name},
                             {"reason", m.reason},
                             {"predicted_downtime_s", m.predicted.downtime_s},
                             {"predicted_total_s", m.predicted.total_s},
                             {"predicted_bytes", m.predicted.bytes},
                             {"predicted_energy_j", m.predicted.energy_j},
                             {"predicted_saving_kg", m.predicted_saving_kg}});
  }
  current_plan_ = body;
  current_plan_["made"] = TimeText(now_ms);
  if (moves.empty()) return Status::Ok();

  const char* status = config_.mode == Mode::kAuto      ? "executed"
                       : config_.mode == Mode::kApprove ? "pending"
                                                        : "recorded";
  if (config_.mode == Mode::kApprove) {
    // A newer plan replaces one still waiting: only the latest can be approved.
    GS_RETURN_IF_ERROR(store_.SupersedePendingPlans());
  }
  Result<int64_t> id =
      store_.AddPlan({0, now_ms, policy_->Name(), ModeName(config_.mode), status, body.dump()});
  if (!id.ok()) return id.status();
  current_plan_["id"] = *id;
  current_plan_["status"] = status;
  if (config_.mode == Mode::kAuto) QueueLocked(*id, moves, now_ms);
  return Status::Ok();
}

void Controller::QueueLocked(int64_t plan_id, const std::vector<placement::Move>& moves,
                             int64_t now_ms) {
  for (const placement::Move& m : moves) {
    QueuedMove q;
    q.vm = m.vm;
    q.from = m.from;
    q.to = m.to;
    q.record.plan_id = plan_id;
    q.record.vm = problem_.vms[m.vm].name;
    q.record.from_site = problem_.sites[m.from].name;
    q.record.to_site = problem_.sites[m.to].name;
    q.record.reason = m.reason;
    q.record.state = "queued";
    q.record.requested_utc_ms = now_ms;
    Result<int64_t> id = store_.AddMove(q.record);
    if (!id.ok()) {
      last_error_ = id.error();
      continue;
    }
    q.record.id = *id;
    vms_[m.vm].busy = true;
    queue_.push_back(std::move(q));
  }
  changed_.notify_all();
}

void Controller::Start() {
  if (loop_.joinable()) return;
  loop_ = std::thread([this] {
    const auto period = std::chrono::duration<double>(config_.period_s / clock_.speed());
    while (!stopping_) {
      const auto next = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(period);
      Status ticked = Tick();
      if (!ticked.ok()) {
        std::fprintf(stderr, "greenshift serve: loop: %s\n", ticked.message().c_str());
        store_.AddEvent(NowMs(), "error", ticked.message()).ok();
      }
      std::unique_lock<std::mutex> lock(mutex_);
      loop_wake_.wait_until(lock, next, [this] { return stopping_.load(); });
    }
  });
}

void Controller::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;  // also cancels a running migration (MigrationOptions::cancel_requested)
    loop_wake_.notify_all();
    changed_.notify_all();
  }
  if (loop_.joinable()) loop_.join();
  if (dispatcher_.joinable()) dispatcher_.join();
  for (Migration& m : migrations_) {
    if (m.thread.joinable()) m.thread.join();
  }
  migrations_.clear();
  const int64_t now = NowMs();
  std::lock_guard<std::mutex> lock(mutex_);
  for (QueuedMove& q : queue_) {
    q.record.state = "cancelled";
    q.record.finished_utc_ms = now;
    q.record.result = json{{"note", "the service stopped before the move started"}}.dump();
    store_.UpdateMove(q.record).ok();
    vms_[q.vm].busy = false;
  }
  queue_.clear();
}

bool Controller::WaitForMoves(int64_t timeout_ms) {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                           [this] { return queue_.empty() && running_ == 0; });
}

void Controller::Dispatch() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    for (auto it = migrations_.begin(); it != migrations_.end();) {
      if (it->done->load()) {
        it->thread.join();
        it = migrations_.erase(it);
      } else {
        ++it;
      }
    }
    bool started = false;
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
      const auto link = std::minmax(it->from, it->to);
      if (running_per_link_[link] >= config_.migrations_per_link) continue;
      QueuedMove move = std::move(*it);
      queue_.erase(it);
      running_per_link_[link]++;
      running_++;
      auto done = std::make_shared<std::atomic<bool>>(false);
      migrations_.push_back({std::thread([this, move, done]() mutable {
                               RunMove(std::move(move));
                               done->store(true);
                             }),
                             done});
      started = true;
      break;
    }
    if (!started) changed_.wait(lock);
  }
}

void Controller::RunMove(QueuedMove move) {
  store::MoveRecord& record = move.record;
  const std::string to_driver_site = DriverSiteOf(move.to);
  std::string skip;
  {
    Result<hypervisor::VmInfo> info = driver_.GetVm(record.vm);
    if (!info.ok()) {
      skip = info.error();
    } else if (SiteOfDriverSite(info->site) != static_cast<int>(move.from)) {
      skip = "VM " + record.vm + " is no longer on " + record.from_site;
    } else if (info->state != hypervisor::VmState::kRunning) {
      skip = std::string("VM ") + record.vm + " is " + hypervisor::VmStateName(info->state);
    }
  }
  hypervisor::MigrationResult result;
  if (skip.empty()) {
    record.state = "running";
    record.started_utc_ms = NowMs();
    store_.UpdateMove(record).ok();
    store_
        .AddEvent(record.started_utc_ms, "move",
                  "moving " + record.vm + " " + record.from_site + " -> " + record.to_site + ": " +
                      record.reason)
        .ok();
    hypervisor::MigrationOptions options;
    options.mode = hypervisor::MigrationMode::kLive;
    options.timeout =
        std::chrono::milliseconds(static_cast<int64_t>(config_.migration_timeout_s * 1000));
    options.cancel_requested = &stopping_;
    result = driver_.Migrate(record.vm, to_driver_site, options, nullptr);
    record.finished_utc_ms = NowMs();
    if (result.completed) {
      record.state = "completed";
      record.downtime_ms = result.paused_ms >= 0 ? result.paused_ms : result.downtime_ms;
    } else {
      record.state = "failed";
    }
    json r = hypervisor::ToJson(result);
    const int running_on = SiteOfDriverSite(result.running_on);
    r["running_on_site"] = running_on >= 0 ? config_.sites[running_on].name : "";
    record.result = r.dump();
  } else {
    record.state = "cancelled";
    record.finished_utc_ms = NowMs();
    record.result = json{{"note", skip}}.dump();
  }
  store_.UpdateMove(record).ok();
  store_
      .AddEvent(record.finished_utc_ms, "move",
                "move " + std::to_string(record.id) + " of " + record.vm + " " + record.from_site +
                    " -> " + record.to_site + ": " + record.state +
                    (result.error.empty() ? "" : " (" + result.error + ")"))
      .ok();
  std::lock_guard<std::mutex> lock(mutex_);
  VmState& vm = vms_[move.vm];
  vm.busy = false;
  if (record.state == "completed") {
    vm.site = static_cast<int>(move.to);
    vm.driver_site = to_driver_site;
    vm.last_move_ms = record.finished_utc_ms;
    last_downtime_ms_ = record.downtime_ms;
    if (record.downtime_ms > 0) total_downtime_ms_ += record.downtime_ms;
  }
  moves_by_result_[record.state]++;
  running_--;
  running_per_link_[std::minmax(move.from, move.to)]--;
  changed_.notify_all();
}

json Controller::MoveJson(const store::MoveRecord& m) const {
  json j = {{"id", m.id},
            {"plan", m.plan_id > 0 ? json(m.plan_id) : json(nullptr)},
            {"vm", m.vm},
            {"from", m.from_site},
            {"to", m.to_site},
            {"reason", m.reason},
            {"state", m.state},
            {"requested", TimeText(m.requested_utc_ms)},
            {"started", m.started_utc_ms > 0 ? json(TimeText(m.started_utc_ms)) : json(nullptr)},
            {"finished", m.finished_utc_ms > 0 ? json(TimeText(m.finished_utc_ms)) : json(nullptr)},
            {"downtime_ms", m.downtime_ms >= 0 ? json(m.downtime_ms) : json(nullptr)}};
  json result = json::parse(m.result.empty() ? "null" : m.result, nullptr, false);
  j["result"] = result.is_discarded() ? json(m.result) : result;
  return j;
}

json Controller::PlanJson(const store::PlanRecord& p) const {
  json body = json::parse(p.body, nullptr, false);
  return {{"id", p.id},
          {"made", TimeText(p.created_utc_ms)},
          {"policy", p.policy},
          {"mode", p.mode},
          {"status", p.status},
          {"moves", body.is_discarded() ? json::array() : body.value("moves", json::array())}};
}

json Controller::StatusJson() {
  std::lock_guard<std::mutex> lock(mutex_);
  auto share = [](double used, double total) { return total > 0 ? used / total : 0.0; };
  return {{"now", TimeText(NowMs())},
          {"replay", config_.replay_start_utc_s != 0},
          {"speed", clock_.speed()},
          {"mode", ModeName(config_.mode)},
          {"policy", policy_->Name()},
          {"period_s", config_.period_s},
          {"ticks", ticks_},
          {"last_tick", last_tick_ms_ > 0 ? json(TimeText(last_tick_ms_)) : json(nullptr)},
          {"last_tick_duration_s", last_tick_duration_s_},
          {"last_error", last_error_},
          {"moves_queued", queue_.size()},
          {"moves_running", running_},
          {"moves_by_result", moves_by_result_},
          {"load_kwh", load_wh_ / 1000},
          {"green_share", share(green_used_wh_, load_wh_)},
          {"static_green_share", share(static_green_used_wh_, load_wh_)},
          {"co2_kg", co2_kg_},
          {"static_co2_kg", static_co2_kg_},
          {"total_downtime_ms", total_downtime_ms_},
          {"current_plan", current_plan_}};
}

json Controller::SitesJson() {
  std::lock_guard<std::mutex> lock(mutex_);
  json out = json::array();
  for (size_t s = 0; s < sites_.size(); ++s) {
    const SiteState& site = sites_[s];
    json vms = json::array();
    for (const VmState& vm : vms_) {
      if (vm.site == static_cast<int>(s)) vms.push_back(vm.config->name);
    }
    out.push_back(
        {{"name", site.config->name},
         {"green_w", std::isnan(site.measured_w) ? json(nullptr) : json(site.measured_w)},
         {"forecast_next_w", site.forecast_w.empty() ? json(nullptr) : json(site.forecast_w[0])},
         {"carbon_g_per_kwh", site.carbon_now},
         {"load_w", LoadW(s)},
         {"vms", vms}});
  }
  return out;
}

json Controller::VmsJson() {
  std::lock_guard<std::mutex> lock(mutex_);
  json out = json::array();
  for (const VmState& vm : vms_) {
    out.push_back(
        {{"name", vm.config->name},
         {"site", vm.site >= 0 ? json(config_.sites[vm.site].name) : json(nullptr)},
         {"home_site", config_.sites[vm.home_site].name},
         {"driver_site", vm.driver_site},
         {"state", hypervisor::VmStateName(vm.state)},
         {"moving", vm.busy},
         {"memory_mib", vm.config->memory_mib},
         {"power_w", vm.config->power_w},
         {"address", vm.config->address},
         {"downtime_budget_ms", vm.config->downtime_budget_s * 1000},
         {"last_move", vm.last_move_ms > 0 ? json(TimeText(vm.last_move_ms)) : json(nullptr)}});
  }
  return out;
}

Reply Controller::Plans(size_t limit) {
  Result<std::vector<store::PlanRecord>> plans = store_.Plans(limit);
  if (!plans.ok()) return {500, {{"error", plans.error()}}};
  json out = json::array();
  for (const store::PlanRecord& p : *plans) out.push_back(PlanJson(p));
  std::lock_guard<std::mutex> lock(mutex_);
  return {200, {{"current", current_plan_}, {"plans", out}}};
}

Reply Controller::Plan(int64_t id) {
  Result<store::PlanRecord> plan = store_.GetPlan(id);
  if (!plan.ok()) return {404, {{"error", plan.error()}}};
  return {200, PlanJson(*plan)};
}

Reply Controller::Approve(int64_t id) {
  Result<store::PlanRecord> plan = store_.GetPlan(id);
  if (!plan.ok()) return {404, {{"error", plan.error()}}};
  if (plan->status != "pending")
    return {409,
            {{"error", "plan " + std::to_string(id) + " is " + plan->status +
                           ", not pending: only a pending plan can be approved"}}};
  const json body = json::parse(plan->body, nullptr, false);
  std::vector<placement::Move> moves;
  std::lock_guard<std::mutex> lock(mutex_);
  for (const json& m : body.value("moves", json::array())) {
    const int v = VmIndex(m.value("vm", "")), from = SiteIndex(m.value("from", "")),
              to = SiteIndex(m.value("to", ""));
    if (v < 0 || from < 0 || to < 0 || vms_[v].busy) continue;
    placement::Move move;
    move.vm = static_cast<size_t>(v);
    move.from = static_cast<size_t>(from);
    move.to = static_cast<size_t>(to);
    move.reason = m.value("reason", "") + " (approved)";
    moves.push_back(move);
  }
  Status set = store_.SetPlanStatus(id, "approved");
  if (!set.ok()) return {500, {{"error", set.message()}}};
  QueueLocked(id, moves, NowMs());
  store_.AddEvent(NowMs(), "plan", "plan " + std::to_string(id) + " approved").ok();
  return {200, {{"plan", id}, {"status", "approved"}, {"moves_queued", moves.size()}}};
}

Reply Controller::Reject(int64_t id) {
  Result<store::PlanRecord> plan = store_.GetPlan(id);
  if (!plan.ok()) return {404, {{"error", plan.error()}}};
  if (plan->status != "pending")
    return {409,
            {{"error", "plan " + std::to_string(id) + " is " + plan->status +
                           ", not pending: only a pending plan can be rejected"}}};
  Status set = store_.SetPlanStatus(id, "rejected");
  if (!set.ok()) return {500, {{"error", set.message()}}};
  store_.AddEvent(NowMs(), "plan", "plan " + std::to_string(id) + " rejected").ok();
  return {200, {{"plan", id}, {"status", "rejected"}}};
}

Reply Controller::Moves(size_t limit) {
  Result<std::vector<store::MoveRecord>> moves = store_.Moves(limit);
  if (!moves.ok()) return {500, {{"error", moves.error()}}};
  json out = json::array();
  for (const store::MoveRecord& m : *moves) out.push_back(MoveJson(m));
  return {200, out};
}

Reply Controller::RequestMove(const std::string& vm_name, const std::string& site_name) {
  std::lock_guard<std::mutex> lock(mutex_);
  const int v = VmIndex(vm_name), s = SiteIndex(site_name);
  if (v < 0) return {404, {{"error", "no VM is named '" + vm_name + "'"}}};
  if (s < 0) return {404, {{"error", "no site is named '" + site_name + "'"}}};
  if (config_.mode == Mode::kDryRun)
    return {409, {{"error", "the service runs in dry-run mode: it moves nothing"}}};
  VmState& vm = vms_[v];
  if (vm.busy) return {409, {{"error", "VM '" + vm_name + "' is already moving"}}};
  if (vm.site < 0 || vm.state != hypervisor::VmState::kRunning)
    return {409, {{"error", "VM '" + vm_name + "' is not running"}}};
  if (vm.site == s) return {409, {{"error", "VM '" + vm_name + "' already runs on " + site_name}}};
  double used = 0;
  for (const VmState& other : vms_) {
    if (other.site == s) used += other.config->peak_power_w;
  }
  if (used + vm.config->peak_power_w > sites_[s].config->capacity_w)
    return {409,
            {{"error", "site " + site_name + " has no room for VM '" + vm_name + "' (" +
                           std::to_string(static_cast<int>(used)) + " of " +
                           std::to_string(static_cast<int>(sites_[s].config->capacity_w)) +
                           " W taken)"}}};
  const placement::MoveCost& cost =
      costs_->At(static_cast<size_t>(v), static_cast<size_t>(vm.site), static_cast<size_t>(s));
  if (!cost.feasible)
    return {422,
            {{"error", "moving VM '" + vm_name + "' to " + site_name +
                           " is not possible: " + cost.why_not}}};
  placement::Move move;
  move.vm = static_cast<size_t>(v);
  move.from = static_cast<size_t>(vm.site);
  move.to = static_cast<size_t>(s);
  move.reason = "requested through the API";
  move.predicted = cost;
  const size_t before = queue_.size();
  QueueLocked(0, {move}, NowMs());
  if (queue_.size() == before) return {500, {{"error", last_error_}}};
  return {202, MoveJson(queue_.back().record)};
}

Reply Controller::Forecasts() {
  json out = json::array();
  for (const SiteConfig& site : config_.sites) {
    Result<std::pair<int64_t, std::vector<store::ForecastPoint>>> f =
        store_.LatestForecast(site.name);
    if (!f.ok()) return {500, {{"error", f.error()}}};
    json points = json::array();
    for (const store::ForecastPoint& p : f->second)
      points.push_back({{"time", TimeText(p.slot_utc_ms)}, {"power_w", p.power_w}});
    out.push_back({{"site", site.name},
                   {"issued", f->first > 0 ? json(TimeText(f->first)) : json(nullptr)},
                   {"slots", points}});
  }
  return {200, out};
}

std::string Controller::Metrics() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  auto gauge = [&out](const char* name, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n";
  };
  auto number = [](double v) {
    char text[64];
    std::snprintf(text, sizeof text, "%.6g", v);
    return std::string(text);
  };
  gauge("greenshift_site_green_power_watts",
        "Green power measured now per site (sum of its sensors' fresh readings).");
  for (const SiteState& site : sites_) {
    if (std::isnan(site.measured_w)) continue;
    out += "greenshift_site_green_power_watts{site=\"" + MetricLabel(site.config->name) + "\"} " +
           number(site.measured_w) + "\n";
  }
  gauge("greenshift_green_power_forecast_watts",
        "Green power forecast per site for the slot about to start.");
  for (const SiteState& site : sites_) {
    if (site.forecast_w.empty()) continue;
    out += "greenshift_green_power_forecast_watts{site=\"" + MetricLabel(site.config->name) +
           "\"} " + number(site.forecast_w[0]) + "\n";
  }
  gauge("greenshift_site_load_watts", "Power drawn by the VMs running at each site.");
  for (size_t s = 0; s < sites_.size(); ++s) {
    out += "greenshift_site_load_watts{site=\"" + MetricLabel(sites_[s].config->name) + "\"} " +
           number(LoadW(s)) + "\n";
  }
  out +=
      "# HELP greenshift_migrations_total Moves by how they ended.\n"
      "# TYPE greenshift_migrations_total counter\n";
  for (const char* result : {"completed", "failed", "interrupted", "cancelled"}) {
    auto it = moves_by_result_.find(result);
    out += std::string("greenshift_migrations_total{result=\"") + result + "\"} " +
           std::to_string(it == moves_by_result_.end() ? 0 : it->second) + "\n";
  }
  gauge("greenshift_last_migration_downtime_seconds",
        "Measured downtime of the last completed migration.");
  if (last_downtime_ms_ >= 0) {
    out += "greenshift_last_migration_downtime_seconds " + number(last_downtime_ms_ / 1000) + "\n";
  }
  gauge("greenshift_moves_in_progress", "Moves queued or running.");
  out += "greenshift_moves_in_progress " + std::to_string(queue_.size() + running_) + "\n";
  gauge("greenshift_loop_duration_seconds", "How long the last loop (observe to act) took.");
  out += "greenshift_loop_duration_seconds " + number(last_tick_duration_s_) + "\n";
  out +=
      "# HELP greenshift_loop_ticks_total Loops run.\n"
      "# TYPE greenshift_loop_ticks_total counter\n";
  out += "greenshift_loop_ticks_total " + std::to_string(ticks_) + "\n";
  out +=
      "# HELP greenshift_loop_readings_total Readings the loop took from replayed, Modbus and "
      "MQTT sensors, by outcome.\n# TYPE greenshift_loop_readings_total counter\n";
  out += "greenshift_loop_readings_total{outcome=\"stored\"} " + std::to_string(readings_stored_) +
         "\ngreenshift_loop_readings_total{outcome=\"rejected\"} " +
         std::to_string(readings_rejected_) + "\n";
  gauge("greenshift_green_share", "Share of the VMs' energy that was green, since start.");
  const double share = load_wh_ > 0 ? green_used_wh_ / load_wh_ : 0;
  const double static_share = load_wh_ > 0 ? static_green_used_wh_ / load_wh_ : 0;
  out += "greenshift_green_share{placement=\"greenshift\"} " + number(share) + "\n";
  out += "greenshift_green_share{placement=\"static\"} " + number(static_share) + "\n";
  return out;
}

}  // namespace greenshift::control
