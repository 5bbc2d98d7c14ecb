#include "lab/lab.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <set>
#include <utility>

#include <signal.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/files.h"
#include "core/names.h"
#include "core/process.h"
#include "lab/lab_driver.h"
#include "lab/libvirt_hosts.h"
#include "lab/routing.h"
#include "lab/storage.h"

namespace greenshift::lab {

using nlohmann::json;

namespace {

constexpr const char* kClientAddress = "198.18.0.2";

std::string StatePath(const std::string& run_dir) {
  return run_dir + "/lab.json";
}

Status SaveState(const LabState& state) {
  GS_RETURN_IF_ERROR(MakeDirs(state.run_dir));
  return WriteFileAtomic(StatePath(state.run_dir), ToJson(state).dump(2) + "\n");
}

bool NetnsExists(const std::string& name) {
  return PathExists("/run/netns/" + name);
}

// Shapes one end of a link's bandwidth, or removes its shaping (0 = none), with a token bucket
// (tbf), which every kernel has. A delay is the relay's business (relay.h): this kernel has no
// netem.
Status Shape(const std::string& netns, const std::string& interface, int bandwidth_mbit) {
  (void)RunCommand({"tc", "qdisc", "del", "dev", interface, "root"}, RunOptions{netns});
  if (bandwidth_mbit <= 0) return Status::Ok();
  // Bucket of 4 ms worth of bytes (at least 2 full frames), queue up to 100 ms.
  const int64_t bytes_per_s = int64_t{bandwidth_mbit} * 1000 * 1000 / 8;
  const int64_t burst = std::max<int64_t>(bytes_per_s / 250, 2 * 1514);
  return RunChecked(
      {"tc", "qdisc", "replace", "dev", interface, "root", "tbf", "rate",
       std::to_string(bandwidth_mbit) + "mbit", "burst", std::to_string(burst), "latency", "100ms"},
      RunOptions{netns});
}

// A delayed link's two ends in the WAN namespace, where its relay runs: r<P>a (a's side) and
// r<P>b, P being the link's subnet 198.19.P.0/24.
std::pair<std::string, std::string> RelayInterfaces(const LabLink& link) {
  const size_t first = link.a_address.find('.', link.a_address.find('.') + 1) + 1;
  const std::string subnet = link.a_address.substr(first, link.a_address.find('.', first) - first);
  return {"r" + subnet + "a", "r" + subnet + "b"};
}

std::string RelayPath(const LabState& state, const LabLink& link, const std::string& suffix) {
  return state.run_dir + "/relays/" + link.a + "-" + link.b + "." + suffix;
}

// The pid of the link's relay when it runs, else 0 (a pid file can outlive its process, and
// its number be reused).
pid_t RelayPid(const LabState& state, const LabLink& link) {
  Result<std::string> text = ReadFile(RelayPath(state, link, "pid"));
  if (!text.ok()) return 0;
  const pid_t pid = static_cast<pid_t>(std::atoi(text->c_str()));
  if (pid <= 0 || !ProcessAlive(pid)) return 0;
  Result<std::string> cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
  if (!cmdline.ok() || cmdline->find(RelayPath(state, link, "pid")) == std::string::npos) return 0;
  return pid;
}

// The delay file a link's relay reads when it starts and on SIGHUP.
Status WriteRelayDelay(const LabState& state, const LabLink& link) {
  GS_RETURN_IF_ERROR(MakeDirs(state.run_dir + "/relays"));
  char delay[32];
  std::snprintf(delay, sizeof delay, "%.3f\n", link.delay_ms);
  return WriteFileAtomic(RelayPath(state, link, "delay"), delay);
}

Status StartRelay(const LabState& state, const LabLink& link) {
  if (RelayPid(state, link) > 0) return Status::Ok();
  GS_RETURN_IF_ERROR(WriteRelayDelay(state, link));
  char delay[32];
  std::snprintf(delay, sizeof delay, "%.3f", link.delay_ms);
  // The relay is this program's `lab relay`.
  char self[4096];
  const ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
  if (length <= 0)
    return Status::Error("cannot find this program (/proc/self/exe) to run the relay");
  self[length] = '\0';
  const auto [a_end, b_end] = RelayInterfaces(link);
  return RunChecked({std::string(self), "lab", "relay", "--a", a_end, "--b", b_end, "--delay-ms",
                     delay, "--delay-file", RelayPath(state, link, "delay"), "--stats",
                     RelayPath(state, link, "stats"), "--pid-file", RelayPath(state, link, "pid"),
                     "--log", RelayPath(state, link, "log")},
                    RunOptions{state.wan_netns, std::chrono::seconds(10)})
      .Context("the delay relay of link " + link.a + " <-> " + link.b);
}

void StopRelay(const LabState& state, const LabLink& link) {
  if (const pid_t pid = RelayPid(state, link); pid > 0)
    TerminateProcess(pid, std::chrono::seconds(2));
}

// What a delayed link holds on the wire: its bandwidth x round trip (an unlimited link counted
// as 1 Gbit/s); 0 undelayed.
int64_t BytesInFlight(const LabLink& link) {
  if (link.delay_ms <= 0) return 0;
  const double bits_per_s = (link.bandwidth_mbit > 0 ? link.bandwidth_mbit : 1000) * 1e6;
  return static_cast<int64_t>(bits_per_s / 8 * 2 * link.delay_ms / 1000);
}

// Socket buffers in a site's namespace, from the links it has. Undelayed, the migration stream in
// flight between two sites is bounded to 256 KiB: QEMU counts a page as sent once it is in the
// socket, and with Linux's default buffers (up to 4 MiB send plus 32 MiB receive) the destination
// lagged up to 100 ms behind when the source stopped the guest, pause the guest suffers
// (measured 22-133 ms paused; 9-11 ms with this bound; docs/lab.md). Over a delayed link that
// bound would cap the stream at 256 KiB per round trip (31 Mbit/s at 40 ms RTT, measured): the
// buffers grow by the link's bandwidth x round trip, what is on the wire rather than queued
// (an unlimited link counted as 1 Gbit/s), so the standing queue stays 256 KiB. The receive
// side gets twice the in-flight part: Linux advertises about half its buffer as window.
// Over a delayed link the sockets also start at that size rather than 64 KiB: the receiver's
// window otherwise grows from 64 KiB by autotuning, one round trip at a time (with the initial
// window below: 1 Gbit/s over 80 ms migrated in 1.45 s instead of 2.1 s).
Status SizeSocketBuffers(const LabState& state, const LabSite& site) {
  constexpr int64_t kQueueBytes = 256 << 10;
  int64_t in_flight = 0;
  for (const LabLink& link : state.links) {
    if (link.a != site.name && link.b != site.name) continue;
    in_flight = std::max(in_flight, BytesInFlight(link));
  }
  const int64_t send = std::min<int64_t>(kQueueBytes + in_flight, 256 << 20);
  const int64_t receive = std::min<int64_t>(kQueueBytes + 2 * in_flight, 512 << 20);
  const std::string initial_send = std::to_string(in_flight > 0 ? send : 65536);
  const std::string initial_receive = std::to_string(in_flight > 0 ? receive : 65536);
  return RunChecked(
      {"sysctl", "-q", "-w", "net.ipv4.tcp_wmem=4096 " + initial_send + " " + std::to_string(send),
       "net.ipv4.tcp_rmem=4096 " + initial_receive + " " + std::to_string(receive)},
      RunOptions{site.netns});
}

// The routes between two nodes' migration addresses over their link. Over a delayed link a
// stream starts with half a round trip's worth in flight (initcwnd, and initrwnd for the
// receiver) rather than slow start's 10 segments, which at 1 Gbit/s over 80 ms takes about ten
// round trips to fill the link: the whole memory copy of a small guest lasts as long. The
// migration network is the operator's own; docs/lab.md says how to do the same on real hosts.
Status RouteMigration(const LabState& state, const LabLink& link) {
  const LabSite* a = FindNode(state, link.a);
  const LabSite* b = FindNode(state, link.b);
  std::vector<std::string> window;
  if (const int64_t segments = BytesInFlight(link) / 2 / 1448; segments > 10) {
    const std::string n = std::to_string(std::min<int64_t>(segments, 10000));
    window = {"initcwnd", n, "initrwnd", n};
  }
  std::vector<std::string> to_b = {"route", "replace", b->migration_address + "/32", "via",
                                   link.b_address};
  std::vector<std::string> to_a = {"route", "replace", a->migration_address + "/32", "via",
                                   link.a_address};
  to_b.insert(to_b.end(), window.begin(), window.end());
  to_a.insert(to_a.end(), window.begin(), window.end());
  GS_RETURN_IF_ERROR(Ip(a->netns, to_b));
  return Ip(b->netns, to_a);
}

// Builds the link between two nodes (sites, or a site and the storage) on its subnet, each
// routing the other's migration address over it: a shaped veth, or, when the link has a delay,
// a veth from each into the WAN namespace and a relay between those.
Status PlumbLink(const LabState& state, const LabLink& link) {
  const LabSite* a = FindNode(state, link.a);
  const LabSite* b = FindNode(state, link.b);
  if (link.delay_ms > 0) {
    const auto [a_end, b_end] = RelayInterfaces(link);
    GS_RETURN_IF_ERROR(Ip(a->netns, {"link", "add", link.a_interface, "type", "veth", "peer",
                                     "name", a_end, "netns", state.wan_netns}));
    GS_RETURN_IF_ERROR(Ip(b->netns, {"link", "add", link.b_interface, "type", "veth", "peer",
                                     "name", b_end, "netns", state.wan_netns}));
    for (const std::string& end : {a_end, b_end}) {
      // No address of their own, and no IPv6 chatter of their own into the link.
      GS_RETURN_IF_ERROR(Ip(state.wan_netns, {"link", "set", end, "addrgenmode", "none"}));
      GS_RETURN_IF_ERROR(Ip(state.wan_netns, {"link", "set", end, "up"}));
    }
  } else {
    GS_RETURN_IF_ERROR(Ip(a->netns, {"link", "add", link.a_interface, "type", "veth", "peer",
                                     "name", link.b_interface, "netns", b->netns}));
  }
  GS_RETURN_IF_ERROR(
      Ip(a->netns, {"addr", "add", link.a_address + "/24", "dev", link.a_interface}));
  GS_RETURN_IF_ERROR(
      Ip(b->netns, {"addr", "add", link.b_address + "/24", "dev", link.b_interface}));
  if (state.network == kNetworkVxlan) {
    // The overlay crosses site-to-site links with its own headers on a guest's full frame.
    const std::string mtu = std::to_string(kOverlayLinkMtu);
    GS_RETURN_IF_ERROR(Ip(a->netns, {"link", "set", link.a_interface, "mtu", mtu}));
    GS_RETURN_IF_ERROR(Ip(b->netns, {"link", "set", link.b_interface, "mtu", mtu}));
    if (link.delay_ms > 0) {
      const auto [a_end, b_end] = RelayInterfaces(link);
      for (const std::string& end : {a_end, b_end})
        GS_RETURN_IF_ERROR(Ip(state.wan_netns, {"link", "set", end, "mtu", mtu}));
    }
  }
  GS_RETURN_IF_ERROR(Ip(a->netns, {"link", "set", link.a_interface, "up"}));
  GS_RETURN_IF_ERROR(Ip(b->netns, {"link", "set", link.b_interface, "up"}));
  GS_RETURN_IF_ERROR(RouteMigration(state, link));
  GS_RETURN_IF_ERROR(Shape(a->netns, link.a_interface, link.bandwidth_mbit));
  GS_RETURN_IF_ERROR(Shape(b->netns, link.b_interface, link.bandwidth_mbit));
  if (state.network == kNetworkVxlan && link.delay_ms > 0) {
    // The relay reads frames with their virtio-net header, which has no way to say "UDP tunnel":
    // an overlay frame still to be cut into segments (measured: the relay could not send them
    // on, 0.5 Mbit/s through it) is cut by the site's kernel before it leaves instead.
    for (const auto& [netns, interface] :
         {std::pair{a->netns, link.a_interface}, std::pair{b->netns, link.b_interface}}) {
      GS_RETURN_IF_ERROR(RunChecked({"ethtool", "-K", interface, "tx-udp_tnl-segmentation", "off",
                                     "tx-udp_tnl-csum-segmentation", "off"},
                                    RunOptions{netns})
                             .Context("ethtool (scripts/setup.sh installs it)"));
    }
  }
  if (link.delay_ms > 0) GS_RETURN_IF_ERROR(StartRelay(state, link));
  return Status::Ok();
}

// Undoes PlumbLink: the relay stopped, the veths gone (removing one end removes its peer).
Status UnplumbLink(const LabState& state, const LabLink& link) {
  StopRelay(state, link);
  GS_RETURN_IF_ERROR(Ip(FindNode(state, link.a)->netns, {"link", "del", link.a_interface}));
  if (link.delay_ms > 0)
    GS_RETURN_IF_ERROR(Ip(FindNode(state, link.b)->netns, {"link", "del", link.b_interface}));
  return Status::Ok();
}

Status CheckRoot(const std::string& what) {
  if (!IsRoot()) {
    return Status::Error(what +
                         " needs root (it creates network namespaces and taps): run it with sudo");
  }
  return Status::Ok();
}

Result<LabLink*> FindLink(LabState& state, const std::string& a, const std::string& b) {
  for (LabLink& link : state.links) {
    if ((link.a == a && link.b == b) || (link.a == b && link.b == a)) return &link;
  }
  return Status::Error("lab " + state.name + " has no link between sites '" + a + "' and '" + b +
                       "'");
}

}  // namespace

std::string WanPort(const std::string& site) {
  return "w-" + site;
}

const LabSite* FindSite(const LabState& state, const std::string& name) {
  for (const LabSite& site : state.sites) {
    if (site.name == name) return &site;
  }
  return nullptr;
}

const LabSite* FindNode(const LabState& state, const std::string& name) {
  if (state.has_storage && name == kStorageNode) return &state.storage;
  return FindSite(state, name);
}

std::vector<std::string> DefaultSiteNames(int count) {
  std::vector<std::string> names;
  for (int i = 0; i < count; ++i) {
    std::string name;
    for (int n = i;; n = n / 26 - 1) {
      name.insert(name.begin(), static_cast<char>('a' + n % 26));
      if (n < 26) break;
    }
    names.push_back(name);
  }
  return names;
}

std::string RunDirFor(const LabConfig& config) {
  return config.run_dir_root + "/" + config.name;
}

json ToJson(const LabState& state) {
  json sites = json::array();
  for (const LabSite& site : state.sites) {
    sites.push_back({{"name", site.name},
                     {"netns", site.netns},
                     {"bridge", site.bridge},
                     {"migration_address", site.migration_address}});
  }
  json links = json::array();
  for (const LabLink& link : state.links) {
    links.push_back({{"a", link.a},
                     {"b", link.b},
                     {"a_interface", link.a_interface},
                     {"b_interface", link.b_interface},
                     {"a_address", link.a_address},
                     {"b_address", link.b_address},
                     {"bandwidth_mbit", link.bandwidth_mbit},
                     {"delay_ms", link.delay_ms}});
  }
  return {{"lab", state.name},
          {"hypervisor", state.hypervisor},
          {"network", state.network},
          {"run_dir", state.run_dir},
          {"disk_dir", state.disk_dir},
          {"sites", sites},
          {"links", links},
          {"storage", state.has_storage ? json{{"netns", state.storage.netns},
                                               {"address", state.storage.migration_address}}
                                        : json(nullptr)},
          {"wan_netns", state.wan_netns},
          {"client", {{"netns", state.client_netns}, {"address", state.client_address}}},
          {"created_namespaces", state.created_namespaces},
          {"created_at", state.created_at}};
}

Result<LabState> LabStateFromJson(const json& j) {
  try {
    LabState state;
    state.name = j.at("lab").get<std::string>();
    state.hypervisor = j.value("hypervisor", std::string("qemu"));
    state.network = j.value("network", std::string(kNetworkL2));
    state.run_dir = j.at("run_dir").get<std::string>();
    state.disk_dir = j.value("disk_dir", state.run_dir + "/disks");
    for (const json& s : j.at("sites")) {
      LabSite site;
      site.name = s.at("name").get<std::string>();
      site.netns = s.at("netns").get<std::string>();
      site.bridge = s.at("bridge").get<std::string>();
      site.migration_address = s.at("migration_address").get<std::string>();
      state.sites.push_back(site);
    }
    for (const json& l : j.at("links")) {
      LabLink link;
      link.a = l.at("a").get<std::string>();
      link.b = l.at("b").get<std::string>();
      link.a_interface = l.at("a_interface").get<std::string>();
      link.b_interface = l.at("b_interface").get<std::string>();
      link.a_address = l.at("a_address").get<std::string>();
      link.b_address = l.at("b_address").get<std::string>();
      link.bandwidth_mbit = l.at("bandwidth_mbit").get<int>();
      link.delay_ms = l.at("delay_ms").get<double>();
      state.links.push_back(link);
    }
    if (j.contains("storage") && j["storage"].is_object()) {
      state.has_storage = true;
      state.storage.name = kStorageNode;
      state.storage.netns = j["storage"].at("netns").get<std::string>();
      state.storage.migration_address = j["storage"].at("address").get<std::string>();
    }
    state.wan_netns = j.at("wan_netns").get<std::string>();
    state.client_netns = j.at("client").at("netns").get<std::string>();
    state.client_address = j.at("client").at("address").get<std::string>();
    state.created_namespaces = j.at("created_namespaces").get<std::vector<std::string>>();
    state.created_at = j.value("created_at", std::string());
    return state;
  } catch (const json::exception& e) {
    return Status::Error(std::string("lab state is incomplete: ") + e.what());
  }
}

Result<LabState> LoadLab(const LabConfig& config) {
  const std::string path = StatePath(RunDirFor(config));
  if (!PathExists(path)) {
    return Status::Error("lab '" + config.name + "' is not up (no " + path +
                         "); start it with `greenshift lab up`");
  }
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  json j = json::parse(*text, nullptr, false);
  if (j.is_discarded()) return Status::Error(path + " is not valid JSON");
  Result<LabState> state = LabStateFromJson(j);
  if (!state.ok()) return state.status().Context(path);
  return state;
}

Status Ip(const std::string& netns, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunChecked(argv, RunOptions{netns});
}

Result<LabConfig> ParseTopology(const std::string& text, const std::string& file, LabConfig base) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto bad = [&file](const std::string& key, const std::string& why) {
    return Status::Invalid(file + ": key '" + key + "': " + why);
  };
  if (j.is_discarded()) return Status::Invalid(file + ": not valid JSON");
  if (!j.is_object()) return Status::Invalid(file + ": not a JSON object");
  const std::set<std::string> known = {"sites", "network",   "hypervisor",   "storage",
                                       "links", "link_mbit", "link_delay_ms"};
  for (const auto& [key, unused] : j.items()) {
    if (!known.count(key))
      return bad(key,
                 "unknown key (known: hypervisor, link_delay_ms, link_mbit, links, network, "
                 "sites, storage)");
  }
  auto string_of = [&](const json& object, const std::string& key,
                       const std::string& path) -> Result<std::string> {
    if (!object.contains(key)) return bad(path, "is required");
    if (!object[key].is_string()) return bad(path, "must be a string");
    return object[key].get<std::string>();
  };
  auto number_of = [&](const json& object, const std::string& key, const std::string& path,
                       double fallback, int hi) -> Result<double> {
    if (!object.contains(key)) return fallback;
    if (!object[key].is_number()) return bad(path, "must be a number");
    const double value = object[key].get<double>();
    if (!(value >= 0 && value <= hi))
      return bad(path, "= " + object[key].dump() + " is outside 0 .. " + std::to_string(hi));
    return value;
  };
  LabConfig config = std::move(base);
  if (!j.contains("sites") || !j["sites"].is_array() || j["sites"].empty())
    return bad("sites", "is required: a list of site names");
  config.site_names.clear();
  for (size_t i = 0; i < j["sites"].size(); ++i) {
    if (!j["sites"][i].is_string())
      return bad("sites[" + std::to_string(i) + "]", "must be a string");
    config.site_names.push_back(j["sites"][i].get<std::string>());
  }
  if (j.contains("network")) GS_ASSIGN(config.network, string_of(j, "network", "network"));
  if (j.contains("hypervisor"))
    GS_ASSIGN(config.hypervisor, string_of(j, "hypervisor", "hypervisor"));
  if (j.contains("storage")) {
    if (!j["storage"].is_boolean()) return bad("storage", "must be true or false");
    config.storage = j["storage"].get<bool>();
  }
  // Bandwidths are whole Mbit/s (tc's rate).
  auto mbit_of = [&](const json& object, const std::string& key, const std::string& path,
                     int fallback) -> Result<int> {
    double value = 0;
    GS_ASSIGN(value, number_of(object, key, path, fallback, 1000000));
    if (value != std::floor(value)) return bad(path, "must be a whole number of Mbit/s");
    return static_cast<int>(value);
  };
  GS_ASSIGN(config.link_bandwidth_mbit,
            mbit_of(j, "link_mbit", "link_mbit", config.link_bandwidth_mbit));
  GS_ASSIGN(config.link_delay_ms,
            number_of(j, "link_delay_ms", "link_delay_ms", config.link_delay_ms, 10000));
  config.links.clear();
  if (j.contains("links")) {
    if (!j["links"].is_array()) return bad("links", "must be a list of links");
    for (size_t i = 0; i < j["links"].size(); ++i) {
      const std::string path = "links[" + std::to_string(i) + "]";
      const json& l = j["links"][i];
      if (!l.is_object()) return bad(path, "must be an object");
      for (const auto& [key, unused] : l.items()) {
        if (key != "a" && key != "b" && key != "mbit" && key != "delay_ms")
          return bad(path + "." + key, "unknown key (known: a, b, delay_ms, mbit)");
      }
      LinkSpec link;
      GS_ASSIGN(link.a, string_of(l, "a", path + ".a"));
      GS_ASSIGN(link.b, string_of(l, "b", path + ".b"));
      for (const std::string* end : {&link.a, &link.b}) {
        if (std::find(config.site_names.begin(), config.site_names.end(), *end) ==
            config.site_names.end())
          return bad(path + (end == &link.a ? ".a" : ".b"), "no site is named '" + *end + "'");
      }
      if (link.a == link.b) return bad(path + ".b", "a link joins two different sites");
      for (const LinkSpec& other : config.links) {
        if (std::minmax(other.a, other.b) == std::minmax(link.a, link.b))
          return bad(path, "the link between '" + link.a + "' and '" + link.b + "' is given twice");
      }
      GS_ASSIGN(link.bandwidth_mbit,
                mbit_of(l, "mbit", path + ".mbit", config.link_bandwidth_mbit));
      GS_ASSIGN(link.delay_ms,
                number_of(l, "delay_ms", path + ".delay_ms", config.link_delay_ms, 10000));
      config.links.push_back(link);
    }
  }
  return config;
}

