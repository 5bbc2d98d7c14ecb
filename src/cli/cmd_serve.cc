// greenshift serve: the Green Energy Control service. Loads the config, opens (and migrates) the
// store, holding its lock, opens the driver (the lab's QEMUs, or the sim driver), settles the
// store with what the driver reports, then runs the engine's loop and serves the REST API,
// /metrics and the dashboard. SIGHUP reads the weather and carbon files again; SIGINT and
// SIGTERM stop it cleanly (a migration still running is cancelled: its VM stays on its source).
// Under systemd (Type=notify) it says when it is ready, reloading and stopping.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>

#include "api/api.h"
#include "api/server.h"
#include "cli/context.h"
#include "cli/drivers.h"
#include "control/config.h"
#include "control/recovery.h"
#include "control/service.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/systemd.h"
#include "store/store.h"

namespace greenshift::cli {

namespace {

int64_t WallMs() {
  return UnixMillis(WallNow());
}

// Every file the config names, read as the service would: the config is only "ok" when the
// service could start from it (bar the store, the driver and the network).
Status CheckConfig(const control::ServiceConfig& config) {
  const int64_t slot_s = control::ProblemOf(config).slot_s;
  GS_RETURN_IF_ERROR(control::ProblemOf(config).Check().Context(config.file));
  for (const control::SiteConfig& site : config.sites) {
    Result<std::shared_ptr<const control::SiteInputs>> in =
        control::LoadSiteInputs(site, config.file, slot_s);
    if (!in.ok()) return in.status();
  }
  return Status::Ok();
}

void RunServe(Context& context, const std::string& config_path, int port_override, bool check_only,
              bool check_hosts, bool check_feeds) {
  // Block the signals before any thread starts, so only sigtimedwait below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Result<control::ServiceConfig> config = control::LoadConfig(config_path);
  if (!config.ok()) return context.Fail(config.error());
  if (check_only) {
    Status checked = CheckConfig(*config);
    if (!checked.ok()) return context.Fail(checked.message());
    for (const std::string& warning : config->warnings)
      std::printf("%s: warning: %s\n", config_path.c_str(), warning.c_str());
    std::printf("%s: ok (%zu sites, %zu hosts, %zu VMs, mode %s, policy %s, token from %s)\n",
                config_path.c_str(), config->sites.size(), config->hosts.size(), config->vms.size(),
                control::ModeName(config->mode), config->policy.c_str(),
                config->token_source.c_str());
    return;
  }
  if (check_feeds) {
    std::vector<std::string> lines;
    const bool ok = control::CheckFeeds(*config, HttpGet, &lines);
    for (const std::string& line : lines) std::printf("%s\n", line.c_str());
    if (lines.empty()) std::printf("%s: no site has a live feed\n", config_path.c_str());
    if (!ok) return context.Fail("a feed failed (above)");
    return;
  }
  if (check_hosts) {
    // Through the driver, as the service will: every host is asked for its VMs.
    Result<ServiceDriver> opened = OpenServiceDriver(context, *config);
    if (!opened.ok()) return context.Fail(opened.error());
    Result<std::vector<hypervisor::VmInfo>> listed = opened->driver->ListVms();
    if (!listed.ok()) return context.Fail("the hosts did not answer: " + listed.error());
    std::string can;
    for (const std::string& name : opened->driver->GetCapabilities().Names())
      can += (can.empty() ? "" : ", ") + name;
    std::printf("driver %s: %s\n", config->driver.c_str(), can.c_str());
    for (const control::HostConfig& host : config->hosts) {
      std::string vms;
      for (const hypervisor::VmInfo& vm : *listed) {
        if (vm.host != host.DriverSite()) continue;
        const bool ours = config->FindVm(vm.spec.name) != nullptr;
        vms += " " + vm.spec.name + (ours ? "" : " (not in the config)");
      }
      std::printf("host %s (site %s): ok;%s\n", host.name.c_str(), host.site.c_str(),
                  vms.empty() ? " no VMs" : (" VMs:" + vms).c_str());
    }
    for (const control::VmConfig& vm : config->vms) {
      const bool found = std::any_of(listed->begin(), listed->end(),
                                     [&](const auto& info) { return info.spec.name == vm.name; });
      if (!found) std::printf("VM %s runs on no host\n", vm.name.c_str());
    }
    return;
  }
  Result<std::unique_ptr<store::Store>> store = store::Store::Open(config->database, true);
  if (!store.ok()) return context.Fail(store.error());
  Result<ServiceDriver> opened = OpenServiceDriver(context, *config);
  if (!opened.ok()) return context.Fail(opened.error());
  std::unique_ptr<hypervisor::Driver> driver = std::move(opened->driver);
  Result<control::Service> service = control::BuildService(*config, **store, *driver, WallMs);
  if (!service.ok()) return context.Fail(service.error());
  control::Engine& engine = *service->engine;

  Result<control::RecoveryReport> recovered = control::Recover(
      engine, **store, *driver, *service->recorder, opened->start,
      std::chrono::milliseconds(static_cast<int64_t>(config->migration_timeout_s * 1000)));
  if (!recovered.ok()) return context.Fail(recovered.error());

  api::Api api(*config, **store, *service->recorder, engine);
  api.SetFeeds(service->feeds.get());
  api::ServerOptions options;
  options.host = config->listen;
  options.port = port_override >= 0 ? port_override : config->port;
  options.max_connections = config->max_connections;
  options.tls_cert = config->tls_cert;
  options.tls_key = config->tls_key;
  api::HttpServer server(options, api);
  Status started = server.Start();
  if (!started.ok()) return context.Fail(started.message());
  std::string can;
  for (const std::string& name : driver->GetCapabilities().Names())
    can += (can.empty() ? "" : ", ") + name;
  service->recorder->Event(LogLevel::kInfo, "start",
                           "service started, mode " + std::string(control::ModeName(config->mode)) +
                               ", driver " + config->driver + " (" + can + ")",
                           engine.NowMs());
  for (const std::string& warning : config->warnings)
    service->recorder->Event(LogLevel::kWarning, "config", warning, engine.NowMs());
  for (const std::string& warning : service->warnings)
    service->recorder->Event(LogLevel::kWarning, "inputs", warning, engine.NowMs());
  std::printf("greenshift serve: %zu sites, %zu hosts, %zu VMs, mode %s, store %s\n",
              config->sites.size(), config->hosts.size(), config->vms.size(),
              control::ModeName(config->mode), config->database.c_str());
  std::printf("dashboard at %s://%s:%d/ (API under /api, metrics at /metrics)\n",
              server.tls() ? "https" : "http", config->listen.c_str(), server.port());
  std::fflush(stdout);
  engine.Start(service->clock);
  service->feeds->Start();
  NotifySystemd("READY=1");

  // Signals, and every minute the store's retention.
  const int64_t retention_ms = static_cast<int64_t>(config->retention_days * 86400e3);
  int64_t pruned_at = 0;
  for (;;) {
    const timespec minute{60, 0};
    const int signal = sigtimedwait(&signals, nullptr, &minute);
    if (signal == SIGHUP) {
      NotifySystemd("RELOADING=1");
      Status reloaded = control::ReloadInputs(*config, *service->inputs, service->feeds.get());
      if (reloaded.ok()) {
        service->recorder->Event(LogLevel::kInfo, "reload", "weather and carbon files read again",
                                 engine.NowMs());
      } else {
        service->recorder->Event(LogLevel::kError, "reload",
                                 "the files were kept as they were: " + reloaded.message(),
                                 engine.NowMs());
      }
      NotifySystemd("READY=1");
      continue;
    }
    if (signal == SIGINT || signal == SIGTERM) {
      std::printf("greenshift serve: %s, stopping\n", signal == SIGINT ? "SIGINT" : "SIGTERM");
      std::fflush(stdout);
      break;
    }
    const int64_t now = engine.NowMs();
    if (now - pruned_at >= 3600 * 1000) {
      pruned_at = now;
      Result<int64_t> removed = (*store)->Prune(now - retention_ms, 1000000);
      if (!removed.ok()) {
        Log(LogLevel::kError, "store.prune_failed", {{"error", removed.error()}});
      } else if (*removed > 0) {
        Log(LogLevel::kInfo, "store.pruned",
            {{"rows", static_cast<long long>(*removed)},
             {"older_than_days", config->retention_days}});
      }
    }
  }
  NotifySystemd("STOPPING=1");
  service->feeds->Stop();
  engine.Stop();  // a migration still running is cancelled: its VM stays on its source
  server.Stop();
  service->recorder->Event(LogLevel::kInfo, "stop", "service stopped", engine.NowMs());
}

}  // namespace

void AddServeCommand(CLI::App& app, Context& context) {
  CLI::App* serve =
      app.add_subcommand("serve", "run the service: control loop, REST API, metrics and dashboard");
  struct Options {
    std::string config;
    int port = -1;
    bool check = false;
    bool check_hosts = false;
    bool check_feeds = false;
  };
  auto o = std::make_shared<Options>();
  serve->add_option("--config", o->config, "the service's TOML file")->required();
  serve->add_option("--port", o->port, "listen on this port instead of the config's (0: any)")
      ->check(CLI::Range(0, 65535));
  serve->add_flag("--check-config", o->check,
                  "read the config and every file it names, say what is wrong, and exit");
  serve->add_flag("--check-hosts", o->check_hosts,
                  "connect to every host through the driver, list what runs where, and exit");
  serve->add_flag("--check-feeds", o->check_feeds,
                  "fetch every live feed once, say what each gave or why it failed, and exit");
  serve->callback([&context, o] {
    RunServe(context, o->config, o->port, o->check, o->check_hosts, o->check_feeds);
  });
}

}  // namespace greenshift::cli
