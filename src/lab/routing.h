// Routed sites (lab up --network bgp|vxlan): each site its own subnet behind its own router, the
// client on a routed WAN as users on the internet are, and a VM's address kept wherever it runs,
// two ways: by a /32 host route that the site where it runs announces by BGP (bgp), or by an
// overlay that joins the sites' bridges into one segment for the VMs (vxlan).
//
//   <lab>-client 198.18.1.2 ── <lab>-wan (router, BIRD: learns every VM's /32 by BGP)
//                               /  198.18.16.1 ... 198.18.(16+i).1   \ (one transit subnet each)
//   <lab>-a: uplink 198.18.16.2, BIRD AS 65001          <lab>-b: uplink 198.18.17.2, AS 65002
//            br0: the VMs' gateway, 198.18.128.1 and one MAC at every site, answering ARP for
//                 everything off the site (proxy ARP), so a guest needs no change when it moves
//            l-b ═══ site-to-site link (migration streams, and traffic still arriving for a VM
//                    that just left) ═══ l-a
//
// A VM's address is a kernel route at each site, which BIRD reads (kernel protocol, `learn`) and
// announces to the WAN according to the route's protocol number:
//   kRouteHere (250)       dev br0, the VM runs here: announced.
//   kRouteForwarding (251) via the site where the VM now runs: still announced, but with a longer
//                          AS path, so the WAN prefers the site where it runs as soon as it hears
//                          of it, and packets already on their way here are forwarded, not dropped.
//   static                 via the site where it runs (or dev br0, where it is about to run): not
//                          announced.
// A migration's switchover moves these in three steps (driven by the migration's own events,
// hypervisor::SwitchoverHooks): the source paused -> the destination takes the VM's traffic into
// its waiting guest's queue, the source forwards there; the destination runs -> it announces;
// settled (kPropagation later) -> the source stops announcing.
//
// vxlan: every site's br0 is joined by a VXLAN device (vx0, VNI kOverlayVni) to the others, over
// the site-to-site links, with no multicast and no learning: greenshift writes where each VM's
// MAC is (unicast FDB entries: which site, and at each site the bridge port vx0), and broadcasts
// (ARP) are copied to every site. Every site's br0 is the VMs' gateway (the same address and MAC
// everywhere, so outgoing traffic leaves where the VM runs); the WAN routes the whole VM prefix
// to the first site (the home site), whose overlay carries it to where the VM runs: a VM away
// from home is one link further from its clients in that direction (the price of a stretched
// segment without a routing protocol). The switchover: the source paused -> every site's FDB
// sends the VM's MAC to the destination, where the frames wait in the guest's queue; the
// destination runs -> it takes the VM's MAC from its own tap (QEMU's announcement). Links carry
// the overlay's 50 bytes of headers: their MTU is kOverlayLinkMtu, so guests keep 1500.
//
// l2 (the default lab: every site's bridge on one WAN segment, bridge kWanBridge): the bridges
// learn where a VM's MAC is, and QEMU's announcement teaches them its new place once the guest
// runs on the destination. Before that, what reaches the source while the guest is paused would
// wait in a tap that is about to go away, and be lost. So the switchover steers it too: the
// source paused -> the destination's bridge hands the VM's frames to its local ports (the waiting
// guest's tap holds them until it runs), the WAN segment and every other site send them there by
// static FDB entries, written over netlink (fdb.h) within a millisecond of the pause; settled ->
// the entries are removed and the bridges learn the MAC where the guest now sends from.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/status.h"
#include "lab/fdb.h"
#include "lab/lab.h"

