#include "control/config.h"

#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>

#include "control/config_parts.h"
#include "control/toml_table.h"
#include "core/clock.h"
#include "core/files.h"
#include "energy/csv.h"
#include "energy/solar.h"
#include "hypervisor/kinds.h"

namespace greenshift::control {

namespace {

// Tokens people paste from examples and forget to replace: refused, not guarded with.
bool LooksLikeAPlaceholder(const std::string& token) {
  std::string lower;
  for (char c : token) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* word : {"change-me", "changeme", "change_me", "replace-me", "replace_me",
                           "placeholder", "your-token", "your_token", "example", "xxxxxxxx"}) {
    if (lower.find(word) != std::string::npos) return true;
  }
  // One character repeated ("aaaaaaaaaaaaaaaa") guards nothing either.
  return token.find_first_not_of(token[0]) == std::string::npos;
}

}  // namespace

const char* MeasuresName(Measures measures) {
  switch (measures) {
    case Measures::kGreen:
      return "green";
    case Measures::kPv:
      return "pv";
    case Measures::kWind:
      return "wind";
  }
  return "green";
}

const char* ModeName(Mode mode) {
  switch (mode) {
    case Mode::kAuto:
      return "auto";
    case Mode::kApprove:
      return "approve";
    case Mode::kDryRun:
      return "dry-run";
  }
  return "?";
}

const SiteConfig* ServiceConfig::FindSite(const std::string& name) const {
  for (const SiteConfig& s : sites)
    if (s.name == name) return &s;
  return nullptr;
}
const LinkConfig* ServiceConfig::FindLink(const std::string& a, const std::string& b) const {
  for (const LinkConfig& link : links) {
    if ((link.a == a && link.b == b) || (link.a == b && link.b == a)) return &link;
  }
  return nullptr;
}

std::string ServiceConfig::NetworkBetween(const std::string& a, const std::string& b) const {
  const LinkConfig* link = FindLink(a, b);
  return link ? link->network : LinkConfig{}.network;
}

const HostConfig* ServiceConfig::FindHost(const std::string& name) const {
  for (const HostConfig& h : hosts)
    if (h.name == name) return &h;
  return nullptr;
}
const VmConfig* ServiceConfig::FindVm(const std::string& name) const {
  for (const VmConfig& v : vms)
    if (v.name == name) return &v;
  return nullptr;
}

