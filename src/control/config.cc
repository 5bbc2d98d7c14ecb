#include "control/config.h"

#include <toml++/toml.h>

#include <cmath>
#include <set>
#include <sstream>

#include "core/files.h"
#include "energy/csv.h"

namespace greenshift::control {

namespace {

// One TOML table and its dotted path in the file: typed getters that name the key in errors,
// and a check that the table holds no key it does not know.
class Table {
 public:
  Table(const toml::table& table, std::string path, const std::string& file)
      : table_(&table), path_(std::move(path)), file_(&file) {}

  Status Error(const std::string& key, const std::string& why) const {
    return Status::Error(*file_ + ": key '" + Key(key) + "': " + why);
  }
  std::string Key(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  Status CheckKnown(std::initializer_list<const char*> known) const {
    std::set<std::string> allowed(known.begin(), known.end());
    for (const auto& [key, unused] : *table_) {
      if (!allowed.count(std::string(key.str()))) {
        std::string list;
        for (const std::string& k : allowed) list += (list.empty() ? "" : ", ") + k;
        return Error(std::string(key.str()), "unknown key (known here: " + list + ")");
      }
    }
    return Status::Ok();
  }

  Result<std::string> String(const char* key, std::optional<std::string> fallback) const {
    const toml::node* node = table_->get(key);
    if (node == nullptr) {
      if (!fallback) return Error(key, "is required");
      return *fallback;
    }
    if (!node->is_string()) return Error(key, "must be a string");
    return std::string(*node->value<std::string>());
  }

  Result<double> Number(const char* key, std::optional<double> fallback, double lo,
                        double hi) const {
    const toml::node* node = table_->get(key);
    if (node == nullptr) {
      if (!fallback) return Error(key, "is required");
      return *fallback;
    }
    std::optional<double> value = node->value<double>();
    if (!value || !(node->is_integer() || node->is_floating_point()))
      return Error(key, "must be a number");
    if (!std::isfinite(*value) || *value < lo || *value > hi) {
      std::ostringstream range;
      range << "= " << *value << " is outside " << lo << " .. " << hi;
      return Error(key, range.str());
    }
    return *value;
  }

  // An array of tables (absent: empty).
  Result<std::vector<Table>> Tables(const char* key) const {
    std::vector<Table> out;
    const toml::node* node = table_->get(key);
    if (node == nullptr) return out;
    const toml::array* array = node->as_array();
    if (array == nullptr) return Error(key, "must be an array of tables ([[" + Key(key) + "]])");
    for (size_t i = 0; i < array->size(); ++i) {
      const toml::table* t = (*array)[i].as_table();
      if (t == nullptr) return Error(key, "must be an array of tables ([[" + Key(key) + "]])");
      out.emplace_back(*t, Key(key) + "[" + std::to_string(i) + "]", *file_);
    }
    return out;
  }

  // A sub-table (absent: an empty one).
  Result<Table> Sub(const char* key) const {
    const toml::node* node = table_->get(key);
    if (node == nullptr) return Table(Empty(), Key(key), *file_);
    if (!node->is_table()) return Error(key, "must be a table ([" + Key(key) + "])");
    return Table(*node->as_table(), Key(key), *file_);
  }

 private:
  static const toml::table& Empty() {
    static const toml::table empty;
    return empty;
  }
  const toml::table* table_;
  std::string path_;
  const std::string* file_;
};

// The table's required "name": letters, digits, '-', '_' and '.'.
Result<std::string> ReadName(const Table& t) {
  std::string name;
  GS_ASSIGN(name, t.String("name", std::nullopt));
  if (name.empty()) return t.Error("name", "must not be empty");
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
      return t.Error("name", "'" + name + "' may only hold letters, digits, '-', '_' and '.'");
  }
  return name;
}

}  // namespace

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
  toml::table root;
  try {
    root = toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    std::ostringstream why;
    why << file << ": line " << e.source().begin.line << ", column " << e.source().begin.column
        << ": " << e.description();
    return Status::Error(why.str());
  }
  ServiceConfig c;
  c.file = file;
  const Table top(root, "", file);
  GS_RETURN_IF_ERROR(top.CheckKnown({"service", "policy", "sites", "hosts", "vms"}));

