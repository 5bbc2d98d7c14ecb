// The one-machine testbed: sites as network namespaces.
//
//   <lab>-client ── c0 ─┐                                 one L2 segment, 198.18.0.0/16:
//                       wan0 (bridge in <lab>-wan)         the VMs' addresses stay the same
//   <lab>-a: br0 ─ uplink ─┘ └─ uplink ─ br0 :<lab>-b      wherever they run
//            └── l-b ═══ shaped veth (tc tbf) ═══ l-a ──┘  site-to-site link, 198.19.P.0/24,
//                                                            carries the migration streams;
//                                                            with a delay, it runs through a
//                                                            relay in <lab>-wan (relay.h)
// Each site has a migration address 198.19.255.N on its loopback, routed over its direct link to
// every other site. Everything lab up creates is recorded in <run_dir>/lab.json; lab down
// removes exactly that.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "hypervisor/qemu/qemu_driver.h"

namespace greenshift::lab {

struct LabSite {
  std::string name;
  std::string netns;
  std::string bridge = "br0";
  std::string migration_address;
};

struct LabLink {
  std::string a, b;                      // site names
  std::string a_interface, b_interface;  // the veth ends, in a's and b's namespace
  std::string a_address, b_address;      // point-to-point addresses
  int bandwidth_mbit = 0;                // 0: not limited
  double delay_ms = 0;                   // one way; > 0: through a relay in the WAN namespace
};

struct LabState {
  std::string name;
  std::string hypervisor = "qemu";  // what runs the guests: "qemu" (QMP) or "libvirt" daemons
  // How VMs keep their address: "l2" (every site on one segment, the default), "bgp" (routed
  // sites, a VM's /32 announced where it runs) or "vxlan" (routed sites, the VMs on an overlay
  // joining the sites' bridges): routing.h.
  std::string network = "l2";
  bool was_up = false;  // set by LabUp when the lab already stood complete (not stored)
  std::string run_dir;
  // The guests' disk images (a directory per site): on a disk rather than in /run, which is a
  // small tmpfs on most machines. Removed with the lab.
  std::string disk_dir;
  std::vector<LabSite> sites;
  // Shared storage (lab up --storage, see storage.h): a node linked to every site like a site,
  // but no VM runs there. Its links are in `links` with b = "storage".
  bool has_storage = false;
  LabSite storage;
  std::vector<LabLink> links;
  std::string wan_netns;
  std::string client_netns;
  std::string client_address;                   // e.g. 198.18.0.2
  std::vector<std::string> created_namespaces;  // in creation order
  std::string created_at;
};

// One site-to-site link of a topology, both ways; pairs without one get the lab's defaults.
struct LinkSpec {
  std::string a, b;
  int bandwidth_mbit = 0;  // 0: not limited
  double delay_ms = 0;     // one way
};

struct LabConfig {
  std::string name = "gs";  // prefix of every namespace; lets several labs coexist
  std::string run_dir_root = "/run/greenshift";
  std::string disk_dir_root = "/var/lib/greenshift/lab-disks";
  std::vector<std::string> site_names;  // e.g. {"a", "b"}
  std::string hypervisor = "qemu";      // "qemu", or "libvirt": one libvirt daemon per site
  int link_bandwidth_mbit = 0;
  double link_delay_ms = 0;
  bool storage = false;         // a shared storage namespace with an NBD server (storage.h)
  std::string network = "l2";   // "l2", "bgp" or "vxlan" (routing.h)
  std::vector<LinkSpec> links;  // per pair of sites, over link_bandwidth_mbit / link_delay_ms
};

// A lab's topology from a JSON file (`lab up --topology FILE`), over `base` (its name and
// directories):
//   {"sites": ["fra", "lon", "ams"], "network": "bgp", "hypervisor": "qemu", "storage": false,
//    "link_mbit": 1000, "link_delay_ms": 0,
//    "links": [{"a": "fra", "b": "lon", "mbit": 100, "delay_ms": 5}, ...]}
// Only "sites" is required; unknown keys, a link naming a site that is not there, a pair given
// twice and numbers out of range are errors naming the key. The subnets are the lab's own
// (`lab status` shows them). LabUp checks the rest (names, modes, limits).
Result<LabConfig> ParseTopology(const std::string& text, const std::string& file, LabConfig base);

// Every site's uplink to the WAN namespace: a veth named kSiteUplink in the site, its peer
// WanPort(site) in the WAN namespace (on bridge kWanBridge in an l2 lab, the WAN router's port to
// the site in a routed one).
constexpr const char* kSiteUplink = "uplink";
constexpr const char* kWanBridge = "wan0";
std::string WanPort(const std::string& site);

// The lab's site named `name`, or nullptr.
const LabSite* FindSite(const LabState& state, const std::string& name);
// A site, or the shared storage ("storage"): what a link joins. nullptr when there is none.
const LabSite* FindNode(const LabState& state, const std::string& name);

// `ip ARGS...` in the network namespace `netns` (empty: this one); the error names the command
// and what it printed.
Status Ip(const std::string& netns, const std::vector<std::string>& args);

// Default site names for --sites N: a, b, c, ...
std::vector<std::string> DefaultSiteNames(int count);
std::string RunDirFor(const LabConfig& config);

nlohmann::json ToJson(const LabState& state);
Result<LabState> LabStateFromJson(const nlohmann::json& j);

// Creates the lab. When the same lab is already up, returns it unchanged.
Result<LabState> LabUp(const LabConfig& config);
// Loads the state of a lab that is up; an error naming the lab when it is not.
Result<LabState> LoadLab(const LabConfig& config);
// Stops the lab's VMs, removes the namespaces the lab created (and all inside them), then its
// run directory. A lab that is not up is not an error.
Status LabDown(const LabConfig& config);
// Sets the bandwidth and delay of the link between two sites, or a site and "storage" (both
// directions).
Status SetLink(const LabConfig& config, const std::string& a, const std::string& b,
               int bandwidth_mbit, double delay_ms);
// A delayed link's relay (relay.h): {"pid": 0 when it is not running (lab up restarts it),
// "stats": its counters, null before its first report}; null for an undelayed link.
nlohmann::json RelayStatusJson(const LabState& state, const LabLink& link);
// Takes the link between two sites (or a site and "storage") down or up, to test failures.
Status SetLinkUp(const LabConfig& config, const std::string& a, const std::string& b, bool up);

// The qemu driver's view of the lab's sites.
qemu::QemuDriverConfig DriverConfigFor(const LabState& state, const std::string& guest_dir,
                                       const std::string& accel);

// First free VM address (198.18.128.10 upwards, /16) not in `used` (addresses without prefix).
Result<std::string> NextVmAddress(const std::vector<std::string>& used);
// A locally administered MAC derived from the lab and VM names.
std::string MacFor(const std::string& lab, const std::string& vm);

}  // namespace greenshift::lab
