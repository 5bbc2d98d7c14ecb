// greenshift serve: the Green Energy Control service. So far it loads the config, opens (and
// migrates) the store, and serves the REST API and /metrics until SIGINT or SIGTERM; the
// control loop (observe, predict, plan, act) is not part of it yet.
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "api/server.h"
#include "cli/context.h"
#include "control/config.h"
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
  api::ApiServer server(*config, **store, NowMs);
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
  std::printf("listening on http://%s:%d (API under /api, metrics at /metrics)\n",
              config->listen.c_str(), server.port());
  std::fflush(stdout);
  int signal = 0;
  sigwait(&signals, &signal);
  std::printf("greenshift serve: %s, stopping\n", signal == SIGINT ? "SIGINT" : "SIGTERM");
  server.Stop();
  (*store)->AddEvent(NowMs(), "stop", "service stopped").ok();
}

}  // namespace

void AddServeCommand(CLI::App& app, Context& context) {
  CLI::App* serve = app.add_subcommand("serve", "run the service: REST API and metrics");
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