  Table service = top.Sub("service").value();
  GS_RETURN_IF_ERROR(service.CheckKnown({"listen", "port", "token", "database", "mode", "period_s",
                                         "migrations_per_link", "link_mbit", "migration_timeout_s",
                                         "lab", "replay_start", "replay_speed"}));
  GS_ASSIGN(c.listen, service.String("listen", std::string("127.0.0.1")));
  double port = 0, per_link = 0;
  GS_ASSIGN(port, service.Number("port", 8080, 0, 65535));
  c.port = static_cast<int>(port);
  GS_ASSIGN(c.token, service.String("token", std::nullopt));
  if (c.token.size() < 16)
    return service.Error("token", "must be at least 16 characters (it guards every change)");
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
  GS_ASSIGN(c.migration_timeout_s, service.Number("migration_timeout_s", 300, 1, 86400));
  GS_ASSIGN(c.lab, service.String("lab", std::string("gs")));
  std::string replay_start;
  GS_ASSIGN(replay_start, service.String("replay_start", std::string()));
  if (!replay_start.empty()) {
    Result<int64_t> start =
        energy::ParseIsoTime(replay_start, energy::CsvPlace{file, 0, "replay_start"});
    if (!start.ok())
      return service.Error("replay_start", "'" + replay_start + "' is not an ISO time with a zone");
    c.replay_start_utc_s = *start;
  }
  GS_ASSIGN(c.replay_speed, service.Number("replay_speed", 1, 0.001, 1e6));
  if (replay_start.empty() && c.replay_speed != 1)
    return service.Error("replay_speed", "needs replay_start (real time runs at speed 1)");

  Table policy = top.Sub("policy").value();
  GS_RETURN_IF_ERROR(policy.CheckKnown({"name", "min_dwell_hours", "horizon_hours", "hysteresis_kg",
                                        "hysteresis_fraction", "optimal_time_limit_s"}));
  GS_ASSIGN(c.policy, policy.String("name", std::string("greedy-forecast")));
  double dwell = 0, horizon = 0;
  GS_ASSIGN(dwell, policy.Number("min_dwell_hours", 4, 0, 24 * 30));
  GS_ASSIGN(horizon, policy.Number("horizon_hours", 2, 0, 24 * 7));
  placement::PolicyOptions& po = c.policy_options;
  GS_ASSIGN(po.hysteresis_kg, policy.Number("hysteresis_kg", 0.001, 0, 1e6));
  GS_ASSIGN(po.hysteresis_fraction, policy.Number("hysteresis_fraction", 0.1, 0, 10));
  GS_ASSIGN(po.optimal_time_limit_s, policy.Number("optimal_time_limit_s", 10, 0.1, 3600));
  // The loop's period is the policy's slot.
  po.min_dwell_slots = std::max<int64_t>(1, std::llround(dwell * 3600 / c.period_s));
  po.horizon_slots =
      static_cast<size_t>(std::max<int64_t>(1, std::llround(horizon * 3600 / c.period_s)));
  {
    Result<std::unique_ptr<placement::Policy>> made = placement::MakePolicy(c.policy, po);
    if (!made.ok()) return policy.Error("name", made.error());
  }

  std::vector<Table> sites;
  GS_ASSIGN(sites, top.Tables("sites"));
  if (sites.empty()) return top.Error("sites", "at least one [[sites]] is required");
  for (const Table& t : sites) {
    GS_RETURN_IF_ERROR(
        t.CheckKnown({"name", "latitude", "longitude", "capacity_kw", "pv_kwp", "pv_tilt",
                      "pv_azimuth", "wind_turbine", "wind_curves", "wind_hub_height_m",
                      "wind_count", "weather", "carbon", "carbon_g_per_kwh", "sensors"}));
    SiteConfig s;
    GS_ASSIGN(s.name, ReadName(t));
    if (c.FindSite(s.name)) return t.Error("name", "site '" + s.name + "' is defined twice");
    GS_ASSIGN(s.latitude, t.Number("latitude", std::nullopt, -90, 90));
    GS_ASSIGN(s.longitude, t.Number("longitude", std::nullopt, -180, 180));
    double capacity_kw = 0, count = 0;
    GS_ASSIGN(capacity_kw, t.Number("capacity_kw", std::nullopt, 0.001, 1e6));
    s.capacity_w = capacity_kw * 1000;
    GS_ASSIGN(s.pv_kwp, t.Number("pv_kwp", 0, 0, 1e6));
    GS_ASSIGN(s.pv_tilt_deg, t.Number("pv_tilt", 30, 0, 90));
    GS_ASSIGN(s.pv_azimuth_deg, t.Number("pv_azimuth", 180, 0, 360));
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
    std::vector<Table> sensors;
    GS_ASSIGN(sensors, t.Tables("sensors"));
    for (const Table& st : sensors) {
      GS_RETURN_IF_ERROR(st.CheckKnown({"name", "kind", "address", "column", "capacity_kw"}));
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
      for (const SensorConfig& other : s.sensors) {
        if (other.name == sensor.name)
          return st.Error("name", "sensor '" + sensor.name + "' is defined twice at this site");
      }
      s.sensors.push_back(sensor);
    }
    c.sites.push_back(std::move(s));
  }