Result<LabState> LabUp(const LabConfig& config) {
  GS_RETURN_IF_ERROR(CheckRoot("lab up"));
  GS_RETURN_IF_ERROR(ValidateName("lab name", config.name, 8));
  if (config.site_names.empty()) return Status::Error("a lab needs at least one site");
  // Every pair of sites has a link on a /24 of its own, 198.19.1-199.0/24.
  if (config.site_names.size() > 20)
    return Status::Error("a lab has at most 20 sites (a link of its own between every two)");
  std::set<std::string> unique;
  for (const std::string& site : config.site_names) {
    GS_RETURN_IF_ERROR(ValidateName("site name", site, 12));
    if (site == "client" || site == "wan" || site == kStorageNode || site == "st") {
      return Status::Error("site name '" + site + "' is reserved");
    }
    if (!unique.insert(site).second) return Status::Error("site name '" + site + "' given twice");
  }
  if (config.link_bandwidth_mbit < 0 || config.link_delay_ms < 0) {
    return Status::Error("link bandwidth and delay must not be negative");
  }
  if (config.link_delay_ms > 10000) return Status::Invalid("link delay above 10000 ms");
  {
    std::set<std::pair<std::string, std::string>> pairs;
    for (const LinkSpec& link : config.links) {
      if (!unique.count(link.a) || !unique.count(link.b) || link.a == link.b)
        return Status::Invalid("link " + link.a + " <-> " + link.b +
                               ": not two different sites of the lab");
      if (!pairs.insert(std::minmax(link.a, link.b)).second)
        return Status::Invalid("link " + link.a + " <-> " + link.b + " given twice");
      if (link.bandwidth_mbit < 0 || link.delay_ms < 0 || link.delay_ms > 10000)
        return Status::Invalid("link " + link.a + " <-> " + link.b +
                               ": bandwidth must be >= 0 and delay within 0 .. 10000 ms");
    }
  }
  if (config.hypervisor != "qemu" && config.hypervisor != "libvirt")
    return Status::Invalid("--hypervisor must be qemu or libvirt, got '" + config.hypervisor + "'");
  if (!IsNetworkMode(config.network))
    return Status::Invalid("--network must be l2, bgp or vxlan, got '" + config.network + "'");
  if (IsRouted(config.network) && config.site_names.size() > 100)
    return Status::Error("a routed lab has at most 100 sites");

  if (PathExists(StatePath(RunDirFor(config)))) {
    Result<LabState> existing = LoadLab(config);
    if (!existing.ok()) return existing.status();
    std::vector<std::string> names;
    for (const LabSite& site : existing->sites) names.push_back(site.name);
    bool complete = true;
    for (const std::string& ns : existing->created_namespaces)
      complete = complete && NetnsExists(ns);
    if (names == config.site_names && complete && existing->hypervisor == config.hypervisor &&
        existing->has_storage == config.storage && existing->network == config.network) {
      // already up: harmless; a storage server, a link's relay or a router that died is
      // started again
      if (existing->has_storage) GS_RETURN_IF_ERROR(StartStorageServers(*existing));
      GS_RETURN_IF_ERROR(StartRouters(*existing));
      for (const LabLink& link : existing->links) {
        if (link.delay_ms > 0) GS_RETURN_IF_ERROR(StartRelay(*existing, link));
      }
      existing->was_up = true;
      return existing;
    }
    if (names != config.site_names || existing->hypervisor != config.hypervisor ||
        existing->has_storage != config.storage || existing->network != config.network) {
      return Status::Error("lab '" + config.name + "' is already up with other sites, " +
                           (existing->has_storage ? "with" : "without") +
                           " shared storage, under " + existing->hypervisor + " or with network " +
                           existing->network + "; run `greenshift lab down` first");
    }
    // Half-built or damaged: tear down what it recorded and build it again.
    GS_RETURN_IF_ERROR(LabDown(config));
  }

  LabState state;
  state.name = config.name;
  state.hypervisor = config.hypervisor;
  state.network = config.network;
  state.run_dir = RunDirFor(config);
  state.disk_dir = config.disk_dir_root + "/" + config.name;
  if (config.storage) {
    if (config.site_names.size() > 50)
      return Status::Error("a lab with shared storage has at most 50 sites");
    state.has_storage = true;
    state.storage.name = kStorageNode;
    state.storage.netns = config.name + "-st";
    state.storage.migration_address = kStorageAddress;
  }
  state.wan_netns = config.name + "-wan";
  state.client_netns = config.name + "-client";
  state.client_address = IsRouted(state.network) ? kRoutedClientAddress : kClientAddress;
  state.created_at = FormatUtc(WallNow());
  for (size_t i = 0; i < config.site_names.size(); ++i) {
    LabSite site;
    site.name = config.site_names[i];
    site.netns = config.name + "-" + site.name;
    site.migration_address = "198.19.255." + std::to_string(i + 1);
    state.sites.push_back(site);
  }
  std::vector<std::string> wanted = {state.wan_netns, state.client_netns};
  for (const LabSite& site : state.sites) wanted.push_back(site.netns);
  if (state.has_storage) wanted.push_back(state.storage.netns);
  for (const std::string& ns : wanted) {
    if (NetnsExists(ns)) {
      return Status::Error("network namespace " + ns + " exists but lab '" + config.name +
                           "' did not record it; refusing to touch it (remove it or choose "
                           "another --lab name)");
    }
  }

  // Record each namespace as soon as it exists, so lab down can always undo a partial up.
  auto add_netns = [&](const std::string& ns) -> Status {
    GS_RETURN_IF_ERROR(RunChecked({"ip", "netns", "add", ns}));
    state.created_namespaces.push_back(ns);
    GS_RETURN_IF_ERROR(SaveState(state));
    return Ip(ns, {"link", "set", "lo", "up"});
  };
  auto build = [&]() -> Status {
    const bool routed = IsRouted(state.network);
    GS_RETURN_IF_ERROR(add_netns(state.wan_netns));
    if (!routed) {
      GS_RETURN_IF_ERROR(Ip(state.wan_netns, {"link", "add", kWanBridge, "type", "bridge"}));
      GS_RETURN_IF_ERROR(Ip(state.wan_netns, {"link", "set", kWanBridge, "up"}));
    }
    GS_RETURN_IF_ERROR(add_netns(state.client_netns));
    if (!routed) {
      GS_RETURN_IF_ERROR(Ip(state.client_netns, {"link", "add", "c0", "type", "veth", "peer",
                                                 "name", "w-client", "netns", state.wan_netns}));
      GS_RETURN_IF_ERROR(
          Ip(state.client_netns, {"addr", "add", state.client_address + "/16", "dev", "c0"}));
      GS_RETURN_IF_ERROR(Ip(state.client_netns, {"link", "set", "c0", "up"}));
      GS_RETURN_IF_ERROR(
          Ip(state.wan_netns, {"link", "set", "w-client", "master", kWanBridge, "up"}));
    }

    for (const LabSite& site : state.sites) {
      GS_RETURN_IF_ERROR(add_netns(site.netns));
      GS_RETURN_IF_ERROR(Ip(site.netns, {"link", "add", site.bridge, "type", "bridge"}));
      GS_RETURN_IF_ERROR(Ip(site.netns, {"link", "set", site.bridge, "up"}));
      if (!routed) {
        GS_RETURN_IF_ERROR(Ip(site.netns, {"link", "add", kSiteUplink, "type", "veth", "peer",
                                           "name", WanPort(site.name), "netns", state.wan_netns}));
        GS_RETURN_IF_ERROR(
            Ip(site.netns, {"link", "set", kSiteUplink, "master", site.bridge, "up"}));
        GS_RETURN_IF_ERROR(
            Ip(state.wan_netns, {"link", "set", WanPort(site.name), "master", kWanBridge, "up"}));
      }
      GS_RETURN_IF_ERROR(
          Ip(site.netns, {"addr", "add", site.migration_address + "/32", "dev", "lo"}));
    }
    // Routed: the client and every site behind the WAN router, each site its own router.
    if (routed) GS_RETURN_IF_ERROR(BuildRoutedNetwork(state));

    auto connect = [&](const LabSite& a, const LabSite& b, int subnet, int bandwidth_mbit,
                       double delay_ms) -> Status {
      LabLink link;
      link.a = a.name;
      link.b = b.name;
      link.a_interface = "l-" + b.name;
      link.b_interface = "l-" + a.name;
      link.a_address = "198.19." + std::to_string(subnet) + ".1";
      link.b_address = "198.19." + std::to_string(subnet) + ".2";
      link.bandwidth_mbit = bandwidth_mbit;
      link.delay_ms = delay_ms;
      GS_RETURN_IF_ERROR(PlumbLink(state, link));
      state.links.push_back(link);
      return Status::Ok();
    };
    int pair = 0;
    for (size_t i = 0; i < state.sites.size(); ++i) {
      for (size_t j = i + 1; j < state.sites.size(); ++j) {
        int bandwidth_mbit = config.link_bandwidth_mbit;
        double delay_ms = config.link_delay_ms;
        for (const LinkSpec& spec : config.links) {
          if (std::minmax(spec.a, spec.b) ==
              std::minmax(state.sites[i].name, state.sites[j].name)) {
            bandwidth_mbit = spec.bandwidth_mbit;
            delay_ms = spec.delay_ms;
          }
        }
        GS_RETURN_IF_ERROR(
            connect(state.sites[i], state.sites[j], ++pair, bandwidth_mbit, delay_ms));
      }
    }
    if (state.has_storage) {
      GS_RETURN_IF_ERROR(add_netns(state.storage.netns));
      GS_RETURN_IF_ERROR(Ip(state.storage.netns,
                            {"addr", "add", state.storage.migration_address + "/32", "dev", "lo"}));
      for (size_t i = 0; i < state.sites.size(); ++i) {
        GS_RETURN_IF_ERROR(connect(state.sites[i], state.storage, 200 + static_cast<int>(i), 0, 0));
      }
    }
    GS_RETURN_IF_ERROR(BuildOverlay(state));
    for (const LabSite& site : state.sites) GS_RETURN_IF_ERROR(SizeSocketBuffers(state, site));
    GS_RETURN_IF_ERROR(MakeDirs(state.run_dir + "/vms"));
    GS_RETURN_IF_ERROR(SaveState(state));
    if (state.hypervisor == "libvirt") {
      for (const LabSite& site : state.sites) GS_RETURN_IF_ERROR(StartLibvirtHost(state, site));
    }
    if (state.has_storage) GS_RETURN_IF_ERROR(StartStorageServers(state));
    GS_RETURN_IF_ERROR(StartRouters(state));
    return Status::Ok();
  };
  if (Status built = build(); !built.ok()) {
    (void)LabDown(config);
    return built.Context("lab up");
  }
  return state;
}

