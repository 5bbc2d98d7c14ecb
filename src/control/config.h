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

// What a sensor measures: the forecaster's history method treats PV (scaled by the clear sky)
// and wind (persisted) apart; "green" is a site's total, treated as PV.
enum class Measures { kGreen, kPv, kWind };
const char* MeasuresName(Measures measures);

struct SensorConfig {
  std::string name;
  std::string kind;  // "push" (POSTed to the API), "mqtt", "modbus", "replay"
  // mqtt: host:port/topic; modbus: host:port; replay: a time-series CSV of recorded power
  std::string address;
  std::string column = "power_w";  // replay: the CSV column with the power in W
  double capacity_w = 0;
  Measures measures = Measures::kGreen;
};

// A live feed of a site's weather forecast or carbon intensity (energy/feeds.h), fetched by the
// service on a schedule; `kind` empty: none.
struct FeedConfig {
  std::string kind;  // "open-meteo" (weather); "electricity-maps", "watttime" or "csv" (carbon)
  std::string url;
  // electricity-maps: its API token (token_file, or token_env, default ELECTRICITYMAPS_TOKEN).
  std::string token;
  // watttime: the login (user, or WATTTIME_USER; password_file, or password_env, default
  // WATTTIME_PASSWORD), and where it is (default: the url's origin + /login).
  std::string user, password, login_url;
  double every_s = 3600;     // between fetches
  double stale_after_s = 0;  // the data is stale this long after the last fetch that worked
  bool given() const { return !kind.empty(); }
};

// How every feed is fetched.
struct FeedsConfig {
  std::string cache_dir;  // the last good body of each feed (default: the database's path + .feeds)
  double timeout_s = 20;  // each request
  int retries = 2;        // more tries after one fails for what may pass (a timeout, HTTP 5xx)
  double retry_backoff_s = 5;  // before the first retry; doubled each time
};

// How a site's green power is forecast: "model" (its PV and wind models on the weather file,
// corrected by the sensors), "history" (the sensors' last week against the clear sky, and the
// wind persisted), "persistence" (what the sensors measure now stays).
enum class GreenForecast { kModel, kHistory, kPersistence };
// How its grid carbon intensity is forecast: "file" (the carbon file holds forecasts: read
// ahead), "history" (the last hour moved by yesterday's change over the same hours).
enum class CarbonForecast { kFile, kHistory };

struct SiteConfig {
  std::string name;
  double latitude = 0, longitude = 0;
  double capacity_w = 0;  // IT power the site's hosts take (VM peak power)
  // The array faces the equator unless told otherwise: south (180) north of it, north (0)
  // south of it.
  double pv_kwp = 0, pv_tilt_deg = 30, pv_azimuth_deg = 180;
  std::string wind_turbine;  // a turbine type of `wind_curves`, or empty
  std::string wind_curves;   // power_curves.csv (Open Energy Database layout)
  double wind_hub_height_m = 0;
  int wind_count = 0;
  std::string weather;  // a weather file (Open-Meteo JSON, EPW, ...); empty: forecasts persist
                        // what the sensors measure
  std::string carbon;   // a carbon-intensity CSV; empty: `carbon_g_per_kwh` all the time
  FeedConfig weather_feed, carbon_feed;  // fetched live, merged over the files (if any)
  double carbon_g_per_kwh = 400;
  // Round trip from the site to the shared storage, ms (0: next to it): how fast a VM with a
  // shared disk can write it there (placement::Problem::remote_disk_in_flight_bytes).
  double storage_rtt_ms = 0;
  GreenForecast forecast = GreenForecast::kPersistence;  // default: model when weather is given
  CarbonForecast carbon_forecast = CarbonForecast::kFile;
  std::vector<SensorConfig> sensors;
  bool HasWeather() const { return !weather.empty() || weather_feed.given(); }
};

struct HostConfig {
  std::string name;
  std::string site;
  std::string driver;   // a kind of hypervisor/kinds.h (every host of a service uses the same)
  std::string address;  // qemu: the lab site its QEMUs run in (`greenshift lab up`); libvirt: URI
  // libvirt: how other hosts' daemons reach this one (default: `address`), and where the
  // migration stream goes (default: libvirt's choice, the host's name).
  std::string peer_uri, migration_uri;
  // libvirt: directories whose files every host that lists them reaches as the same files (NFS,
  // a cluster file system): disks there are not copied when a VM moves between such hosts;
  // every other file disk is (libvirt::LibvirtHost::shared_paths). Absolute paths.
  std::vector<std::string> shared_paths;
  // The memory its VMs may take, MiB (0: no limit of its own). A site with several hosts sends
  // a VM to the least loaded one that has room; every host of a site has it, or none does.
  int64_t memory_mib = 0;
  bool runs_at_address = false;  // the driver knows this host by its address (qemu), not its name
  // Where the driver runs this host's VMs: the lab site (qemu), the host itself (sim).
  const std::string& DriverSite() const { return runs_at_address ? address : name; }
};

