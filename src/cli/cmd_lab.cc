// greenshift lab up | down | status | link
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <iostream>

#include "cli/context.h"
#include "core/files.h"
#include "lab/experiment.h"
#include "lab/guest.h"
#include "lab/libvirt_hosts.h"
#include "lab/relay.h"
#include "lab/routing.h"
#include "lab/storage.h"

namespace greenshift::cli {

namespace {

nlohmann::json VmsJson(Context& context, const lab::LabState& state) {
  nlohmann::json vms = nlohmann::json::array();
  Result<std::vector<hypervisor::VmInfo>> list = context.DriverFor(state).driver->ListVms();
  if (!list.ok()) return vms;
  for (const hypervisor::VmInfo& vm : *list) {
    vms.push_back({{"name", vm.spec.name},
                   {"ip", lab::HostAddress(lab::GuestOf(vm).ip_cidr)},
                   {"site", vm.host},
                   {"state", hypervisor::VmStateName(vm.state)}});
  }
  return vms;
}

}  // namespace

void AddLabCommands(CLI::App& app, Context& context) {
  CLI::App* lab_cmd =
      app.add_subcommand("lab", "the one-machine testbed: sites as network namespaces");
  lab_cmd->require_subcommand(1);

  struct UpOptions {
    int sites = 2;
    std::string names;
    int link_mbit = 0;
    double link_delay_ms = 0;
    std::string hypervisor = "qemu";
    bool storage = false;
    std::string network = "l2";
    std::string topology;
  };
  auto up = std::make_shared<UpOptions>();
  CLI::App* up_cmd = lab_cmd->add_subcommand("up", "create the lab (harmless when it is up)");
  up_cmd->add_option("--sites", up->sites, "number of sites (named a, b, c, ...)")
      ->check(CLI::Range(1, 200))
      ->capture_default_str();
  up_cmd->add_option("--names", up->names, "comma-separated site names instead of a, b, c");
  up_cmd->add_option("--link-mbit", up->link_mbit,
                     "bandwidth of each site-to-site link, 0 = unlimited");
  up_cmd->add_option("--link-delay-ms", up->link_delay_ms,
                     "one-way delay of each site-to-site link");
  up_cmd
      ->add_option("--hypervisor", up->hypervisor,
                   "qemu (QEMU processes over QMP) or libvirt (one libvirt daemon per site)")
      ->check(CLI::IsMember({"qemu", "libvirt"}))
      ->capture_default_str();
  up_cmd->add_flag("--storage", up->storage,
                   "shared storage: a namespace linked to every site, serving VM disks over NBD "
                   "(qemu-storage-daemon), iSCSI (tgtd) and NFS (nfs-ganesha); VMs use it with "
                   "`vm start --storage nbd|iscsi|nfs`");
  up_cmd
      ->add_option("--network", up->network,
                   "how VMs keep their address: l2 (every site on one segment), bgp (routed "
                   "sites, the client on a routed WAN, a VM's /32 announced by BGP where it runs) "
                   "or vxlan (routed sites, the VMs on an overlay joining the sites' bridges)")
      ->check(CLI::IsMember({"l2", "bgp", "vxlan"}))
      ->capture_default_str();
  CLI::Option* topology =
      up_cmd->add_option("--topology", up->topology,
                         "a JSON file: sites, network, hypervisor, storage and each link's "
                         "bandwidth and delay (docs/lab.md); instead of the options above");
  for (const char* other : {"--sites", "--names", "--link-mbit", "--link-delay-ms", "--hypervisor",
                            "--storage", "--network"})
    topology->excludes(up_cmd->get_option(other));
  up_cmd->callback([&context, up]() {
    lab::LabConfig config = context.LabConfig();
    if (!up->topology.empty()) {
      Result<std::string> text = ReadFile(up->topology);
      if (!text.ok()) return context.Fail(text.error());
      Result<lab::LabConfig> parsed = lab::ParseTopology(*text, up->topology, config);
      if (!parsed.ok()) return context.Fail(parsed.error());
      config = *parsed;
    } else if (!up->names.empty()) {
      std::string name;
      for (char c : up->names + ",") {
        if (c == ',') {
          config.site_names.push_back(name);
          name.clear();
        } else {
          name += c;
        }
      }
    } else {
      config.site_names = lab::DefaultSiteNames(up->sites);
    }
    if (up->topology.empty()) {
      config.link_bandwidth_mbit = up->link_mbit;
      config.link_delay_ms = up->link_delay_ms;
      config.hypervisor = up->hypervisor;
      config.storage = up->storage;
      config.network = up->network;
    }
    Result<lab::LabState> state = lab::LabUp(config);
    if (!state.ok()) return context.Fail(state.error());
    std::printf("lab %s is %s: %zu sites under %s, client namespace %s (%s)\n", state->name.c_str(),
                state->was_up ? "already up" : "up", state->sites.size(), state->hypervisor.c_str(),
                state->client_netns.c_str(), state->client_address.c_str());
  });

  lab_cmd->add_subcommand("down", "stop the lab's VMs and remove everything lab up created")
      ->callback([&context]() {
        Status down = lab::LabDown(context.LabConfig());
        if (!down.ok()) return context.Fail(down.message());
        std::printf("lab %s is down\n", context.lab.c_str());
      });

  auto json_output = std::make_shared<bool>(false);
  CLI::App* status_cmd = lab_cmd->add_subcommand("status", "sites, links and VMs of the lab");
  status_cmd->add_flag("--json", *json_output, "print JSON");
  status_cmd->callback([&context, json_output]() {
    Result<lab::LabState> state = context.OpenLab();
    if (!state.ok()) return context.Fail(state.error());
    nlohmann::json j = lab::ToJson(*state);
    j["vms"] = VmsJson(context, *state);
    if (state->has_storage) {
      for (const lab::StorageServer& server : lab::StorageServers(*state)) {
        j["storage"]["servers"][server.protocol] = {
            {"program", server.program}, {"port", server.port}, {"pid", server.pid}};
      }
    }
    if (state->network == lab::kNetworkBgp) j["routers"] = lab::RoutersJson(*state);
    if (state->network == lab::kNetworkVxlan) j["overlay"] = lab::OverlayJson(*state);
    for (size_t l = 0; l < state->links.size(); ++l) {
      if (state->links[l].delay_ms > 0)
        j["links"][l]["relay"] = lab::RelayStatusJson(*state, state->links[l]);
    }
    if (state->hypervisor == "libvirt") {
      // How to point a service's libvirt hosts at the sites (address, peer_uri, migration_uri).
      for (size_t s = 0; s < state->sites.size(); ++s) {
        const libvirt::LibvirtHost host = lab::LibvirtHostFor(*state, state->sites[s]);
        j["sites"][s]["libvirt"] = {
            {"uri", host.uri}, {"peer_uri", host.peer_uri}, {"migration_uri", host.migration_uri}};
      }
    }
    if (*json_output) {
      std::cout << j.dump(2) << "\n";
      return;
    }
    std::printf("lab %s under %s, network %s (client %s in %s)\n", state->name.c_str(),
                state->hypervisor.c_str(), state->network.c_str(), state->client_address.c_str(),
                state->client_netns.c_str());
    if (state->network == lab::kNetworkBgp) {
      const nlohmann::json routers = lab::RoutersJson(*state);
      for (const auto& [router, info] : routers.items()) {
        std::string sessions;
        for (const auto& [peer, session] : info["bgp"].items())
          sessions += " " + peer + ":" + session.get<std::string>();
        std::printf(
            "  router %-10s %s%s\n", router.c_str(),
            info["pid"].get<int>() > 0 ? "BIRD running" : "BIRD NOT RUNNING (lab up restarts it)",
            sessions.c_str());
      }
    }
    if (state->network == lab::kNetworkVxlan) {
      const nlohmann::json overlay = lab::OverlayJson(*state);
      for (const auto& [site, entries] : overlay.items()) {
        std::string where;
        for (const auto& [mac, dsts] : entries.items()) {
          for (const auto& dst : dsts)
            where += " " + (mac == "00:00:00:00:00:00" ? std::string("broadcast") : mac) + "->" +
                     dst.get<std::string>();
        }
        std::printf("  overlay %-9s%s\n", site.c_str(), where.c_str());
      }
    }
    for (const lab::LabSite& site : state->sites) {
      std::printf("  site %-12s netns %-16s migration address %s\n", site.name.c_str(),
                  site.netns.c_str(), site.migration_address.c_str());
      if (state->hypervisor == "libvirt")
        std::printf("       libvirt %s\n", lab::LibvirtHostFor(*state, site).uri.c_str());
    }
    if (state->has_storage) {
      std::printf("  storage      netns %-16s address %s\n", state->storage.netns.c_str(),
                  state->storage.migration_address.c_str());
      for (const lab::StorageServer& server : lab::StorageServers(*state)) {
        std::printf("       %-6s %-20s port %-5d %s\n", server.protocol.c_str(),
                    server.program.c_str(), server.port,
                    server.pid > 0 ? "running" : "NOT RUNNING (lab up restarts it)");
      }
    }
    for (const lab::LabLink& link : state->links) {
      std::printf("  link %s <-> %s  %s, delay %.1f ms\n", link.a.c_str(), link.b.c_str(),
                  link.bandwidth_mbit > 0
                      ? (std::to_string(link.bandwidth_mbit) + " Mbit/s").c_str()
                      : "unlimited",
                  link.delay_ms);
      if (link.delay_ms > 0) {
        const nlohmann::json relay = lab::RelayStatusJson(*state, link);
        if (relay["pid"].get<int>() == 0) {
          std::printf("       relay NOT RUNNING (lab up restarts it)\n");
        } else if (relay["stats"].is_object()) {
          const nlohmann::json& stats = relay["stats"];
          auto dropped = [](const nlohmann::json& d) {
            return d.value("dropped_queue", int64_t{0}) + d.value("dropped_send", int64_t{0});
          };
          std::printf("       relay pid %d: %lld frames relayed, %lld dropped\n",
                      relay["pid"].get<int>(),
                      static_cast<long long>(stats["a_to_b"].value("frames", int64_t{0}) +
                                             stats["b_to_a"].value("frames", int64_t{0})),
                      static_cast<long long>(dropped(stats["a_to_b"]) + dropped(stats["b_to_a"])));
        }
      }
    }
    for (const nlohmann::json& vm : j["vms"]) {
      std::printf("  vm   %-12s %-15s on %-12s %s\n", vm["name"].get<std::string>().c_str(),
                  vm["ip"].get<std::string>().c_str(), vm["site"].get<std::string>().c_str(),
                  vm["state"].get<std::string>().c_str());
    }
  });

  struct LinkOptions {
    std::string a, b;
    int bandwidth_mbit = -1;
    double delay_ms = -1;
    bool down = false, up = false;
  };
  auto link = std::make_shared<LinkOptions>();
  CLI::App* link_cmd =
      lab_cmd->add_subcommand("link", "shape a site-to-site link, or take it down/up");
  link_cmd->add_option("a", link->a, "one site")->required();
  link_cmd->add_option("b", link->b, "the other site")->required();
  link_cmd->add_option("--bandwidth-mbit", link->bandwidth_mbit, "0 = unlimited");
  link_cmd->add_option("--delay-ms", link->delay_ms, "one-way delay");
  link_cmd->add_flag("--down", link->down, "take the link down");
  link_cmd->add_flag("--up", link->up, "bring the link back up");
  link_cmd->callback([&context, link]() {
    if (link->down && link->up) return context.Fail("--down and --up exclude each other");
    if (!link->down && !link->up && link->bandwidth_mbit < 0 && link->delay_ms < 0) {
      return context.Fail("lab link " + link->a + " " + link->b +
                          ": say what to change: --bandwidth-mbit, --delay-ms, --down or --up");
    }
    if (link->down || link->up) {
      Status s = lab::SetLinkUp(context.LabConfig(), link->a, link->b, link->up);
      if (!s.ok()) return context.Fail(s.message());
    }
    if (link->bandwidth_mbit >= 0 || link->delay_ms >= 0) {
      Result<lab::LabState> state = context.OpenLab();
      if (!state.ok()) return context.Fail(state.error());
      int bandwidth = 0;
      double delay = 0;
      for (const lab::LabLink& l : state->links) {
        if ((l.a == link->a && l.b == link->b) || (l.a == link->b && l.b == link->a)) {
          bandwidth = l.bandwidth_mbit;
          delay = l.delay_ms;
        }
      }
      Status s = lab::SetLink(context.LabConfig(), link->a, link->b,
                              link->bandwidth_mbit >= 0 ? link->bandwidth_mbit : bandwidth,
                              link->delay_ms >= 0 ? link->delay_ms : delay);
      if (!s.ok()) return context.Fail(s.message());
    }
  });

  // What a delayed link runs in the lab's WAN namespace (relay.h); lab up and lab link start it.
  struct RelayOptions {
    lab::RelayConfig config;
    double queue_limit_mib = 64;
    std::string pid_file;
    std::string log_file = "/dev/null";
  };
  auto relay = std::make_shared<RelayOptions>();
  CLI::App* relay_cmd = lab_cmd->add_subcommand(
      "relay", "(internal) relay frames between two interfaces with a delay: a lab link's WAN");
  relay_cmd->group("");  // not listed: lab up and lab link run it
  relay_cmd->add_option("--a", relay->config.interface_a, "one interface")->required();
  relay_cmd->add_option("--b", relay->config.interface_b, "the other interface")->required();
  relay_cmd->add_option("--delay-ms", relay->config.delay_ms, "one-way delay")->required();
  relay_cmd->add_option("--delay-file", relay->config.delay_file,
                        "re-read the delay (ms) from this file on SIGHUP");
  relay_cmd->add_option("--queue-limit-mib", relay->queue_limit_mib, "per direction")
      ->check(CLI::Range(1.0, 4096.0))
      ->capture_default_str();
  relay_cmd->add_option("--stats", relay->config.stats_file, "JSON counters, every second");
  relay_cmd->add_option("--pid-file", relay->pid_file,
                        "detach once both interfaces are open, and write the pid here");
  relay_cmd->add_option("--log", relay->log_file, "where a detached relay writes its errors");
  relay_cmd->callback([&context, relay]() {
    relay->config.queue_limit_bytes = static_cast<int64_t>(relay->queue_limit_mib * (1 << 20));
    auto detach = [relay]() -> Status {
      if (relay->pid_file.empty()) return Status::Ok();
      std::fflush(nullptr);
      const pid_t child = fork();
      if (child < 0) return Status::Error("relay: fork failed");
      if (child > 0) {
        Status written = WriteFileAtomic(relay->pid_file, std::to_string(child) + "\n");
        if (!written.ok()) {
          kill(child, SIGTERM);
          std::fprintf(stderr, "greenshift: %s\n", written.message().c_str());
          _exit(1);
        }
        _exit(0);
      }
      setsid();
      // Nothing of the caller's stays open (it may be reading our output until it ends).
      FILE* null = std::fopen("/dev/null", "r+");
      FILE* log = std::fopen(relay->log_file.c_str(), "a");
      if (!null || !log) return Status::Error("relay: cannot open " + relay->log_file);
      dup2(fileno(null), STDIN_FILENO);
      dup2(fileno(null), STDOUT_FILENO);
      dup2(fileno(log), STDERR_FILENO);
      std::fclose(null);
      std::fclose(log);
      return Status::Ok();
    };
    Status s = lab::RunRelay(relay->config, detach);
    if (!s.ok()) return context.Fail(s.message());
  });
}

}  // namespace greenshift::cli