Status LabDown(const LabConfig& config) {
  GS_RETURN_IF_ERROR(CheckRoot("lab down"));
  Result<LabState> state = LoadLab(config);
  if (!state.ok()) return Status::Ok();  // nothing recorded, nothing to remove
  {
    LabDriver lab_driver = OpenLabDriver(*state, "", "tcg");
    Result<std::vector<hypervisor::VmInfo>> vms = lab_driver.driver->ListVms();
    if (vms.ok()) {
      for (const hypervisor::VmInfo& vm : *vms) {
        if (Status stopped = lab_driver.driver->StopVm(vm.spec.name); !stopped.ok()) {
          std::fprintf(stderr, "greenshift: lab down: %s\n", stopped.message().c_str());
        }
      }
    }
  }
  if (state->hypervisor == "libvirt") {
    for (const LabSite& site : state->sites) StopLibvirtHost(*state, site);
  }
  if (state->has_storage) StopStorageServers(*state);
  // A relay or a router keeps its namespace alive (a namespace lives while a process is in it).
  for (const LabLink& link : state->links) StopRelay(*state, link);
  StopRouters(*state);
  // Then any QEMU of the lab that no record names any more (a command killed half-way): its pid
  // file is in the lab's run directory, and its command line names that pid file.
  const std::string qemu_dir = state->run_dir + "/qemu";
  for (const std::string& entry : ListDir(qemu_dir)) {
    if (entry.size() < 5 || entry.substr(entry.size() - 4) != ".pid") continue;
    const std::string pid_file = qemu_dir + "/" + entry;
    Result<std::string> pid_text = ReadFile(pid_file);
    if (!pid_text.ok()) continue;
    const pid_t pid = static_cast<pid_t>(std::atoi(pid_text->c_str()));
    Result<std::string> cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
    if (pid > 0 && ProcessAlive(pid) && cmdline.ok() &&
        cmdline->find(pid_file) != std::string::npos) {
      std::fprintf(stderr, "greenshift: lab down: stopping QEMU %d (%s) that no VM record names\n",
                   pid, entry.c_str());
      TerminateProcess(pid, std::chrono::seconds(5));
    }
  }

  std::string errors;
  for (auto it = state->created_namespaces.rbegin(); it != state->created_namespaces.rend(); ++it) {
    if (!NetnsExists(*it)) continue;
    if (Status removed = RunChecked({"ip", "netns", "del", *it}); !removed.ok()) {
      errors += (errors.empty() ? "" : "; ") + removed.message();
    }
  }
  if (!errors.empty()) return Status::Error("lab down: " + errors);
  (void)RunCommand({"rm", "-rf", "--", state->run_dir});
  if (!state->disk_dir.empty()) (void)RunCommand({"rm", "-rf", "--", state->disk_dir});
  return Status::Ok();
}