struct VmConfig {
  std::string name;
  std::string host;  // where it starts
  int64_t memory_mib = 0;
  double peak_power_w = 0;       // what it takes of a site's capacity
  double power_w = 0;            // what it draws on average (default: peak_power_w)
  double dirty_mb_s = 0;         // how fast it rewrites memory (the guest's workload under qemu)
  int64_t working_set_mib = -1;  // the most memory it rewrites (-1: all of it)
  double downtime_budget_s = 0.5;
  std::string address;  // qemu: the address it keeps everywhere, e.g. 198.18.128.10/16
  // Its disk, 0 for none; how much of it holds data (what a move copies) and how fast the guest
  // writes it. Where it lives: "copy" (on its host, copied along when it moves) or shared
  // storage every site reaches, "nbd", "iscsi" or "nfs" (under qemu: the lab's storage, lab up
  // --storage), not copied.
  int64_t disk_gib = 0;
  double disk_used_gib = 0;
  double disk_write_mb_s = 0;
  std::string storage = "copy";
  // May switch to post-copy when pre-copy is stuck (a guest that rewrites memory as fast as the
  // link carries it moves only so). Off by default: after the switch a destination that dies
  // takes the VM with it.
  bool postcopy = false;
};

// A link between two sites, both ways (sites without one get the service's `link_mbit`, no
// round trip, one L2 segment).
struct LinkConfig {
  std::string a, b;   // site names
  double mbit = 0;    // what a migration stream's link carries
  double rtt_ms = 0;  // round trip between the sites: a TCP stream's window and slow start
  // How a VM keeps its address across it: "l2" (one segment), "bgp" (its /32 announced where it
  // runs) or "vxlan" (an overlay joining the sites' bridges); under qemu, the lab's network.
  std::string network = "l2";
};

struct ServiceConfig {
  std::string file;
  std::string listen = "127.0.0.1";
  int port = 8080;
  // Bearer token for mutating endpoints: `token`, or read from `token_file`, or from the
  // environment variable GREENSHIFT_TOKEN; blank and placeholder tokens are refused.
  std::string token;
  std::string token_source;  // where it came from ("token", "token_file PATH", "GREENSHIFT_TOKEN")
  std::string tls_cert, tls_key;  // PEM files: HTTPS when both are set
  int max_connections = 256;      // open API connections at once; more are refused
  std::string database = "greenshift.db";
  Mode mode = Mode::kDryRun;
  double period_s = 60;  // one loop, and one planning slot, in the service's clock
  int migrations_per_link = 1;
  double link_mbit = 1000;  // what a migration stream achieves between two sites
  // The most a migration stream keeps in flight (the hosts' TCP socket buffers: Linux's
  // default tcp_wmem allows 4 MiB): over a long round trip this, not the link, bounds it.
  double stream_window_mib = 4;
  double migration_timeout_s = 300;
  int downtime_limit_ms = 20;  // the migrations' downtime target (0: each VM's downtime budget)
  bool auto_converge = true;   // throttle a guest that does not converge
  // Before a live move the driver samples the VM's dirty rate for this long, and the move is
  // priced on it (QEMU: calc-dirty-rate, page sampling); 0: moves are priced on `dirty_mb_s`.
  int dirty_rate_sample_s = 1;
  double energy_per_byte_j = 2e-7;  // migration energy per byte sent, at each end
  double retention_days = 30;       // readings, forecasts and events older than this are pruned
  std::string lab = "gs";           // qemu hosts: the lab whose sites they are
  // Replay: the service's clock starts at this time (UTC seconds; 0: real time) and runs
  // `replay_speed` times as fast as the wall clock.
  int64_t replay_start_utc_s = 0;
  double replay_speed = 1;
  std::string driver;  // of every host (a kind of hypervisor/kinds.h)
  std::string policy = "greedy-forecast";
  placement::PolicyOptions policy_options;
  FeedsConfig feeds;
  std::vector<SiteConfig> sites;
  std::vector<HostConfig> hosts;
  std::vector<VmConfig> vms;
  std::vector<LinkConfig> links;
  // What is allowed but probably a mistake ("sites[1].pv_azimuth: 0 faces the pole at latitude
  // 51.5 ..."): `serve` logs each at start, `serve --check-config` prints them.
  std::vector<std::string> warnings;

  const SiteConfig* FindSite(const std::string& name) const;
  // The link between two sites, either way round; nullptr when none is configured.
  const LinkConfig* FindLink(const std::string& a, const std::string& b) const;
  // How a VM keeps its address between two sites: their link's network, "l2" without one.
  std::string NetworkBetween(const std::string& a, const std::string& b) const;
  const HostConfig* FindHost(const std::string& name) const;
  const VmConfig* FindVm(const std::string& name) const;
};

// Paths in the file are relative to it. Errors: "FILE: key 'sites[1].capacity_kw': why".
Result<ServiceConfig> ParseConfig(const std::string& text, const std::string& file);
Result<ServiceConfig> LoadConfig(const std::string& path);

}  // namespace greenshift::control
