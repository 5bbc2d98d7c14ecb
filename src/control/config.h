// The service's configuration: one TOML file. Sites (location, PV and wind, sensors, weather
// and carbon sources, capacity), hosts per site with their driver and address, VMs with their
// downtime budgets, the policy and its parameters, the loop period, the mode, where the API
// listens and its token. Unknown keys and bad values are errors that name the key.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "placement/policy.h"

namespace greenshift::control {

enum class Mode { kAuto, kApprove, kDryRun };
const char* ModeName(Mode mode);

struct SensorConfig {
  std::string name;
  std::string kind;     // "push" (POSTed to the API), "mqtt", "modbus"
  std::string address;  // mqtt: host:port/topic; modbus: host:port
  double capacity_w = 0;
};

struct SiteConfig {
  std::string name;
  double latitude = 0, longitude = 0;
  double capacity_w = 0;  // IT power the site's hosts take (VM peak power)
  double pv_kwp = 0, pv_tilt_deg = 30, pv_azimuth_deg = 180;
  std::string wind_turbine;  // a windpowerlib turbine type, or empty
  double wind_hub_height_m = 0;
  int wind_count = 0;
  std::string weather;  // a weather file (Open-Meteo JSON, EPW, ...)
  std::string carbon;   // a carbon-intensity CSV
  std::vector<SensorConfig> sensors;
};

struct HostConfig {
  std::string name;
  std::string site;
  std::string driver;   // "qemu", "libvirt", "sim"
  std::string address;  // the driver's: a QMP socket directory, a libvirt URI, ...
};

struct VmConfig {
  std::string name;
  std::string host;  // where it starts
  int64_t memory_mib = 0;
  double peak_power_w = 0;
  double downtime_budget_s = 0.5;
};

struct ServiceConfig {
  std::string file;
  std::string listen = "127.0.0.1";
  int port = 8080;
  std::string token;  // bearer token for mutating endpoints
  std::string database = "greenshift.db";
  Mode mode = Mode::kDryRun;
  double period_s = 60;
  int migrations_per_link = 1;
  std::string policy = "greedy-forecast";
  placement::PolicyOptions policy_options;
  std::vector<SiteConfig> sites;
  std::vector<HostConfig> hosts;
  std::vector<VmConfig> vms;

  const SiteConfig* FindSite(const std::string& name) const;
  const HostConfig* FindHost(const std::string& name) const;
  const VmConfig* FindVm(const std::string& name) const;
};

// Paths in the file are relative to it. Errors: "FILE: key 'sites[1].capacity_kw': why".
Result<ServiceConfig> ParseConfig(const std::string& text, const std::string& file);
Result<ServiceConfig> LoadConfig(const std::string& path);

}  // namespace greenshift::control
