#include "control/service.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "control/sources.h"
#include "core/files.h"
#include "core/log.h"
#include "energy/carbon.h"
#include "energy/csv.h"
#include "energy/mqtt.h"
#include "energy/weather.h"
#include "energy/wind.h"

namespace greenshift::control {

namespace {

// What the configured VMs draw: their configured power, every period.
class ConfiguredLoad : public LoadSource {
 public:
  explicit ConfiguredLoad(std::vector<double> power_w) : power_w_(std::move(power_w)) {}
  void Read(int64_t, std::vector<double>* vm_power_w) override { *vm_power_w = power_w_; }

 private:
  std::vector<double> power_w_;
};

int SiteIndexOf(const ServiceConfig& config, const std::string& name) {
  for (size_t s = 0; s < config.sites.size(); ++s) {
    if (config.sites[s].name == name) return static_cast<int>(s);
  }
  return -1;
}

// The replay clock's epoch: kept in the store, so that a restart continues the same day.
Result<int64_t> ReplayEpoch(const ServiceConfig& config, store::Store& store, int64_t now) {
  if (config.replay_start_utc_s == 0) return now;
  const std::string key = "replay_epoch:" + std::to_string(config.replay_start_utc_s) + "@" +
                          std::to_string(config.replay_speed);
  Result<std::optional<std::string>> kept = store.Setting(key);
  if (!kept.ok()) return kept.status();
  if (kept->has_value()) {
    const std::string& text = **kept;
    char* end = nullptr;
    errno = 0;
    const long long epoch = std::strtoll(text.c_str(), &end, 10);
    if (errno == 0 && end != text.c_str() && *end == '\0' && epoch > 0) return epoch;
    Log(LogLevel::kWarning, "setting.corrupt",
        {{"key", key}, {"value", text.substr(0, 64)}, {"action", "the replay starts again now"}});
  }
  GS_RETURN_IF_ERROR(store.SetSetting(key, std::to_string(now)));
  return now;
}

}  // namespace

placement::Problem ProblemOf(const ServiceConfig& config) {
  placement::Problem problem;
  problem.slot_s = std::max<int64_t>(1, std::llround(config.period_s));
  problem.energy_per_byte_j = config.energy_per_byte_j;
  for (const SiteConfig& site : config.sites)
    problem.sites.push_back({site.name, site.capacity_w, site.storage_rtt_ms / 1000});
  problem.stream_window_bytes = config.stream_window_mib * (1 << 20);
  // Priced as the executor runs them (BuildService's executor options).
  problem.downtime_target_s = config.downtime_limit_ms / 1000.0;
  problem.auto_converge = config.auto_converge;
  const size_t sites = config.sites.size();
  problem.links.assign(sites * sites, placement::Link{config.link_mbit * 1e6 / 8});
  for (size_t a = 0; a < sites; ++a) {
    for (size_t b = 0; b < sites; ++b) {
      if (const LinkConfig* link = config.FindLink(config.sites[a].name, config.sites[b].name))
        problem.links[a * sites + b] = placement::Link{link->mbit * 1e6 / 8, link->rtt_ms / 1000};
    }
  }
  for (const VmConfig& vc : config.vms) {
    placement::Vm vm;
    vm.name = vc.name;
    vm.memory_bytes = vc.memory_mib << 20;
    vm.dirty_rate_bytes_s = vc.dirty_mb_s * 1e6;
    vm.working_set_bytes = vc.working_set_mib > 0 ? vc.working_set_mib << 20 : -1;
    vm.peak_power_w = vc.peak_power_w;
    vm.downtime_budget_s = vc.downtime_budget_s;
    vm.disk_shared = vc.storage != "copy";
    vm.disk_bytes = vm.disk_shared ? 0 : static_cast<int64_t>(vc.disk_used_gib * 1024 * 1048576);
    vm.disk_write_rate_bytes_s = vc.disk_write_mb_s * 1e6;
    vm.postcopy_allowed = vc.postcopy;
    problem.vms.push_back(vm);
  }
  return problem;
}

Result<std::shared_ptr<const SiteInputs>> LoadSiteInputs(const SiteConfig& sc,
                                                         const std::string& config_file,
                                                         int64_t slot_s) {
  const std::string where = config_file + ": site '" + sc.name + "'";
  auto in = std::make_shared<SiteInputs>();
  in->forecast = sc.forecast;
  in->carbon_forecast = sc.carbon_forecast;
  in->carbon_constant = sc.carbon_g_per_kwh;
  in->has_sensors = !sc.sensors.empty();
  in->model.name = sc.name;
  if (sc.HasWeather()) {
    if (sc.pv_kwp > 0) {
      energy::PvSystem pv;
      pv.latitude_deg = sc.latitude;
      pv.longitude_deg = sc.longitude;
      pv.tilt_deg = sc.pv_tilt_deg;
      pv.azimuth_deg = sc.pv_azimuth_deg;
      pv.capacity_w = pv.inverter_limit_w = sc.pv_kwp * 1000;
      in->model.pv.push_back(pv);
    }
    if (!sc.wind_turbine.empty()) {
      Result<std::string> text = ReadFile(sc.wind_curves);
      if (!text.ok()) return text.status().Context(where);
      Result<std::vector<energy::PowerCurve>> curves =
          energy::ParsePowerCurves(*text, sc.wind_curves);
      if (!curves.ok()) return curves.status().Context(where);
      Result<energy::PowerCurve> curve = energy::FindPowerCurve(*curves, sc.wind_turbine);
      if (!curve.ok()) return curve.status().Context(where);
      in->model.wind.push_back({*curve, sc.wind_hub_height_m, 0.1, sc.wind_count});
    }
    in->has_model = true;
  }
  if (!sc.weather.empty()) {
    Result<energy::WeatherSeries> weather =
        energy::ReadWeatherFile(sc.weather, 0, sc.latitude, sc.longitude);
    if (!weather.ok()) return weather.status().Context(where);
    SetWeather(*in, std::move(*weather), sc.weather, slot_s);
  } else if (sc.weather_feed.given()) {
    in->weather_file = "the weather feed (nothing fetched yet)";
  }
  if (!sc.carbon.empty()) {
    Result<std::string> text = ReadFile(sc.carbon);
    if (!text.ok()) return text.status().Context(where);
    Result<energy::CarbonSeries> carbon = energy::ParseCarbonFile(*text, sc.carbon);
    if (!carbon.ok()) return carbon.status().Context(where);
    in->carbon = std::move(*carbon);
    in->carbon_file = sc.carbon;
    in->has_carbon = true;
  }
  return std::shared_ptr<const SiteInputs>(std::move(in));
}

Status ReloadInputs(const ServiceConfig& config, Inputs& inputs, FeedRunner* feeds) {
  const int64_t slot_s = std::max<int64_t>(1, std::llround(config.period_s));
  std::vector<std::shared_ptr<const SiteInputs>> loaded;
  for (const SiteConfig& site : config.sites) {
    Result<std::shared_ptr<const SiteInputs>> in = LoadSiteInputs(site, config.file, slot_s);
    if (!in.ok()) return in.status();
    loaded.push_back(std::move(*in));
  }
  if (feeds != nullptr && !feeds->empty()) {
    feeds->Rebase(std::move(loaded));
    return Status::Ok();
  }
  for (size_t s = 0; s < loaded.size(); ++s) inputs.Replace(s, std::move(loaded[s]));
  return Status::Ok();
}

Result<Service> BuildService(const ServiceConfig& config, store::Store& store,
                             hypervisor::Driver& driver, ServiceClock::WallClock wall,
                             HttpGetFn http) {
  int64_t epoch = 0;
  GS_ASSIGN(epoch, ReplayEpoch(config, store, wall()));
  ServiceClock clock(wall, epoch, config.replay_start_utc_s * 1000, config.replay_speed);

  EngineSetup setup;
  setup.problem = ProblemOf(config);
  GS_RETURN_IF_ERROR(setup.problem.Check().Context(config.file));
  const int64_t slot_s = setup.problem.slot_s;

  std::vector<std::shared_ptr<const SiteInputs>> inputs;
  for (const SiteConfig& site : config.sites) {
    Result<std::shared_ptr<const SiteInputs>> in = LoadSiteInputs(site, config.file, slot_s);
    if (!in.ok()) return in.status();
    inputs.push_back(std::move(*in));
  }
  setup.inputs = std::make_shared<Inputs>(std::move(inputs));

  for (const HostConfig& host : config.hosts) {
    setup.hosts.names.push_back(host.name);
    setup.hosts.site.push_back(static_cast<size_t>(SiteIndexOf(config, host.site)));
    setup.hosts.driver_location.push_back(host.DriverSite());
    setup.hosts.memory_mib.push_back(host.memory_mib);
  }
  std::vector<double> power_w;
  for (const VmConfig& vm : config.vms) {
    const HostConfig* host = config.FindHost(vm.host);
    setup.home_site.push_back(SiteIndexOf(config, host->site));
    setup.home_host.push_back(static_cast<int>(host - config.hosts.data()));
    power_w.push_back(vm.power_w);
  }
  setup.default_vm_power_w = power_w;

  std::vector<std::unique_ptr<SensorSource>> sources;
  std::vector<std::string> notes;
  std::vector<std::tuple<std::string, int, std::string>> brokers;
  for (const SiteConfig& site : config.sites) {
    for (const SensorConfig& sensor : site.sensors) {
      setup.sensors.push_back(
          {site.name, sensor.name, sensor.kind, sensor.measures, sensor.capacity_w});
      const std::string where =
          config.file + ": site '" + site.name + "' sensor '" + sensor.name + "'";
      if (sensor.kind == "replay") {
        Result<std::string> text = ReadFile(sensor.address);
        if (!text.ok()) return text.status().Context(where);
        Result<energy::TimeSeriesTable> table =
            energy::ParseTimeSeriesCsv(*text, sensor.address, {energy::Gaps::kMissing, nullptr});
        if (!table.ok()) return table.status().Context(where);
        Result<const std::vector<double>*> column = table->Column(sensor.column);
        if (!column.ok()) return column.status().Context(where);
        const size_t gaps =
            table->missing[static_cast<size_t>(energy::FindColumn(table->names, sensor.column))];
        if (gaps > 0) {
          notes.push_back(where + ": " + std::to_string(gaps) + " of " +
                          std::to_string(table->time_utc_s.size()) + " rows of '" + sensor.address +
                          "' have no value (gaps): the sensor is silent there");
        }
        sources.push_back(
            MakeReplaySource(site.name, sensor.name, table->time_utc_s, **column, 2 * slot_s));
      } else if (sensor.kind == "modbus") {
        std::string host;
        int port = 0;
        GS_RETURN_IF_ERROR(SplitAddress(sensor.address, 502, &host, &port, nullptr).Context(where));
        sources.push_back(MakeModbusSource(site.name, sensor.name, host, port));
      } else if (sensor.kind == "mqtt") {
        std::string host, prefix;
        int port = 0;
        GS_RETURN_IF_ERROR(
            SplitAddress(sensor.address, 1883, &host, &port, &prefix).Context(where));
        if (prefix.empty()) prefix = "greenshift";
        const auto broker = std::make_tuple(host, port, prefix);
        if (std::find(brokers.begin(), brokers.end(), broker) != brokers.end()) continue;
        brokers.push_back(broker);
        energy::MqttOptions options;
        options.host = host;
        options.port = port;
        options.topic_prefix = prefix;
        options.client_id =
            "greenshift-" + std::to_string(::getpid()) + "-" + std::to_string(brokers.size());
        Result<std::unique_ptr<energy::MqttSensorSubscriber>> subscriber =
            energy::MqttSensorSubscriber::Connect(options);
        if (!subscriber.ok()) return subscriber.status().Context(where);
        if (!(*subscriber)->subscribed())
          Log(LogLevel::kWarning, "mqtt.unreachable",
              {{"broker", (*subscriber)->Describe()}, {"action", "retrying in the background"}});
        sources.push_back(MakeMqttSource(std::move(*subscriber)));
      }
    }
  }
  const int64_t slot_ms = slot_s * 1000;
  setup.observer.stale_ms = std::max<int64_t>(300000, 3 * slot_ms);
  setup.observer.received_clock = wall;
  setup.policy = nullptr;
  Result<std::unique_ptr<placement::Policy>> policy =
      placement::MakePolicy(config.policy, config.policy_options);
  if (!policy.ok()) return policy.status().Context(config.file);
  setup.policy = std::move(*policy);
  setup.min_dwell_slots = config.policy_options.min_dwell_slots;
  setup.executor.migrations_per_link = config.migrations_per_link;
  setup.executor.migration.mode = hypervisor::MigrationMode::kLive;
  setup.executor.migration.timeout =
      std::chrono::milliseconds(static_cast<int64_t>(config.migration_timeout_s * 1000));
  setup.executor.migration.downtime_limit_ms = config.downtime_limit_ms;
  setup.executor.migration.auto_converge = config.auto_converge;
  setup.executor.dirty_rate_sample_s = config.dirty_rate_sample_s;
  setup.mode = config.mode;
  setup.refresh_inventory = true;
  setup.keep_static_account = true;

  Service service{setup.inputs, nullptr, nullptr, clock, nullptr, std::move(notes)};
  std::vector<std::string> site_names, vm_names;
  for (const SiteConfig& site : config.sites) site_names.push_back(site.name);
  for (const VmConfig& vm : config.vms) vm_names.push_back(vm.name);
  service.recorder = std::make_unique<StoreRecorder>(store, site_names, vm_names, slot_s, wall);
  const ServiceClock engine_clock = clock;
  service.engine = std::make_unique<Engine>(std::move(setup), driver, *service.recorder,
                                            [engine_clock] { return engine_clock.NowMs(); });
  for (std::unique_ptr<SensorSource>& source : sources)
    service.engine->observer().AddSource(std::move(source));
  service.engine->observer().SetLoadSource(std::make_unique<ConfiguredLoad>(power_w));
  StoreRecorder* recorder = service.recorder.get();
  Engine* engine = service.engine.get();
  service.feeds =
      std::make_unique<FeedRunner>(config, service.inputs, slot_s, wall, std::move(http),
                                   [recorder, engine](LogLevel level, const std::string& message) {
                                     recorder->Event(level, "feeds", message, engine->NowMs());
                                   });
  for (std::string& note : service.feeds->LoadCache()) service.warnings.push_back(std::move(note));
  return service;
}

}  // namespace greenshift::control