Status SetLink(const LabConfig& config, const std::string& a, const std::string& b,
               int bandwidth_mbit, double delay_ms) {
  GS_RETURN_IF_ERROR(CheckRoot("lab link"));
  if (bandwidth_mbit < 0 || delay_ms < 0) {
    return Status::Error("link bandwidth and delay must not be negative");
  }
  Result<LabState> state = LoadLab(config);
  if (!state.ok()) return state.status();
  Result<LabLink*> link = FindLink(*state, a, b);
  if (!link.ok()) return link.status();
  if (delay_ms > 10000) return Status::Invalid("link delay above 10000 ms");
  LabLink& changed = **link;
  const LabSite* site_a = FindNode(*state, changed.a);
  const LabSite* site_b = FindNode(*state, changed.b);
  if ((changed.delay_ms > 0) != (delay_ms > 0)) {
    // Through the relay or not: the link is built again (its addresses and routes the same; the
    // frames in flight on it are lost, as on a cable replugged).
    GS_RETURN_IF_ERROR(UnplumbLink(*state, changed));
    changed.bandwidth_mbit = bandwidth_mbit;
    changed.delay_ms = delay_ms;
    GS_RETURN_IF_ERROR(PlumbLink(*state, changed));
  } else {
    GS_RETURN_IF_ERROR(Shape(site_a->netns, changed.a_interface, bandwidth_mbit));
    GS_RETURN_IF_ERROR(Shape(site_b->netns, changed.b_interface, bandwidth_mbit));
    changed.bandwidth_mbit = bandwidth_mbit;
    if (delay_ms > 0) {
      // The running relay takes the new delay on SIGHUP; frames it holds keep theirs.
      changed.delay_ms = delay_ms;
      if (const pid_t pid = RelayPid(*state, changed); pid > 0) {
        GS_RETURN_IF_ERROR(WriteRelayDelay(*state, changed));
        kill(pid, SIGHUP);
      } else {
        GS_RETURN_IF_ERROR(StartRelay(*state, changed));
      }
    }
  }
  GS_RETURN_IF_ERROR(RouteMigration(*state, changed));
  for (const LabSite* site : {site_a, site_b}) {
    if (site->name != kStorageNode) GS_RETURN_IF_ERROR(SizeSocketBuffers(*state, *site));
  }
  return SaveState(*state);
}