namespace greenshift::lab {

constexpr const char* kNetworkL2 = "l2";
constexpr const char* kNetworkBgp = "bgp";
constexpr const char* kNetworkVxlan = "vxlan";
bool IsNetworkMode(const std::string& mode);
// Whether sites are routed, each its own subnet (bgp and vxlan).
bool IsRouted(const std::string& mode);

constexpr int kRouteHere = 250;
constexpr int kRouteForwarding = 251;
constexpr const char* kRoutedClientAddress = "198.18.1.2";
constexpr const char* kGatewayAddress = "198.18.128.1";
constexpr const char* kGatewayMac = "02:67:73:00:00:01";
constexpr int kWanAs = 65000;
// How long the site a VM left keeps announcing it (prepended) after the destination announced:
// the WAN's BGP hears the new route in about 15 ms here; a real WAN takes longer.
constexpr std::chrono::milliseconds kPropagation{1000};
// How long a migration's source keeps forwarding after the destination took the VM, in `mode`:
// kPropagation under bgp; none under vxlan, where the FDB entries are written before the guest
// runs and nothing has to propagate.
std::chrono::milliseconds SettleTime(const std::string& mode);

constexpr const char* kOverlayDevice = "vx0";
constexpr int kOverlayVni = 42;
constexpr int kOverlayPort = 4789;
// A guest's 1500-byte frame plus VXLAN, UDP, IP and inner Ethernet headers (50 bytes).
constexpr int kOverlayLinkMtu = 1550;

// Site i (0-based, in lab order): its transit subnet to the WAN router is 198.18.(16+i).0/24,
// the WAN at .1, the site at .2; its AS number 65001+i.
std::string SiteTransitAddress(int site_index);
std::string WanTransitAddress(int site_index);
int SiteAs(int site_index);

// BIRD 2 configurations (pure). A site's: read the VM routes the lab sets (kRouteHere,
// kRouteForwarding) from the kernel, announce them to the WAN router, prepending forwarding
// ones. The WAN router's: one session per site, every learned route into its kernel.
std::string SiteBirdConfig(const std::string& router_id, int local_as, const std::string& peer,
                           const std::string& log_file);
struct BirdPeer {
  std::string name;     // the site's name
  std::string address;  // its transit address
  int as = 0;
};
std::string WanBirdConfig(const std::string& router_id, const std::vector<BirdPeer>& peers,
                          const std::string& log_file);

// lab up --network bgp|vxlan: the WAN namespace as a router with the client's subnet and a transit
// subnet per site; each site routing (its uplink on its transit subnet, br0 the VMs' gateway).
// Called by LabUp after the namespaces exist.
Status BuildRoutedNetwork(const LabState& state);
// lab up --network vxlan, once the site-to-site links exist: every site's vx0 on its bridge,
// broadcasts copied to every other site.
Status BuildOverlay(const LabState& state);
// Starts the BIRD of every site and of the WAN that does not run (lab up restarts dead ones);
// waits until every site's BGP session is established.
Status StartRouters(const LabState& state);
void StopRouters(const LabState& state);
// For `lab status`: per router (a site's name, or "wan"), its pid (0: not running) and its BGP
// sessions' states.
nlohmann::json RoutersJson(const LabState& state);

// For `lab status` (vxlan): per site, where its overlay sends each MAC ({mac: the far end's
// address}; "00:00:00:00:00:00" lists where broadcasts are copied).
nlohmann::json OverlayJson(const LabState& state);

// Where a VM's address is routed (for l2: where the bridges send its MAC).
// The VM runs at `site`: it announces; every other site routes it there, not announcing, except
// `still_forwarding` (the site it just left), which keeps announcing it, prepended.
// vxlan: every other site's FDB sends the VM's MAC over the overlay to `site`; `site` learns it
// from the guest's tap; every site knows the VM's address is at that MAC (no ARP needed).
// l2: the bridges keep no entry of greenshift's for the MAC; they learn it from the guest.
Status RouteVmTo(const LabState& state, const std::string& ip, const std::string& mac,
                 const std::string& site, const std::string& still_forwarding = "");
// The guest paused on `from` for a switchover to `to`: `to` takes its traffic (into the waiting
// guest's queue), `from` forwards there and keeps announcing, prepended (vxlan: every site's
// FDB sends the VM's MAC to `to`, whose bridge hands it to every local port until the guest
// announces itself; l2: the WAN segment and `from` send it to `to` by static entries, `to`'s
// bridge to every local port).
Status SteerVm(const LabState& state, const std::string& ip, const std::string& mac,
               const std::string& from, const std::string& to);
// l2: SteerVm's work made ready before the guest pauses (a netlink socket open in each namespace,
// the ports resolved), so that Steer() only writes the entries: well under a millisecond from
// the pause, where opening them then took 1-5 ms, and every frame that reaches the source
// meanwhile is lost with its tap.
class L2Steering {
 public:
  static Result<L2Steering> Prepare(const LabState& state, const std::string& mac,
                                    const std::string& from, const std::string& to);
  Status Steer();

 private:
  struct Step {
    FdbSocket fdb;
    int port = 0;
    bool forget = false;  // delete the MAC's entry on `port`; else send the MAC to it
  };
  std::string mac_;
  std::vector<Step> steps_;
};

// The VM is gone: no site routes or announces its address (or sends its MAC over the overlay;
// l2: no bridge keeps an entry for its MAC).
Status UnrouteVm(const LabState& state, const std::string& ip, const std::string& mac);

}  // namespace greenshift::lab
