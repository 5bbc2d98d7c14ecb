// greenshift serve: the Green Energy Control service. Loads the config, opens (and migrates) the
// store, opens the driver (the lab's QEMUs, or the sim driver), reconciles the store with what
// the driver reports, then runs the control loop and serves the REST API, /metrics and the
// dashboard until SIGINT or SIGTERM.
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "api/server.h"
#include "cli/context.h"
#include "control/config.h"
#include "control/controller.h"
#include "hypervisor/sim/sim_driver.h"
#include "store/store.h"

namespace greenshift::cli {

namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void RunServe(Context& context, const std::string& config_path, int port_override) {
  // Block the signals before any thread starts, so only sigwait below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Result<control::ServiceConfig> config = control::LoadConfig(config_path);
  if (!config.ok()) return context.Fail(config.error());
  Result<std::unique_ptr<store::Store>> store = store::Store::Open(config->database);
  if (!store.ok()) return context.Fail(store.error());
  std::unique_ptr<hypervisor::Driver> driver;
  if (config->driver == "qemu") {
    lab::LabConfig lab_config = context.LabConfig();
    lab_config.name = config->lab;
    Result<lab::LabState> lab = lab::LoadLab(lab_config);
    if (!lab.ok()) return context.Fail(lab.error());
    for (const control::HostConfig& host : config->hosts) {
      bool found = false;
      for (const lab::LabSite& site : lab->sites) found |= site.name == host.address;
      if (!found)
        return context.Fail(config_path + ": host '" + host.name + "': lab '" + lab->name +
                            "' has no site '" + host.address + "'");
    }
    driver = context.DriverFor(*lab);
  } else {
    hypervisor::SimDriverConfig sim;
    for (const control::HostConfig& host : config->hosts) sim.sites.push_back(host.DriverSite());
    sim.bandwidth_bytes_s = config->link_mbit * 1e6 / 8;
    sim.speed = config->replay_speed;
    driver = std::make_unique<hypervisor::SimDriver>(sim);
  }
  Result<std::unique_ptr<control::Controller>> controller =
      control::Controller::Create(*config, **store, *driver, NowMs);
  if (!controller.ok()) return context.Fail(controller.error());
  if (Status settled = (*controller)->Reconcile(); !settled.ok())
    return context.Fail(settled.message());
  control::Controller* loop = controller->get();
  api::ApiServer server(
      *config, **store, [loop] { return loop->NowMs(); }, loop);
  const int port = port_override >= 0 ? port_override : config->port;
  Status started = server.Start(config->listen, port);
  if (!started.ok()) return context.Fail(started.message());
  (*store)
      ->AddEvent(NowMs(), "start",
                 "service started, mode " + std::string(control::ModeName(config->mode)))
      .ok();
  std::printf("greenshift serve: %zu sites, %zu hosts, %zu VMs, mode %s, store %s\n",
              config->sites.size(), config->hosts.size(), config->vms.size(),
              control::ModeName(config->mode), config->database.c_str());
  std::printf("dashboard at http://%s:%d/ (API under /api, metrics at /metrics)\n",
              config->listen.c_str(), server.port());
  std::fflush(stdout);
  loop->Start();
  int signal = 0;
  sigwait(&signals, &signal);
  std::printf("greenshift serve: %s, stopping\n", signal == SIGINT ? "SIGINT" : "SIGTERM");
  std::fflush(stdout);
  loop->Stop();  // a migration still running is cancelled: its VM stays on its source
  server.Stop();
  (*store)->AddEvent(NowMs(), "stop", "service stopped").ok();
}

}  // namespace

void AddServeCommand(CLI::App& app, Context& context) {
  CLI::App* serve =
      app.add_subcommand("serve", "run the service: control loop, REST API, metrics and dashboard");
  struct Options {
    std::string config;
    int port = -1;
  };
  auto o = std::make_shared<Options>();
  serve->add_option("--config", o->config, "the service's TOML file")->required();
  serve->add_option("--port", o->port, "listen on this port instead of the config's (0: any)")
      ->check(CLI::Range(0, 65535));
  serve->callback([&context, o] { RunServe(context, o->config, o->port); });
}

}  // namespace greenshift::cli