json RelayStatusJson(const LabState& state, const LabLink& link) {
  if (link.delay_ms <= 0) return nullptr;
  json stats = nullptr;
  if (Result<std::string> text = ReadFile(RelayPath(state, link, "stats")); text.ok()) {
    stats = json::parse(*text, nullptr, false);
    if (stats.is_discarded()) stats = nullptr;
  }
  return {{"pid", RelayPid(state, link)}, {"stats", stats}};
}

Status SetLinkUp(const LabConfig& config, const std::string& a, const std::string& b, bool up) {
  GS_RETURN_IF_ERROR(CheckRoot("lab link"));
  Result<LabState> state = LoadLab(config);
  if (!state.ok()) return state.status();
  Result<LabLink*> link = FindLink(*state, a, b);
  if (!link.ok()) return link.status();
  const char* updown = up ? "up" : "down";
  GS_RETURN_IF_ERROR(
      Ip(FindNode(*state, (*link)->a)->netns, {"link", "set", (*link)->a_interface, updown}));
  GS_RETURN_IF_ERROR(
      Ip(FindNode(*state, (*link)->b)->netns, {"link", "set", (*link)->b_interface, updown}));
  if (up) {
    // Routes over a link go away when it goes down; put them back.
    GS_RETURN_IF_ERROR(RouteMigration(*state, **link));
  }
  return Status::Ok();
}

