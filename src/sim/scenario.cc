#include "sim/scenario.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/files.h"
#include "energy/carbon.h"
#include "energy/csv.h"
#include "energy/forecast.h"
#include "energy/weather.h"
#include "energy/wind.h"

namespace greenshift::sim {

namespace {

using nlohmann::json;

// Reads keys of one JSON object, refusing unknown keys and wrong types, naming the key.
class Keys {
 public:
  Keys(const json& object, std::string where, std::string file)
      : object_(object), where_(std::move(where)), file_(std::move(file)) {}
  Status CheckKnown(const std::set<std::string>& known) const {
    if (!object_.is_object()) return Error(where_, "must be an object");
    for (const auto& [key, value] : object_.items()) {
      if (!known.count(key)) return Error(Path(key), "is not a known key");
    }
    return Status::Ok();
  }
  Result<double> Number(const std::string& key, double fallback, double lo, double hi) const {
    if (!object_.contains(key)) {
      if (std::isnan(fallback)) return Error(Path(key), "is required");
      return fallback;
    }
    if (!object_[key].is_number()) return Error(Path(key), "must be a number");
    const double v = object_[key].get<double>();
    if (!(v >= lo && v <= hi)) {
      return Error(Path(key),
                   "= " + object_[key].dump() + " is outside " + Fmt(lo) + ".." + Fmt(hi));
    }
    return v;
  }
  // A count: a number as above that is also whole.
  Result<double> Whole(const std::string& key, double fallback, double lo, double hi) const {
    Result<double> value = Number(key, fallback, lo, hi);
    if (value.ok() && *value != std::floor(*value))
      return Error(Path(key), "must be a whole number");
    return value;
  }
  Result<std::string> String(const std::string& key, const char* fallback = nullptr) const {
    if (!object_.contains(key)) {
      if (fallback == nullptr) return Error(Path(key), "is required");
      return std::string(fallback);
    }
    if (!object_[key].is_string()) return Error(Path(key), "must be a string");
    return object_[key].get<std::string>();
  }
  std::string Path(const std::string& key) const { return where_ + "." + key; }
  Status Error(const std::string& path, const std::string& what) const {
    return Status::Error(file_ + ": " + path + " " + what);
  }

 private:
  static std::string Fmt(double v) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", v);
    return text;
  }
  const json& object_;
  std::string where_, file_;
};

// PlanetLab CoMon traces: one CPU utilization (%) per line, every 5 minutes over a day.
Result<std::vector<double>> ReadPlanetLabHourly(const std::string& path) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  std::vector<double> samples;
  size_t line_number = 0;
  for (std::string_view line : energy::SplitLines(*text)) {
    ++line_number;
    if (line.empty()) continue;
    Result<double> v = energy::ParseNumber(line, {path, line_number, "cpu_percent"});
    if (!v.ok()) return v.status();
    if (*v < 0 || *v > 100) {
      return Status::Error(path + " line " + std::to_string(line_number) + ": CPU " +
                           std::string(line) + " % is outside 0..100");
    }
    samples.push_back(*v / 100);
  }
  if (samples.size() < 12) return Status::Error(path + ": fewer than 12 samples (one hour)");
  std::vector<double> hourly;
  for (size_t i = 0; i + 12 <= samples.size(); i += 12) {
    double sum = 0;
    for (size_t j = i; j < i + 12; ++j) sum += samples[j];
    hourly.push_back(sum / 12);
  }
  return hourly;
}

}  // namespace