Result<ServiceConfig> ParseConfig(const std::string& text, const std::string& file) {
  GS_RETURN_IF_ERROR(CheckTomlBytes(text, file));
  toml::table root;
  try {
    root = toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    std::ostringstream why;
    why << file << ": line " << e.source().begin.line << ", column " << e.source().begin.column
        << ": " << e.description();
    return Status::Invalid(why.str());
  }
  ServiceConfig c;
  c.file = file;
  const Table top(root, "", file);
  GS_RETURN_IF_ERROR(
      top.CheckKnown({"service", "feeds", "policy", "sites", "links", "hosts", "vms"}));

  Table service = top.Sub("service").value();
  GS_RETURN_IF_ERROR(service.CheckKnown({"listen",
                                         "port",
                                         "token",
                                         "token_file",
                                         "tls_cert",
                                         "tls_key",
                                         "max_connections",
                                         "database",
                                         "mode",
                                         "period_s",
                                         "migrations_per_link",
                                         "link_mbit",
                                         "stream_window_mib",
                                         "migration_timeout_s",
                                         "downtime_limit_ms",
                                         "auto_converge",
                                         "dirty_rate_sample_s",
                                         "energy_per_byte_j",
                                         "retention_days",
                                         "lab",
                                         "replay_start",
                                         "replay_speed"}));
  GS_ASSIGN(c.listen, service.String("listen", std::string("127.0.0.1")));
  double port = 0, per_link = 0, connections = 0, downtime_limit = 0, sample_s = 0;
  GS_ASSIGN(port, service.Number("port", 8080, 0, 65535));
  c.port = static_cast<int>(port);
  GS_ASSIGN(connections, service.Number("max_connections", 256, 4, 100000));
  c.max_connections = static_cast<int>(connections);
  // The token: in the file, in a file of its own, or in the environment (in that order).
  std::string token_file;
  GS_ASSIGN(c.token, service.String("token", std::string()));
  GS_ASSIGN(token_file, service.String("token_file", std::string()));
  const char* token_key = "token";
  if (!c.token.empty() && !token_file.empty())
    return service.Error("token_file", "and 'token' are both given: keep one");
  if (!c.token.empty()) {
    c.token_source = "token";
  } else if (!token_file.empty()) {
    token_key = "token_file";
    token_file = PathBeside(file, token_file);
    Result<std::string> read = ReadTokenFile(token_file);
    if (!read.ok()) return service.Error("token_file", read.error());
    c.token = *read;
    c.token_source = "token_file " + token_file;
  } else if (const char* env = std::getenv("GREENSHIFT_TOKEN"); env != nullptr && *env) {
    c.token = env;
    c.token_source = "GREENSHIFT_TOKEN";
  } else {
    return service.Error("token",
                         "is required: set 'token', 'token_file' (a file of mode 600), or the "
                         "environment variable GREENSHIFT_TOKEN (it guards every change)");
  }
  if (c.token.size() < 16)
    return service.Error(token_key, "from " + c.token_source +
                                        " must be at least 16 characters (it guards every change)");
  if (LooksLikeAPlaceholder(c.token))
    return service.Error(
        token_key, "from " + c.token_source +
                       " looks like a placeholder: generate one, e.g. `openssl rand -hex 24`");
  for (char ch : c.token) {
    if (ch <= ' ' || ch > '~')
      return service.Error(token_key, "from " + c.token_source +
                                          " must be printable ASCII without spaces (it is sent "
                                          "in an HTTP header)");
  }
  GS_ASSIGN(c.tls_cert, service.String("tls_cert", std::string()));
  GS_ASSIGN(c.tls_key, service.String("tls_key", std::string()));
  if (c.tls_cert.empty() != c.tls_key.empty())
    return service.Error(c.tls_cert.empty() ? "tls_cert" : "tls_key",
                         "is needed too: HTTPS takes both a certificate and its key");
  c.tls_cert = PathBeside(file, c.tls_cert);
  c.tls_key = PathBeside(file, c.tls_key);
  GS_ASSIGN(c.database, service.String("database", std::string("greenshift.db")));
  c.database = PathBeside(file, c.database);
  std::string mode;
  GS_ASSIGN(mode, service.String("mode", std::string("dry-run")));
  if (mode == "auto") {
    c.mode = Mode::kAuto;
  } else if (mode == "approve") {
    c.mode = Mode::kApprove;
  } else if (mode == "dry-run") {
    c.mode = Mode::kDryRun;
  } else {
    return service.Error("mode", "'" + mode + "' is not one of auto, approve, dry-run");
  }
  GS_ASSIGN(c.period_s, service.Number("period_s", 60, 0.1, 86400));
  GS_ASSIGN(per_link, service.Number("migrations_per_link", 1, 1, 64));
  c.migrations_per_link = static_cast<int>(per_link);
  GS_ASSIGN(c.link_mbit, service.Number("link_mbit", 1000, 0.001, 1e7));
  GS_ASSIGN(c.stream_window_mib, service.Number("stream_window_mib", 4, 0.0625, 4096));
  GS_ASSIGN(c.migration_timeout_s, service.Number("migration_timeout_s", 300, 1, 86400));
  GS_ASSIGN(downtime_limit, service.Number("downtime_limit_ms", 20, 0, 600000));
  c.downtime_limit_ms = static_cast<int>(downtime_limit);
  GS_ASSIGN(c.auto_converge, service.Bool("auto_converge", true));
  GS_ASSIGN(sample_s, service.Whole("dirty_rate_sample_s", 1, 0, 60));
  c.dirty_rate_sample_s = static_cast<int>(sample_s);
  GS_ASSIGN(c.energy_per_byte_j, service.Number("energy_per_byte_j", 2e-7, 0, 1));
  GS_ASSIGN(c.retention_days, service.Number("retention_days", 30, 1, 36500));
  GS_ASSIGN(c.lab, service.String("lab", std::string("gs")));
  std::string replay_start;
  GS_ASSIGN(replay_start, service.String("replay_start", std::string()));
  if (!replay_start.empty()) {
    Result<int64_t> ms = ParseRfc3339Ms(replay_start);
    if (!ms.ok()) return service.Error("replay_start", "'" + replay_start + "' " + ms.error());
    c.replay_start_utc_s = SecondsOfMs(*ms);
  }
  GS_ASSIGN(c.replay_speed, service.Number("replay_speed", 1, 0.001, 1e6));
  if (replay_start.empty() && c.replay_speed != 1)
    return service.Error("replay_speed", "needs replay_start (real time runs at speed 1)");

  GS_RETURN_IF_ERROR(ReadFeeds(top, c));
  Table policy = top.Sub("policy").value();
  GS_RETURN_IF_ERROR(policy.CheckKnown(
      {"name", "min_dwell_hours", "horizon_hours", "hysteresis_kg", "hysteresis_fraction",
       "green_margin_fraction", "optimal_time_limit_s", "optimal_horizon_hours",
       "optimal_replan_hours", "optimal_max_steps", "optimal_max_rounds", "optimal_max_nodes"}));
  GS_ASSIGN(c.policy, policy.String("name", std::string("greedy-forecast")));
  double dwell = 0, horizon = 0;
  GS_ASSIGN(dwell, policy.Number("min_dwell_hours", 4, 0, 24 * 30));
  GS_ASSIGN(horizon, policy.Number("horizon_hours", 2, 0, 24 * 7));
  placement::PolicyOptions& po = c.policy_options;
  GS_ASSIGN(po.hysteresis_kg, policy.Number("hysteresis_kg", 0.001, 0, 1e6));
  GS_ASSIGN(po.hysteresis_fraction, policy.Number("hysteresis_fraction", 0.1, 0, 10));
  GS_ASSIGN(po.green_margin_fraction, policy.Number("green_margin_fraction", 0, 0, 0.99));
  GS_ASSIGN(po.optimal_time_limit_s, policy.Number("optimal_time_limit_s", 10, 0.1, 3600));
  double optimal_horizon = 0, optimal_replan = 0;
  GS_RETURN_IF_ERROR(placement::ReadOptimalWorkLimits(
      [&](const char* key, double fallback, double lo, double hi) {
        return policy.Whole(key, fallback, lo, hi);
      },
      &po));
  GS_ASSIGN(optimal_horizon, policy.Number("optimal_horizon_hours", 0, 0, 24 * 7));
  GS_ASSIGN(optimal_replan, policy.Number("optimal_replan_hours", 0, 0, 24 * 7));
  // The loop's period is the policy's slot.
  po.min_dwell_slots = std::max<int64_t>(1, std::llround(dwell * 3600 / c.period_s));
  po.horizon_slots =
      static_cast<size_t>(std::max<int64_t>(1, std::llround(horizon * 3600 / c.period_s)));
  po.optimal_horizon_slots = static_cast<size_t>(std::llround(optimal_horizon * 3600 / c.period_s));
  po.optimal_replan_slots =
      optimal_replan > 0 ? std::max<int64_t>(1, std::llround(optimal_replan * 3600 / c.period_s))
                         : 1;
  {
    Result<std::unique_ptr<placement::Policy>> made = placement::MakePolicy(c.policy, po);
    if (!made.ok()) return policy.Error("name", made.error());
  }

  std::vector<Table> sites;
  GS_ASSIGN(sites, top.Tables("sites"));
  if (sites.empty()) return top.Error("sites", "at least one [[sites]] is required");
  for (const Table& t : sites) {
    GS_RETURN_IF_ERROR(
        t.CheckKnown({"name",        "latitude",          "longitude",    "capacity_kw",
                      "pv_kwp",      "pv_tilt",           "pv_azimuth",   "wind_turbine",
                      "wind_curves", "wind_hub_height_m", "wind_count",   "weather",
                      "carbon",      "carbon_g_per_kwh",  "forecast",     "carbon_forecast",
                      "sensors",     "storage_rtt_ms",    "weather_feed", "carbon_feed"}));
    SiteConfig s;
    GS_ASSIGN(s.name, ReadName(t));
    if (c.FindSite(s.name)) return t.Error("name", "site '" + s.name + "' is defined twice");
    GS_ASSIGN(s.latitude, t.Number("latitude", std::nullopt, -90, 90));
    GS_ASSIGN(s.longitude, t.Number("longitude", std::nullopt, -180, 180));
    double capacity_kw = 0, count = 0;
    GS_ASSIGN(capacity_kw, t.Number("capacity_kw", std::nullopt, 0.001, 1e6));
    s.capacity_w = capacity_kw * 1000;
    GS_ASSIGN(s.storage_rtt_ms, t.Number("storage_rtt_ms", 0, 0, 10000));
    GS_ASSIGN(s.pv_kwp, t.Number("pv_kwp", 0, 0, 1e6));
    GS_ASSIGN(s.pv_tilt_deg, t.Number("pv_tilt", 30, 0, 90));
    // Towards the equator by default; an array that faces the pole is allowed (a roof is what
    // it is) but said, as a wrong hemisphere would nearly halve its forecast.
    const double equator_deg = energy::EquatorAzimuthDeg(s.latitude);
    GS_ASSIGN(s.pv_azimuth_deg, t.Number("pv_azimuth", equator_deg, 0, 360));
    if (s.pv_kwp > 0 && energy::PvFacesThePole(s.pv_azimuth_deg, s.latitude)) {
      std::ostringstream warning;
      warning << t.Key("pv_azimuth") << ": " << s.pv_azimuth_deg << " faces the pole at latitude "
              << s.latitude << " (the equator is at " << equator_deg
              << "); if the array really faces away from the sun, ignore this";
      c.warnings.push_back(warning.str());
    }
    GS_ASSIGN(s.wind_turbine, t.String("wind_turbine", std::string()));
    GS_ASSIGN(s.wind_curves, t.String("wind_curves", std::string()));
    if (!s.wind_turbine.empty() && s.wind_curves.empty())
      return t.Error("wind_curves", "is required with wind_turbine (power_curves.csv)");
    if (!s.wind_curves.empty()) s.wind_curves = PathBeside(file, s.wind_curves);
    GS_ASSIGN(s.wind_hub_height_m, t.Number("wind_hub_height_m", 100, 10, 500));
    GS_ASSIGN(count, t.Number("wind_count", s.wind_turbine.empty() ? 0 : 1, 0, 10000));
    s.wind_count = static_cast<int>(count);
    GS_ASSIGN(s.weather, t.String("weather", std::string()));
    GS_ASSIGN(s.carbon, t.String("carbon", std::string()));
    s.weather = PathBeside(file, s.weather);
    s.carbon = PathBeside(file, s.carbon);
    GS_ASSIGN(s.carbon_g_per_kwh, t.Number("carbon_g_per_kwh", 400, 0, 5000));
    if (!s.weather.empty() && !(s.pv_kwp > 0) && s.wind_turbine.empty())
      return t.Error("weather", "is given but the site has neither pv_kwp nor wind_turbine");
    GS_RETURN_IF_ERROR(ReadSiteFeeds(t, file, s));
    std::string forecast, carbon_forecast;
    GS_ASSIGN(forecast,
              t.String("forecast", std::string(s.HasWeather() ? "model" : "persistence")));
    if (forecast == "model") {
      s.forecast = GreenForecast::kModel;
    } else if (forecast == "history") {
      s.forecast = GreenForecast::kHistory;
    } else if (forecast == "persistence") {
      s.forecast = GreenForecast::kPersistence;
    } else {
      return t.Error("forecast", "'" + forecast + "' is not one of model, history, persistence");
    }
    if (s.forecast != GreenForecast::kPersistence && !s.HasWeather())
      return t.Error("forecast", "'" + forecast +
                                     "' needs the site's weather (file or feed: the model, or the "
                                     "clear sky the history is scaled by)");
    if (s.forecast == GreenForecast::kHistory && !(s.pv_kwp > 0))
      return t.Error("forecast", "'history' scales PV by its clear sky: the site needs pv_kwp");
    GS_ASSIGN(carbon_forecast, t.String("carbon_forecast", std::string("file")));
    if (carbon_forecast == "file") {
      s.carbon_forecast = CarbonForecast::kFile;
    } else if (carbon_forecast == "history") {
      s.carbon_forecast = CarbonForecast::kHistory;
    } else {
      return t.Error("carbon_forecast", "'" + carbon_forecast + "' is not one of file, history");
    }
    std::vector<Table> sensors;
    GS_ASSIGN(sensors, t.Tables("sensors"));
    for (const Table& st : sensors) {
      GS_RETURN_IF_ERROR(
          st.CheckKnown({"name", "kind", "address", "column", "capacity_kw", "measures"}));
      SensorConfig sensor;
      GS_ASSIGN(sensor.name, ReadName(st));
      GS_ASSIGN(sensor.kind, st.String("kind", std::string("push")));
      if (sensor.kind != "push" && sensor.kind != "mqtt" && sensor.kind != "modbus" &&
          sensor.kind != "replay")
        return st.Error("kind", "'" + sensor.kind + "' is not one of push, mqtt, modbus, replay");
      GS_ASSIGN(sensor.address, st.String("address", std::string()));
      if (sensor.kind != "push" && sensor.address.empty())
        return st.Error("address", "is required for a " + sensor.kind + " sensor");
      if (sensor.kind == "replay") sensor.address = PathBeside(file, sensor.address);
      GS_ASSIGN(sensor.column, st.String("column", std::string("power_w")));
      double sensor_kw = 0;
      GS_ASSIGN(sensor_kw, st.Number("capacity_kw", std::nullopt, 0.001, 1e6));
      sensor.capacity_w = sensor_kw * 1000;
      std::string measures;
      GS_ASSIGN(measures, st.String("measures", std::string("green")));
      if (measures == "green") {
        sensor.measures = Measures::kGreen;
      } else if (measures == "pv") {
        sensor.measures = Measures::kPv;
      } else if (measures == "wind") {
        sensor.measures = Measures::kWind;
      } else {
        return st.Error("measures", "'" + measures + "' is not one of green, pv, wind");
      }
      for (const SensorConfig& other : s.sensors) {
        if (other.name == sensor.name)
          return st.Error("name", "sensor '" + sensor.name + "' is defined twice at this site");
      }
      s.sensors.push_back(sensor);
    }
    c.sites.push_back(std::move(s));
  }

  GS_RETURN_IF_ERROR(ReadLinks(top, c));

  std::vector<Table> hosts;
  GS_ASSIGN(hosts, top.Tables("hosts"));
  for (const Table& t : hosts) {
    GS_RETURN_IF_ERROR(t.CheckKnown({"name", "site", "driver", "address", "peer_uri",
                                     "migration_uri", "shared_paths", "memory_mib"}));
    HostConfig h;
    GS_ASSIGN(h.name, ReadName(t));
    if (c.FindHost(h.name)) return t.Error("name", "host '" + h.name + "' is defined twice");
    GS_ASSIGN(h.site, t.String("site", std::nullopt));
    if (!c.FindSite(h.site)) return t.Error("site", "no site is named '" + h.site + "'");
    GS_ASSIGN(h.driver, t.String("driver", std::nullopt));
    const hypervisor::DriverKind* kind = hypervisor::FindDriverKind(h.driver);
    if (!kind)
      return t.Error("driver", "'" + h.driver + "' is not one of " + hypervisor::DriverKindNames());
    if (!c.driver.empty() && h.driver != c.driver)
      return t.Error("driver", "is '" + h.driver + "' but an earlier host uses '" + c.driver +
                                   "': every host of a service uses the same driver");
    c.driver = h.driver;
    h.runs_at_address = kind->location_is_address;
    GS_ASSIGN(h.address, t.String("address", std::string()));
    if (kind->host_needs_address && h.address.empty())
      return t.Error("address",
                     "is required for a " + h.driver + " host: " + kind->host_address_is);
    GS_ASSIGN(h.peer_uri, t.String("peer_uri", std::string()));
    GS_ASSIGN(h.migration_uri, t.String("migration_uri", std::string()));
    if (!kind->host_has_uris && (!h.peer_uri.empty() || !h.migration_uri.empty()))
      return t.Error(h.peer_uri.empty() ? "migration_uri" : "peer_uri",
                     "is for libvirt hosts, not " + h.driver + " ones");
    GS_ASSIGN(h.shared_paths, t.Strings("shared_paths"));
    if (!kind->host_has_uris && !h.shared_paths.empty())
      return t.Error("shared_paths", "is for libvirt hosts, not " + h.driver + " ones");
    for (const std::string& dir : h.shared_paths) {
      // Compared with disks' paths as text: a "." or ".." component would not match them.
      if (!IsPlainAbsolutePath(dir))
        return t.Error("shared_paths", "'" + dir +
                                           "' is not an absolute path without . or .. (a "
                                           "directory every such host mounts alike)");
    }
    double host_memory = 0;
    GS_ASSIGN(host_memory, t.Number("memory_mib", 0, 0, 1024.0 * 1024 * 1024));
    if (host_memory > 0 && host_memory < 16)
      return t.Error("memory_mib", "must be at least 16, or 0 for no limit of the host's own");
    h.memory_mib = static_cast<int64_t>(host_memory);
    for (const HostConfig& other : c.hosts) {
      if (other.site == h.site && (other.memory_mib > 0) != (h.memory_mib > 0))
        return t.Error("memory_mib", std::string(h.memory_mib > 0 ? "is given" : "is missing") +
                                         " but host '" + other.name + "' of the same site " +
                                         (other.memory_mib > 0 ? "has one" : "has none") +
                                         ": give every host of site '" + h.site +
                                         "' its memory, or none");
      if (kind->addresses_unique && other.address == h.address)
        return t.Error("address",
                       "'" + h.address + "' is already the address of host '" + other.name + "'");
    }
    c.hosts.push_back(std::move(h));
  }

  std::vector<Table> vms;
  GS_ASSIGN(vms, top.Tables("vms"));
  for (const Table& t : vms) {
    GS_RETURN_IF_ERROR(
        t.CheckKnown({"name", "host", "memory_mib", "peak_w", "power_w", "dirty_mb_s",
                      "working_set_mib", "downtime_budget_ms", "address", "disk_gib",
                      "disk_used_gib", "disk_write_mb_s", "storage", "postcopy"}));
    VmConfig v;
    GS_ASSIGN(v.name, ReadName(t));
    if (c.FindVm(v.name)) return t.Error("name", "VM '" + v.name + "' is defined twice");
    GS_ASSIGN(v.host, t.String("host", std::nullopt));
    const HostConfig* home = c.FindHost(v.host);
    if (!home) return t.Error("host", "no host is named '" + v.host + "'");
    double memory = 0, budget_ms = 0;
    GS_ASSIGN(memory, t.Number("memory_mib", std::nullopt, 16, 16 * 1024 * 1024));
    v.memory_mib = static_cast<int64_t>(memory);
    if (home->memory_mib > 0 && v.memory_mib > home->memory_mib)
      return t.Error("memory_mib", "is " + std::to_string(v.memory_mib) + ", more than its host '" +
                                       home->name + "' has (" + std::to_string(home->memory_mib) +
                                       ")");
    GS_ASSIGN(v.peak_power_w, t.Number("peak_w", 100, 1, 1e5));
    GS_ASSIGN(v.power_w, t.Number("power_w", v.peak_power_w, 0, 1e5));
    if (v.power_w > v.peak_power_w) return t.Error("power_w", "is above peak_w");
    GS_ASSIGN(v.dirty_mb_s, t.Number("dirty_mb_s", 0, 0, 1e5));
    double working_set = 0;
    GS_ASSIGN(working_set, t.Number("working_set_mib", -1, -1, memory));
    if (working_set == 0) return t.Error("working_set_mib", "must be > 0, or -1 for all of memory");
    v.working_set_mib = static_cast<int64_t>(working_set);
    GS_ASSIGN(v.address, t.String("address", std::string()));
    if (const hypervisor::DriverKind* kind = hypervisor::FindDriverKind(c.driver);
        kind && kind->vm_needs_ip && v.address.find('/') == std::string::npos)
      return t.Error("address", "is required under the " + c.driver +
                                    " driver, with its prefix length (e.g. 198.18.128.10/16)");
    GS_ASSIGN(budget_ms, t.Number("downtime_budget_ms", 500, 1, 3600e3));
    v.downtime_budget_s = budget_ms / 1000;
    double disk_gib = 0;
    GS_ASSIGN(disk_gib, t.Number("disk_gib", 0, 0, 16384));
    if (disk_gib != std::floor(disk_gib)) return t.Error("disk_gib", "must be a whole number");
    v.disk_gib = static_cast<int64_t>(disk_gib);
    // What a move copies: by default the whole disk, the safe side of the estimate.
    GS_ASSIGN(v.disk_used_gib, t.Number("disk_used_gib", disk_gib, 0, disk_gib));
    GS_ASSIGN(v.disk_write_mb_s, t.Number("disk_write_mb_s", 0, 0, 1e5));
    if (v.disk_write_mb_s > 0 && v.disk_gib == 0)
      return t.Error("disk_write_mb_s", "needs a disk (disk_gib)");
    GS_ASSIGN(v.storage, t.String("storage", std::string("copy")));
    if (v.storage != "copy" && v.storage != "nbd" && v.storage != "iscsi" && v.storage != "nfs")
      return t.Error("storage",
                     "must be \"copy\" (the disk lives on the VM's host and moves with it), or "
                     "\"nbd\", \"iscsi\" or \"nfs\" (shared storage), got \"" +
                         v.storage + "\"");
    if (v.storage != "copy" && v.disk_gib == 0)
      return t.Error("storage", "is " + v.storage + " but the VM has no disk (disk_gib)");
    GS_ASSIGN(v.postcopy, t.Bool("postcopy", false));
    c.vms.push_back(std::move(v));
  }
  if (c.hosts.empty() && !c.vms.empty()) return top.Error("hosts", "VMs need at least one host");
  return c;
}

Result<ServiceConfig> LoadConfig(const std::string& path) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseConfig(*text, path);
}

}  // namespace greenshift::control