qemu::QemuDriverConfig DriverConfigFor(const LabState& state, const std::string& guest_dir,
                                       const std::string& accel) {
  qemu::QemuDriverConfig config;
  config.state_dir = state.run_dir;
  config.disk_dir = state.disk_dir;
  config.kernel_path = guest_dir + "/vmlinuz";
  config.initrd_path = guest_dir + "/initramfs.cpio.gz";
  config.accel = accel;
  for (const LabSite& site : state.sites) {
    config.sites.push_back({site.name, site.netns, site.bridge, site.migration_address});
  }
  return config;
}

Result<std::string> NextVmAddress(const std::vector<std::string>& used) {
  const std::set<std::string> taken(used.begin(), used.end());
  for (int third = 128; third < 256; ++third) {
    for (int fourth = (third == 128 ? 10 : 1); fourth < 255; ++fourth) {
      const std::string address = "198.18." + std::to_string(third) + "." + std::to_string(fourth);
      if (!taken.count(address)) return address;
    }
  }
  return Status::Error("no free VM address left in 198.18.128.0/17");
}

std::string MacFor(const std::string& lab, const std::string& vm) {
  // FNV-1a over "lab/vm"; 52:54:00 is QEMU's locally administered prefix.
  uint32_t hash = 2166136261u;
  for (char c : lab + "/" + vm) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 16777619u;
  }
  char mac[18];
  std::snprintf(mac, sizeof mac, "52:54:00:%02x:%02x:%02x", (hash >> 16) & 0xff, (hash >> 8) & 0xff,
                hash & 0xff);
  return mac;
}

}  // namespace greenshift::lab
