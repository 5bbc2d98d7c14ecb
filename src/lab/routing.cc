#include "lab/routing.h"

#include <chrono>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "core/files.h"
#include "core/process.h"
#include "lab/fdb.h"

namespace greenshift::lab {

using nlohmann::json;

namespace {

constexpr const char* kVmPrefix = "198.18.128.0/17";
constexpr const char* kVmPrefixFilter = "198.18.128.0/17{32,32}";

std::string RouterDir(const LabState& state) {
  return state.run_dir + "/bird";
}
std::string RouterPath(const LabState& state, const std::string& router, const std::string& ext) {
  return RouterDir(state) + "/" + router + "." + ext;
}

// The address of `to` on its link with `from`: where `from` sends what is for a VM at `to`.
Result<std::string> LinkAddressOf(const LabState& state, const std::string& from,
                                  const std::string& to) {
  for (const LabLink& link : state.links) {
    if (link.a == from && link.b == to) return link.b_address;
    if (link.b == from && link.a == to) return link.a_address;
  }
  return Status::Error("lab " + state.name + " has no link between sites '" + from + "' and '" +
                       to + "'");
}

// The running BIRD of `router` (a site's name, or "wan"), else 0.
int RouterPid(const LabState& state, const std::string& router) {
  return RunningPid(RouterPath(state, router, "pid"), "bird");
}

// Its BGP sessions: name -> state ("Established", "Active", ...), from `birdc show protocols`.
std::vector<std::pair<std::string, std::string>> BgpSessions(const LabState& state,
                                                             const std::string& router) {
  std::vector<std::pair<std::string, std::string>> sessions;
  Result<CommandOutput> out =
      RunCommand({"birdc", "-s", RouterPath(state, router, "ctl"), "show", "protocols"},
                 RunOptions{"", std::chrono::seconds(5)});
  if (!out.ok() || out->exit_code != 0) return sessions;
  std::istringstream lines(out->stdout_text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string name, proto, table, state_word, since, info;
    if (!(words >> name >> proto >> table >> state_word >> since) || proto != "BGP") continue;
    std::getline(words, info);
    const size_t first = info.find_first_not_of(' ');
    const size_t last = info.find_last_not_of(' ');
    sessions.emplace_back(
        name, first == std::string::npos ? state_word : info.substr(first, last - first + 1));
  }
  return sessions;
}

Status StartRouter(const LabState& state, const std::string& router, const std::string& netns,
                   const std::string& config) {
  if (RouterPid(state, router) > 0) return Status::Ok();
  GS_RETURN_IF_ERROR(MakeDirs(RouterDir(state)));
  GS_RETURN_IF_ERROR(WriteFileAtomic(RouterPath(state, router, "conf"), config));
  (void)RemoveFile(RouterPath(state, router, "pid"));
  return RunChecked({"bird", "-c", RouterPath(state, router, "conf"), "-s",
                     RouterPath(state, router, "ctl"), "-P", RouterPath(state, router, "pid")},
                    RunOptions{netns, std::chrono::seconds(10)})
      .Context("BIRD for " + router + " in " + netns +
               " (is bird2 installed? scripts/setup.sh installs it)");
}

std::string Route(const std::string& ip) {
  return ip + "/32";
}

Status Bridge(const std::string& netns, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"bridge"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunChecked(argv, RunOptions{netns});
}

// vxlan: `site`'s overlay sends the VM's MAC to the site `to` (its bridge to vx0, vx0 to `to`'s
// end of their link).
Status OverlayTo(const LabState& state, const LabSite& site, const std::string& mac,
                 const std::string& to) {
  Result<std::string> via = LinkAddressOf(state, site.name, to);
  if (!via.ok()) return via.status();
  GS_RETURN_IF_ERROR(Bridge(site.netns, {"fdb", "replace", mac, "dev", kOverlayDevice, "dst", *via,
                                         "self", "permanent"}));
  return Bridge(site.netns, {"fdb", "replace", mac, "dev", kOverlayDevice, "master", "static"});
}

// vxlan: `site` no longer sends the VM's MAC over the overlay: its bridge hands the frames to
// every local port until it learns the guest's tap (QEMU announces the guest when it runs).
void OverlayHere(const LabSite& site, const std::string& mac) {
  (void)RunCommand({"bridge", "fdb", "del", mac, "dev", kOverlayDevice, "master"},
                   RunOptions{site.netns});
  (void)RunCommand({"bridge", "fdb", "del", mac, "dev", kOverlayDevice, "self"},
                   RunOptions{site.netns});
}

// l2: `site`'s bridge forgets a VM's MAC behind its uplink (frames for it go to every local port,
// the guest's tap among them, until the bridge learns the tap from the guest).
Status L2Here(const LabSite& site, const std::string& mac) {
  Result<FdbSocket> fdb = FdbSocket::Open(site.netns);
  if (!fdb.ok()) return fdb.status();
  Result<int> uplink = fdb->IfIndex(kSiteUplink);
  if (!uplink.ok()) return uplink.status();
  Status forgotten = fdb->Delete(*uplink, mac);
  return forgotten.IsNotFound() ? Status::Ok() : forgotten;
}

// l2: no bridge keeps an entry of its own for a VM's MAC (on the WAN segment, on any site's
// uplink): they flood its frames until they learn it again from the guest, where it runs.
Status L2Forget(const LabState& state, const std::string& mac) {
  Result<FdbSocket> wan = FdbSocket::Open(state.wan_netns);
  if (!wan.ok()) return wan.status();
  for (const LabSite& site : state.sites) {
    Result<int> port = wan->IfIndex(WanPort(site.name));
    if (!port.ok()) return port.status();
    if (Status gone = wan->Delete(*port, mac); !gone.ok() && !gone.IsNotFound()) return gone;
    GS_RETURN_IF_ERROR(L2Here(site, mac));
  }
  return Status::Ok();
}

Status KnowVm(const LabSite& site, const std::string& ip, const std::string& mac) {
  return Ip(site.netns,
            {"neigh", "replace", ip, "lladdr", mac, "dev", site.bridge, "nud", "permanent"});
}

}  // namespace

bool IsNetworkMode(const std::string& mode) {
  return mode == kNetworkL2 || IsRouted(mode);
}
bool IsRouted(const std::string& mode) {
  return mode == kNetworkBgp || mode == kNetworkVxlan;
}
std::chrono::milliseconds SettleTime(const std::string& mode) {
  return mode == kNetworkBgp ? kPropagation : std::chrono::milliseconds(0);
}

std::string SiteTransitAddress(int site_index) {
  return "198.18." + std::to_string(16 + site_index) + ".2";
}
std::string WanTransitAddress(int site_index) {
  return "198.18." + std::to_string(16 + site_index) + ".1";
}
int SiteAs(int site_index) {
  return kWanAs + 1 + site_index;
}

std::string SiteBirdConfig(const std::string& router_id, int local_as, const std::string& peer,
                           const std::string& log_file) {
  const std::string as = std::to_string(local_as);
  return "# greenshift lab site router (lab/routing.h): announces the VMs that run here\n"
         "router id " +
         router_id + ";\nlog \"" + log_file +
         "\" { info, remote, warning, error, auth, fatal, bug };\n"
         "protocol device { }\n"
         // The VM routes greenshift sets, as the kernel tells of them (at once: netlink).
         "protocol kernel vms {\n"
         "  ipv4 {\n"
         "    import filter {\n"
         "      if net ~ [ " +
         kVmPrefixFilter + " ] && (krt_source = " + std::to_string(kRouteHere) +
         " || krt_source = " + std::to_string(kRouteForwarding) +
         ") then accept;\n"
         "      reject;\n"
         "    };\n"
         "    export none;\n"
         "  };\n"
         "  learn;\n"
         "  scan time 5;\n"
         "}\n"
         "protocol bgp wan {\n"
         "  local " +
         router_id + " as " + as + ";\n  neighbor " + peer + " as " + std::to_string(kWanAs) +
         ";\n"
         // Short timers: a restarted router is back in a second or two.
         "  hold time 6; keepalive time 2; connect retry time 1; connect delay time 1;\n"
         "  ipv4 {\n"
         "    import none;\n"
         "    export filter {\n"
         "      if net !~ [ " +
         kVmPrefixFilter +
         " ] then reject;\n"
         // A site still forwarding a VM that left loses to the site where it runs.
         "      if krt_source = " +
         std::to_string(kRouteForwarding) + " then { bgp_path.prepend(" + as +
         "); bgp_path.prepend(" + as +
         "); }\n"
         "      accept;\n"
         "    };\n"
         "  };\n"
         "}\n";
}

std::string WanBirdConfig(const std::string& router_id, const std::vector<BirdPeer>& peers,
                          const std::string& log_file) {
  std::string config =
      "# greenshift lab WAN router (lab/routing.h): learns every VM's route\n"
      "router id " +
      router_id + ";\nlog \"" + log_file +
      "\" { info, remote, warning, error, auth, fatal, bug };\n"
      "protocol device { }\n"
      "protocol kernel { ipv4 { import none; export all; }; }\n";
  for (const BirdPeer& peer : peers) {
    config += "protocol bgp site_" + peer.name + " {\n  local as " + std::to_string(kWanAs) +
              ";\n  neighbor " + peer.address + " as " + std::to_string(peer.as) +
              ";\n"
              "  hold time 6; keepalive time 2; connect retry time 1; connect delay time 1;\n"
              "  ipv4 {\n    import filter { if net ~ [ " +
              kVmPrefixFilter + " ] then accept; reject; };\n    export none;\n  };\n}\n";
  }
  return config;
}

Status BuildRoutedNetwork(const LabState& state) {
  const std::string& wan = state.wan_netns;
  auto sysctl = [](const std::string& netns, const std::vector<std::string>& settings) {
    std::vector<std::string> argv = {"sysctl", "-q", "-w"};
    argv.insert(argv.end(), settings.begin(), settings.end());
    return RunChecked(argv, RunOptions{netns});
  };
  // Routers forward, and see traffic come back another way than it left (rp_filter off).
  GS_RETURN_IF_ERROR(sysctl(wan, {"net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0",
                                  "net.ipv4.conf.default.rp_filter=0"}));
  // The client: a subnet of its own behind the WAN router.
  GS_RETURN_IF_ERROR(Ip(state.client_netns, {"link", "add", "c0", "type", "veth", "peer", "name",
                                             "w-client", "netns", wan}));
  GS_RETURN_IF_ERROR(
      Ip(state.client_netns, {"addr", "add", state.client_address + "/24", "dev", "c0"}));
  GS_RETURN_IF_ERROR(Ip(state.client_netns, {"link", "set", "c0", "up"}));
  GS_RETURN_IF_ERROR(Ip(wan, {"addr", "add", "198.18.1.1/24", "dev", "w-client"}));
  GS_RETURN_IF_ERROR(Ip(wan, {"link", "set", "w-client", "up"}));
  GS_RETURN_IF_ERROR(Ip(state.client_netns, {"route", "add", "default", "via", "198.18.1.1"}));

  for (size_t i = 0; i < state.sites.size(); ++i) {
    const LabSite& site = state.sites[i];
    const int index = static_cast<int>(i);
    GS_RETURN_IF_ERROR(Ip(site.netns, {"link", "add", kSiteUplink, "type", "veth", "peer", "name",
                                       WanPort(site.name), "netns", wan}));
    GS_RETURN_IF_ERROR(
        Ip(site.netns, {"addr", "add", SiteTransitAddress(index) + "/24", "dev", kSiteUplink}));
    GS_RETURN_IF_ERROR(Ip(site.netns, {"link", "set", kSiteUplink, "up"}));
    GS_RETURN_IF_ERROR(
        Ip(wan, {"addr", "add", WanTransitAddress(index) + "/24", "dev", WanPort(site.name)}));
    GS_RETURN_IF_ERROR(Ip(wan, {"link", "set", WanPort(site.name), "up"}));
    GS_RETURN_IF_ERROR(
        Ip(site.netns, {"route", "add", "default", "via", WanTransitAddress(index)}));
    // The VMs' gateway: the same address and MAC at every site, answering ARP for everything
    // off the site at once (proxy_delay 0: by default a proxy answer waits up to 0.8 s). On the
    // overlay the VMs' whole prefix is on the bridge (a VM at another site is reached over it,
    // and ARP is not answered for it), and the bridges, one segment with the same MAC, have no
    // IPv6 address of their own (each would see the others' as a duplicate).
    GS_RETURN_IF_ERROR(Ip(site.netns, {"link", "set", site.bridge, "address", kGatewayMac}));
    const bool overlay = state.network == kNetworkVxlan;
    if (overlay) {
      GS_RETURN_IF_ERROR(sysctl(site.netns, {"net.ipv6.conf." + site.bridge + ".disable_ipv6=1"}));
    }
    GS_RETURN_IF_ERROR(
        Ip(site.netns, {"addr", "add", std::string(kGatewayAddress) + (overlay ? "/17" : "/32"),
                        "dev", site.bridge}));
    GS_RETURN_IF_ERROR(sysctl(site.netns, {"net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0",
                                           "net.ipv4.conf.default.rp_filter=0",
                                           "net.ipv4.conf." + site.bridge + ".proxy_arp=1",
                                           "net.ipv4.neigh." + site.bridge + ".proxy_delay=0"}));
  }
  // vxlan: the WAN sends the whole VM prefix to the home site (the first); its overlay carries
  // it on to where each VM runs.
  if (state.network == kNetworkVxlan && !state.sites.empty()) {
    GS_RETURN_IF_ERROR(
        Ip(wan, {"route", "add", std::string(kVmPrefix), "via", SiteTransitAddress(0)}));
  }
  return Status::Ok();
}

Status BuildOverlay(const LabState& state) {
  if (state.network != kNetworkVxlan) return Status::Ok();
  for (const LabSite& site : state.sites) {
    GS_RETURN_IF_ERROR(Ip(site.netns, {"link", "add", kOverlayDevice, "type", "vxlan", "id",
                                       std::to_string(kOverlayVni), "dstport",
                                       std::to_string(kOverlayPort), "nolearning"}));
    GS_RETURN_IF_ERROR(Ip(site.netns, {"link", "set", kOverlayDevice, "mtu", "1500"}));
    GS_RETURN_IF_ERROR(
        Ip(site.netns, {"link", "set", kOverlayDevice, "master", site.bridge, "up"}));
    // The bridge learns no MAC from the overlay either: greenshift says where each VM is
    // (and the other sites' gateway, the same MAC as this one's, is never learned as remote).
    GS_RETURN_IF_ERROR(
        Bridge(site.netns, {"link", "set", "dev", kOverlayDevice, "learning", "off"}));
    // Broadcasts and unknown destinations: a copy to every other site.
    for (const LabSite& other : state.sites) {
      if (other.name == site.name) continue;
      Result<std::string> via = LinkAddressOf(state, site.name, other.name);
      if (!via.ok()) return via.status();
      GS_RETURN_IF_ERROR(Bridge(site.netns, {"fdb", "append", "00:00:00:00:00:00", "dev",
                                             kOverlayDevice, "dst", *via, "self", "permanent"}));
    }
  }
  return Status::Ok();
}

Status StartRouters(const LabState& state) {
  if (state.network != kNetworkBgp) return Status::Ok();
  std::vector<BirdPeer> peers;
  for (size_t i = 0; i < state.sites.size(); ++i) {
    const int index = static_cast<int>(i);
    const LabSite& site = state.sites[i];
    peers.push_back({site.name, SiteTransitAddress(index), SiteAs(index)});
    GS_RETURN_IF_ERROR(
        StartRouter(state, site.name, site.netns,
                    SiteBirdConfig(SiteTransitAddress(index), SiteAs(index),
                                   WanTransitAddress(index), RouterPath(state, site.name, "log"))));
  }
  GS_RETURN_IF_ERROR(
      StartRouter(state, "wan", state.wan_netns,
                  WanBirdConfig("198.18.1.1", peers, RouterPath(state, "wan", "log"))));
  // Up once the WAN router has every site's session.
  for (int attempt = 0; attempt < 150; ++attempt) {
    int established = 0;
    for (const auto& [name, session] : BgpSessions(state, "wan"))
      established += session.rfind("Established", 0) == 0 ? 1 : 0;
    if (established == static_cast<int>(state.sites.size())) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::string states;
  for (const auto& [name, session] : BgpSessions(state, "wan"))
    states += (states.empty() ? "" : ", ") + name + " " + session;
  return Status::Error("the WAN router's BGP sessions did not come up within 15 s (" +
                       (states.empty() ? std::string("none") : states) + "; see " +
                       RouterDir(state) + "/*.log)");
}

void StopRouters(const LabState& state) {
  std::vector<std::string> routers = {"wan"};
  for (const LabSite& site : state.sites) routers.push_back(site.name);
  for (const std::string& router : routers) {
    if (const int pid = RouterPid(state, router); pid > 0)
      TerminateProcess(pid, std::chrono::seconds(3));
  }
}

json RoutersJson(const LabState& state) {
  if (state.network != kNetworkBgp) return nullptr;
  json routers = json::object();
  std::vector<std::string> names = {"wan"};
  for (const LabSite& site : state.sites) names.push_back(site.name);
  for (const std::string& name : names) {
    json sessions = json::object();
    for (const auto& [session, session_state] : BgpSessions(state, name))
      sessions[session] = session_state;
    routers[name] = {{"pid", RouterPid(state, name)}, {"bgp", sessions}};
  }
  return routers;
}

json OverlayJson(const LabState& state) {
  if (state.network != kNetworkVxlan) return nullptr;
  json overlay = json::object();
  for (const LabSite& site : state.sites) {
    json entries = json::object();
    Result<CommandOutput> out =
        RunCommand({"bridge", "-j", "fdb", "show", "dev", kOverlayDevice}, RunOptions{site.netns});
    if (out.ok() && out->exit_code == 0) {
      const json fdb = json::parse(out->stdout_text, nullptr, /*allow_exceptions=*/false);
      if (fdb.is_array()) {
        for (const json& entry : fdb) {
          if (!entry.is_object() || !entry.contains("dst") || !entry["dst"].is_string() ||
              !entry.contains("mac") || !entry["mac"].is_string())
            continue;
          json& dsts = entries[entry["mac"].get<std::string>()];
          if (!dsts.is_array()) dsts = json::array();
          dsts.push_back(entry["dst"]);
        }
      }
    }
    overlay[site.name] = entries;
  }
  return overlay;
}

Status RouteVmTo(const LabState& state, const std::string& ip, const std::string& mac,
                 const std::string& site, const std::string& still_forwarding) {
  const LabSite* here = FindSite(state, site);
  if (!here) return Status::Error("lab " + state.name + " has no site '" + site + "'");
  if (state.network == kNetworkL2) {
    // The bridges learn where it runs (QEMU announced it there when it resumed, and it sends).
    return L2Forget(state, mac);
  }
  if (state.network == kNetworkVxlan) {
    // Where it runs first (it stops sending the VM's frames away), then the others.
    OverlayHere(*here, mac);
    GS_RETURN_IF_ERROR(KnowVm(*here, ip, mac));
    for (const LabSite& other : state.sites) {
      if (other.name == site) continue;
      GS_RETURN_IF_ERROR(OverlayTo(state, other, mac, site));
      GS_RETURN_IF_ERROR(KnowVm(other, ip, mac));
    }
    return Status::Ok();
  }
  // First where it runs (announced at once), then the others.
  GS_RETURN_IF_ERROR(Ip(here->netns, {"neigh", "replace", ip, "lladdr", mac, "dev", here->bridge,
                                      "nud", "permanent"}));
  GS_RETURN_IF_ERROR(Ip(here->netns, {"route", "replace", Route(ip), "dev", here->bridge, "proto",
                                      std::to_string(kRouteHere)}));
  for (const LabSite& other : state.sites) {
    if (other.name == site) continue;
    Result<std::string> via = LinkAddressOf(state, other.name, site);
    if (!via.ok()) return via.status();
    const int proto = other.name == still_forwarding ? kRouteForwarding : 0;
    GS_RETURN_IF_ERROR(Ip(other.netns, {"route", "replace", Route(ip), "via", *via, "proto",
                                        proto ? std::to_string(proto) : "static"}));
    (void)RunCommand({"ip", "neigh", "del", ip, "dev", other.bridge}, RunOptions{other.netns});
  }
  return Status::Ok();
}

Status SteerVm(const LabState& state, const std::string& ip, const std::string& mac,
               const std::string& from, const std::string& to) {
  const LabSite* source = FindSite(state, from);
  const LabSite* destination = FindSite(state, to);
  if (!source || !destination)
    return Status::Error("lab " + state.name + " has no site '" + (source ? to : from) + "'");
  if (state.network == kNetworkL2) {
    Result<L2Steering> steering = L2Steering::Prepare(state, mac, from, to);
    if (!steering.ok()) return steering.status();
    return steering->Steer();
  }
  if (state.network == kNetworkVxlan) {
    // The destination first: its bridge hands the VM's frames to the waiting guest's tap (which
    // holds them until it runs). Then every other site, the source among them, sends them there.
    OverlayHere(*destination, mac);
    for (const LabSite& other : state.sites) {
      if (other.name != to) GS_RETURN_IF_ERROR(OverlayTo(state, other, mac, to));
    }
    return Status::Ok();
  }
  // The destination first: delivering to its bridge (the waiting guest's tap holds the frames
  // until it runs), not announcing yet. Then the source forwards there.
  GS_RETURN_IF_ERROR(Ip(destination->netns, {"neigh", "replace", ip, "lladdr", mac, "dev",
                                             destination->bridge, "nud", "permanent"}));
  GS_RETURN_IF_ERROR(Ip(destination->netns, {"route", "replace", Route(ip), "dev",
                                             destination->bridge, "proto", "static"}));
  Result<std::string> via = LinkAddressOf(state, from, to);
  if (!via.ok()) return via.status();
  return Ip(source->netns, {"route", "replace", Route(ip), "via", *via, "proto",
                            std::to_string(kRouteForwarding)});
}

Result<L2Steering> L2Steering::Prepare(const LabState& state, const std::string& mac,
                                       const std::string& from, const std::string& to) {
  if (!FindSite(state, from) || !FindSite(state, to))
    return Status::Error("lab " + state.name + " has no site '" +
                         (FindSite(state, from) ? to : from) + "'");
  L2Steering steering;
  steering.mac_ = mac;
  auto add = [&](const std::string& netns, const std::string& port, bool forget) -> Status {
    Result<FdbSocket> fdb = FdbSocket::Open(netns);
    if (!fdb.ok()) return fdb.status();
    Result<int> index = fdb->IfIndex(port);
    if (!index.ok()) return index.status();
    steering.steps_.push_back({std::move(*fdb), *index, forget});
    return Status::Ok();
  };
  // The destination first: its bridge hands the VM's frames to the waiting guest's tap (which
  // holds them until it runs). Then the WAN segment, which carries the clients' frames, and every
  // other site send them there, by static entries: nothing the bridges see can move them back
  // before the guest announces itself at the destination.
  for (const LabSite& site : state.sites) {
    if (site.name == to) GS_RETURN_IF_ERROR(add(site.netns, kSiteUplink, /*forget=*/true));
  }
  GS_RETURN_IF_ERROR(add(state.wan_netns, WanPort(to), /*forget=*/false));
  for (const LabSite& site : state.sites) {
    if (site.name != to) GS_RETURN_IF_ERROR(add(site.netns, kSiteUplink, /*forget=*/false));
  }
  return steering;
}

Status L2Steering::Steer() {
  for (Step& step : steps_) {
    if (step.forget) {
      Status gone = step.fdb.Delete(step.port, mac_);
      if (!gone.ok() && !gone.IsNotFound()) return gone;
    } else {
      GS_RETURN_IF_ERROR(step.fdb.Replace(step.port, mac_));
    }
  }
  return Status::Ok();
}

Status UnrouteVm(const LabState& state, const std::string& ip, const std::string& mac) {
  if (state.network == kNetworkL2) return L2Forget(state, mac);
  for (const LabSite& site : state.sites) {
    if (state.network == kNetworkVxlan) OverlayHere(site, mac);
    (void)RunCommand({"ip", "route", "del", Route(ip)}, RunOptions{site.netns});
    (void)RunCommand({"ip", "neigh", "del", ip, "dev", site.bridge}, RunOptions{site.netns});
  }
  return Status::Ok();
}

}  // namespace greenshift::lab