Result<Scenario> LoadScenario(const std::string& path, double days_override, int64_t from_utc_s) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  const json root = json::parse(*text, nullptr, false);
  if (root.is_discarded()) return Status::Error(path + ": not valid JSON");
  Keys top(root, "scenario", path);
  GS_RETURN_IF_ERROR(top.CheckKnown({"name", "start", "days", "link_mbit", "energy_per_byte_j",
                                     "curves", "sites", "vms", "policy", "policies", "comment"}));
  Scenario scenario;
  scenario.file = path;
  GS_ASSIGN(scenario.name, top.String("name"));
  std::string start_text;
  GS_ASSIGN(start_text, top.String("start"));
  Result<int64_t> start = energy::ParseIsoTime(start_text, {path, 0, "start"});
  if (!start.ok()) return start.status();
  if (*start % 3600 != 0) return top.Error("scenario.start", "must be on a whole hour");
  double days = 0;
  GS_ASSIGN(days, top.Number("days", NAN, 1, 366));
  if (from_utc_s > 0) {
    const int64_t end = *start + static_cast<int64_t>(days * 86400);
    if (from_utc_s % 3600 != 0)
      return Status::Invalid("--from " + FormatUtcMinutes(from_utc_s) + ": not on a whole hour");
    if (from_utc_s < *start || from_utc_s + 86400 > end) {
      return Status::Invalid("--from " + FormatUtcMinutes(from_utc_s) +
                             " is not a day or more inside the scenario's period (" +
                             FormatUtcMinutes(*start) + " to " + FormatUtcMinutes(end) + ")");
    }
    days = static_cast<double>(end - from_utc_s) / 86400;
    *start = from_utc_s;
  }
  if (days_override > 0) days = std::min(days, days_override);
  double link_mbit = 0, energy_per_byte = 0;
  GS_ASSIGN(link_mbit, top.Number("link_mbit", 1000, 1, 1e6));
  GS_ASSIGN(energy_per_byte, top.Number("energy_per_byte_j", 2e-7, 0, 1e-3));

  World& world = scenario.world;
  world.start_utc_s = *start;
  world.slots = static_cast<size_t>(days * 24);
  world.problem.slot_s = 3600;
  world.problem.energy_per_byte_j = energy_per_byte;
  const size_t T = world.slots;

  // Sites.
  if (!root.contains("sites") || !root["sites"].is_array() || root["sites"].empty())
    return top.Error("scenario.sites", "must be a non-empty array");
  std::vector<energy::PowerCurve> curves;
  for (size_t i = 0; i < root["sites"].size(); ++i) {
    const json& js = root["sites"][i];
    Keys site_keys(js, "sites[" + std::to_string(i) + "]", path);
    GS_RETURN_IF_ERROR(site_keys.CheckKnown(
        {"name", "weather", "carbon", "pv_kw", "tilt", "azimuth", "capacity_kw", "wind"}));
    placement::Site site;
    GS_ASSIGN(site.name, site_keys.String("name"));
    for (const placement::Site& other : world.problem.sites) {
      if (other.name == site.name)
        return site_keys.Error(site_keys.Path("name"), "repeats '" + site.name + "'");
    }
    double capacity_kw = 0, pv_kw = 0, tilt = 0, azimuth = 0;
    GS_ASSIGN(capacity_kw, site_keys.Number("capacity_kw", NAN, 0.001, 1e9));
    GS_ASSIGN(pv_kw, site_keys.Number("pv_kw", 0, 0, 1e9));
    GS_ASSIGN(tilt, site_keys.Number("tilt", 30, 0, 90));
    GS_ASSIGN(azimuth, site_keys.Number("azimuth", 180, 0, 360));
    site.capacity_w = capacity_kw * 1000;
    std::string weather_file, carbon_file;
    GS_ASSIGN(weather_file, site_keys.String("weather"));
    GS_ASSIGN(carbon_file, site_keys.String("carbon"));
    weather_file = PathBeside(path, weather_file);
    carbon_file = PathBeside(path, carbon_file);
    Result<std::string> weather_text = ReadFile(weather_file);
    if (!weather_text.ok()) return weather_text.status();
    Result<energy::WeatherSeries> weather = energy::ParseOpenMeteoJson(*weather_text, weather_file);
    if (!weather.ok()) return weather.status();
    Result<std::string> carbon_text = ReadFile(carbon_file);
    if (!carbon_text.ok()) return carbon_text.status();
    Result<energy::CarbonSeries> carbon = energy::ParseCarbonFile(*carbon_text, carbon_file);
    if (!carbon.ok()) return carbon.status();
    if (carbon->time_utc_s.front() > *start ||
        carbon->time_utc_s.back() < *start + static_cast<int64_t>(T - 1) * 3600) {
      return Status::Error(carbon_file + ": does not cover the scenario's period");
    }

    energy::SiteModel pv_site, wind_site;
    pv_site.name = wind_site.name = site.name;
    if (pv_kw > 0) {
      energy::PvSystem pv;
      pv.latitude_deg = weather->latitude_deg;
      pv.longitude_deg = weather->longitude_deg;
      pv.tilt_deg = tilt;
      pv.azimuth_deg = azimuth;
      pv.capacity_w = pv_kw * 1000;
      pv.inverter_limit_w = pv_kw * 1000;
      pv_site.pv.push_back(pv);
    }
    if (js.contains("wind")) {
      Keys wind_keys(js["wind"], site_keys.Path("wind"), path);
      GS_RETURN_IF_ERROR(wind_keys.CheckKnown({"turbine", "count", "hub_height_m", "roughness_m"}));
      if (curves.empty()) {
        std::string curves_file;
        GS_ASSIGN(curves_file, top.String("curves"));
        curves_file = PathBeside(path, curves_file);
        Result<std::string> curves_text = ReadFile(curves_file);
        if (!curves_text.ok()) return curves_text.status();
        Result<std::vector<energy::PowerCurve>> parsed =
            energy::ParsePowerCurves(*curves_text, curves_file);
        if (!parsed.ok()) return parsed.status();
        curves = *parsed;
      }
      std::string turbine;
      GS_ASSIGN(turbine, wind_keys.String("turbine"));
      Result<energy::PowerCurve> curve = energy::FindPowerCurve(curves, turbine);
      if (!curve.ok()) return curve.status();
      energy::WindInstallation wind;
      wind.curve = *curve;
      double count = 0;
      GS_ASSIGN(count, wind_keys.Number("count", 1, 1, 1000));
      wind.count = static_cast<int>(count);
      GS_ASSIGN(wind.hub_height_m, wind_keys.Number("hub_height_m", 100, 10, 300));
      GS_ASSIGN(wind.roughness_m, wind_keys.Number("roughness_m", 0.1, 0.0001, 5));
      wind_site.wind.push_back(wind);
    }
    // Produced power per hourly slot from the weather; and PV under a clear sky.
    const energy::WeatherSeries clear = energy::ClearSkyWeather(*weather);
    auto slots_of = [&](const energy::SiteModel& model, const energy::WeatherSeries& w,
                        const char* what) -> Result<std::vector<double>> {
      if (model.pv.empty() && model.wind.empty()) return std::vector<double>(T, 0.0);
      energy::PowerSeries series{w.time_utc_s, energy::ModelPowerW(model, w), 3600};
      std::vector<double> out = energy::AverageIntoSlots(series, *start, 3600, T);
      for (size_t t = 0; t < T; ++t) {
        if (std::isnan(out[t])) {
          return Status::Error(weather_file + ": no " + what + " for slot " + std::to_string(t) +
                               " of the scenario (the weather does not cover its period)");
        }
      }
      return out;
    };
    Result<std::vector<double>> pv_w = slots_of(pv_site, *weather, "PV power");
    Result<std::vector<double>> clear_w = slots_of(pv_site, clear, "clear-sky PV");
    Result<std::vector<double>> wind_w = slots_of(wind_site, *weather, "wind power");
    for (const auto* r : {&pv_w, &clear_w, &wind_w}) {
      if (!r->ok()) return r->status();
    }
    world.pv_w.insert(world.pv_w.end(), pv_w->begin(), pv_w->end());
    world.pv_clear_w.insert(world.pv_clear_w.end(), clear_w->begin(), clear_w->end());
    world.wind_w.insert(world.wind_w.end(), wind_w->begin(), wind_w->end());
    for (size_t t = 0; t < T; ++t)
      world.carbon_g_per_kwh.push_back(carbon->At(*start + static_cast<int64_t>(t) * 3600));
    world.problem.sites.push_back(site);
  }
  const size_t S = world.problem.sites.size();
  world.problem.links.assign(S * S, placement::Link{link_mbit * 1e6 / 8});

  // VMs: real CPU traces (hourly means, the day repeated) through idle + proportional power.
  if (!root.contains("vms")) return top.Error("scenario.vms", "is required");
  Keys vm_keys(root["vms"], "vms", path);
  GS_RETURN_IF_ERROR(
      vm_keys.CheckKnown({"planetlab_dir", "count", "memory_mib", "dirty_mb_s", "working_set_mib",
                          "idle_w", "peak_w", "downtime_budget_ms"}));
  std::string trace_dir;
  double count = 0, memory_mib = 0, dirty_mb_s = 0, working_set_mib = 0, idle_w = 0, peak_w = 0,
         budget_ms = 0;
  GS_ASSIGN(trace_dir, vm_keys.String("planetlab_dir"));
  GS_ASSIGN(count, vm_keys.Number("count", NAN, 1, 1e6));
  GS_ASSIGN(memory_mib, vm_keys.Number("memory_mib", 4096, 64, 1 << 22));
  GS_ASSIGN(dirty_mb_s, vm_keys.Number("dirty_mb_s", 10, 0, 1e5));
  GS_ASSIGN(working_set_mib, vm_keys.Number("working_set_mib", -1, -1, 1 << 22));
  GS_ASSIGN(idle_w, vm_keys.Number("idle_w", 30, 0, 1e5));
  GS_ASSIGN(peak_w, vm_keys.Number("peak_w", 100, 0.001, 1e5));
  GS_ASSIGN(budget_ms, vm_keys.Number("downtime_budget_ms", 500, 1, 1e6));
  if (idle_w > peak_w) return vm_keys.Error("vms.idle_w", "is above vms.peak_w");
  trace_dir = PathBeside(path, trace_dir);
  std::vector<std::string> traces;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(trace_dir, error)) {
    if (entry.is_regular_file() && entry.path().filename().string()[0] != '.' &&
        entry.path().filename().string().rfind("LICENSE", 0) != 0) {
      traces.push_back(entry.path().string());
    }
  }
  if (error) return Status::Error(trace_dir + ": " + error.message());
  if (traces.empty()) return Status::Error(trace_dir + ": no trace files");
  std::sort(traces.begin(), traces.end());
  std::vector<std::vector<double>> hourly(traces.size());
  for (size_t i = 0; i < traces.size(); ++i) {
    Result<std::vector<double>> h = ReadPlanetLabHourly(traces[i]);
    if (!h.ok()) return h.status();
    hourly[i] = *h;
  }
  const size_t V = static_cast<size_t>(count);
  std::vector<double> placed(S, 0.0);
  for (size_t v = 0; v < V; ++v) {
    placement::Vm vm;
    vm.name = "vm" + std::to_string(v + 1);
    vm.memory_bytes = static_cast<int64_t>(memory_mib * 1048576);
    vm.dirty_rate_bytes_s = dirty_mb_s * 1e6;
    vm.working_set_bytes =
        working_set_mib < 0 ? -1 : static_cast<int64_t>(working_set_mib * 1048576);
    vm.peak_power_w = peak_w;
    vm.downtime_budget_s = budget_ms / 1000;
    world.problem.vms.push_back(vm);
    const std::vector<double>& trace = hourly[v % hourly.size()];
    for (size_t t = 0; t < T; ++t) {
      // The traces are UTC days; the day repeats.
      const size_t hour = static_cast<size_t>((*start / 3600 + static_cast<int64_t>(t)) % 24);
      const double util = trace[hour % trace.size()];
      world.vm_power_w.push_back(idle_w + (peak_w - idle_w) * util);
    }
    // Start spread over the sites, round robin, where there is room.
    size_t site = v % S;
    for (size_t tries = 0;
         tries < S && placed[site] + peak_w > world.problem.sites[site].capacity_w; ++tries)
      site = (site + 1) % S;
    if (placed[site] + peak_w > world.problem.sites[site].capacity_w)
      return vm_keys.Error("vms.count",
                           "= " + std::to_string(V) + " VMs do not fit in the sites' capacity");
    placed[site] += peak_w;
    world.initial_site.push_back(static_cast<int>(site));
  }

  // Policies.
  placement::PolicyOptions& policy = scenario.options.policy;
  if (root.contains("policy")) {
    Keys p(root["policy"], "policy", path);
    GS_RETURN_IF_ERROR(p.CheckKnown(
        {"min_dwell_hours", "hysteresis_kg", "hysteresis_fraction", "horizon_hours",
         "green_margin_fraction", "optimal_time_limit_s", "optimal_replan_hours",
         "optimal_horizon_hours", "optimal_max_steps", "optimal_max_rounds", "optimal_max_nodes"}));
    double dwell = 0, horizon = 0, replan = 0, optimal_horizon = 0;
    GS_ASSIGN(dwell, p.Number("min_dwell_hours", 4, 1, 24 * 30));
    GS_ASSIGN(policy.hysteresis_kg, p.Number("hysteresis_kg", 0.001, 0, 1e6));
    GS_ASSIGN(policy.hysteresis_fraction, p.Number("hysteresis_fraction", 0.1, 0, 10));
    GS_ASSIGN(policy.green_margin_fraction, p.Number("green_margin_fraction", 0, 0, 0.99));
    GS_ASSIGN(horizon, p.Number("horizon_hours", 24, 1, 24 * 7));
    GS_ASSIGN(policy.optimal_time_limit_s, p.Number("optimal_time_limit_s", 10, 0.1, 3600));
    GS_ASSIGN(replan, p.Number("optimal_replan_hours", 6, 1, 24 * 7));
    GS_ASSIGN(optimal_horizon, p.Number("optimal_horizon_hours", horizon, 1, 24 * 7));
    GS_RETURN_IF_ERROR(
        placement::ReadOptimalWorkLimits([&](const char* key, double fallback, double lo,
                                             double hi) { return p.Whole(key, fallback, lo, hi); },
                                         &policy));
    policy.min_dwell_slots = static_cast<int64_t>(dwell);
    policy.horizon_slots = static_cast<size_t>(horizon);
    policy.optimal_replan_slots = static_cast<int64_t>(replan);
    policy.optimal_horizon_slots = static_cast<size_t>(optimal_horizon);
  }
  scenario.policies = {"static", "follow-sensor", "greedy-forecast"};
  if (root.contains("policies")) {
    if (!root["policies"].is_array()) return top.Error("scenario.policies", "must be an array");
    scenario.policies.clear();
    for (const json& name : root["policies"]) {
      if (!name.is_string()) return top.Error("scenario.policies", "must hold strings");
      scenario.policies.push_back(name.get<std::string>());
    }
  }
  GS_RETURN_IF_ERROR(world.Check().Context(path));
  return scenario;
}

}  // namespace greenshift::sim