  std::vector<Table> hosts;
  GS_ASSIGN(hosts, top.Tables("hosts"));
  for (const Table& t : hosts) {
    GS_RETURN_IF_ERROR(t.CheckKnown({"name", "site", "driver", "address"}));
    HostConfig h;
    GS_ASSIGN(h.name, ReadName(t));
    if (c.FindHost(h.name)) return t.Error("name", "host '" + h.name + "' is defined twice");
    GS_ASSIGN(h.site, t.String("site", std::nullopt));
    if (!c.FindSite(h.site)) return t.Error("site", "no site is named '" + h.site + "'");
    GS_ASSIGN(h.driver, t.String("driver", std::nullopt));
    if (h.driver == "libvirt")
      return t.Error("driver", "libvirt is not in this build of greenshift; use qemu or sim");
    if (h.driver != "qemu" && h.driver != "sim")
      return t.Error("driver", "'" + h.driver + "' is not one of qemu, sim");
    if (!c.driver.empty() && h.driver != c.driver)
      return t.Error("driver", "is '" + h.driver + "' but an earlier host uses '" + c.driver +
                                   "': every host of a service uses the same driver");
    c.driver = h.driver;
    GS_ASSIGN(h.address, t.String("address", std::string()));
    if (h.driver == "qemu" && h.address.empty())
      return t.Error("address", "is required for a qemu host: the lab site it runs in");
    for (const HostConfig& other : c.hosts) {
      if (h.driver == "qemu" && other.address == h.address)
        return t.Error("address",
                       "lab site '" + h.address + "' is already host '" + other.name + "'");
    }
    c.hosts.push_back(std::move(h));
  }

  std::vector<Table> vms;
  GS_ASSIGN(vms, top.Tables("vms"));
  for (const Table& t : vms) {
    GS_RETURN_IF_ERROR(t.CheckKnown({"name", "host", "memory_mib", "peak_w", "power_w",
                                     "dirty_mb_s", "downtime_budget_ms", "address"}));
    VmConfig v;
    GS_ASSIGN(v.name, ReadName(t));
    if (c.FindVm(v.name)) return t.Error("name", "VM '" + v.name + "' is defined twice");
    GS_ASSIGN(v.host, t.String("host", std::nullopt));
    if (!c.FindHost(v.host)) return t.Error("host", "no host is named '" + v.host + "'");
    double memory = 0, budget_ms = 0;
    GS_ASSIGN(memory, t.Number("memory_mib", std::nullopt, 16, 16 * 1024 * 1024));
    v.memory_mib = static_cast<int64_t>(memory);
    GS_ASSIGN(v.peak_power_w, t.Number("peak_w", 100, 1, 1e5));
    GS_ASSIGN(v.power_w, t.Number("power_w", v.peak_power_w, 0, 1e5));
    if (v.power_w > v.peak_power_w) return t.Error("power_w", "is above peak_w");
    GS_ASSIGN(v.dirty_mb_s, t.Number("dirty_mb_s", 0, 0, 1e5));
    GS_ASSIGN(v.address, t.String("address", std::string()));
    if (c.driver == "qemu" && v.address.find('/') == std::string::npos)
      return t.Error("address",
                     "is required under the qemu driver, with its prefix length "
                     "(e.g. 198.18.128.10/16)");
    GS_ASSIGN(budget_ms, t.Number("downtime_budget_ms", 500, 1, 3600e3));
    v.downtime_budget_s = budget_ms / 1000;
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
