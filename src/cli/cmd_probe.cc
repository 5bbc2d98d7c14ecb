// greenshift probe ping TARGET | probe http URL: the measurements of the talk, from the lab's
// client namespace (or --netns).
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <iostream>

#include "cli/context.h"
#include "core/process.h"
#include "lab/http_load.h"
#include "lab/ping_probe.h"

namespace greenshift::cli {

namespace {

std::atomic<bool> g_stop{false};
void OnProbeSignal(int) {
  g_stop = true;
}

// The namespace to probe from: --netns, else the lab's client namespace.
Status EnterProbeNetns(Context& context, const std::string& netns) {
  std::string target = netns;
  if (target.empty()) {
    Result<lab::LabState> state = context.OpenLab();
    if (!state.ok()) return state.status().Context("probe (give --netns to probe from elsewhere)");
    target = state->client_netns;
  }
  if (target == "-") return Status::Ok();  // the current namespace
  return EnterNetns(target);
}

}  // namespace

void AddProbeCommands(CLI::App& app, Context& context) {
  CLI::App* probe = app.add_subcommand("probe", "measure a VM: ICMP echo and HTTP load");
  probe->require_subcommand(1);

  struct PingArgs {
    std::string target, netns;
    int interval_ms = 10;
    double duration_s = 10;
    bool json = false, timeline = false;
  };
  auto ping = std::make_shared<PingArgs>();
  CLI::App* ping_cmd = probe->add_subcommand(
      "ping", "echo requests every interval; stops after --duration-s or on SIGINT/SIGTERM");
  ping_cmd->add_option("target", ping->target, "IPv4 address")->required();
  ping_cmd->add_option("--interval-ms", ping->interval_ms)
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  ping_cmd->add_option("--duration-s", ping->duration_s, "upper bound of the run")
      ->check(CLI::Range(0.01, 3600.0))
      ->capture_default_str();
  ping_cmd->add_option("--netns", ping->netns,
                       "namespace to probe from ('-' = this one); default: the lab's client");
  ping_cmd->add_flag("--json", ping->json);
  ping_cmd->add_flag("--timeline", ping->timeline, "include every sample (with --json)");
  ping_cmd->callback([&context, ping]() {
    if (Status entered = EnterProbeNetns(context, ping->netns); !entered.ok()) {
      return context.Fail(entered.message());
    }
    signal(SIGINT, OnProbeSignal);
    signal(SIGTERM, OnProbeSignal);
    lab::PingOptions options;
    options.target = ping->target;
    options.interval = std::chrono::milliseconds(ping->interval_ms);
    options.duration = std::chrono::milliseconds(static_cast<int64_t>(ping->duration_s * 1000));
    options.stop = &g_stop;
    Result<lab::PingResult> result = lab::RunPing(options);
    if (!result.ok()) return context.Fail(result.error());
    if (ping->json) {
      std::cout << lab::ToJson(*result, ping->timeline).dump(2) << "\n";
    } else {
      std::printf(
          "%s: %d sent, %d received, %d lost, longest gap %.1f ms, rtt min/avg/p99/max "
          "%.2f/%.2f/%.2f/%.2f ms\n",
          result->target.c_str(), result->sent, result->received, result->lost,
          result->longest_gap_ms, result->rtt_min_ms, result->rtt_avg_ms, result->rtt_p99_ms,
          result->rtt_max_ms);
    }
  });

  struct HttpArgs {
    std::string url, netns;
    int concurrency = 5, requests = 10000;
    double timeout_s = 10;
    bool json = false;
  };
  auto http = std::make_shared<HttpArgs>();
  CLI::App* http_cmd = probe->add_subcommand("http", "HTTP load like ab -c C -n N");
  http_cmd->add_option("url", http->url, "http://IPv4[:port]/path")->required();
  http_cmd->add_option("-c,--concurrency", http->concurrency)
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  http_cmd->add_option("-n,--requests", http->requests)
      ->check(CLI::Range(1, 10000000))
      ->capture_default_str();
  http_cmd->add_option("--timeout-s", http->timeout_s, "per request")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  http_cmd->add_option("--netns", http->netns,
                       "namespace to load from ('-' = this one); default: the lab's client");
  http_cmd->add_flag("--json", http->json);
  http_cmd->callback([&context, http]() {
    if (Status entered = EnterProbeNetns(context, http->netns); !entered.ok()) {
      return context.Fail(entered.message());
    }
    signal(SIGINT, OnProbeSignal);
    signal(SIGTERM, OnProbeSignal);
    lab::HttpLoadOptions options;
    options.url = http->url;
    options.concurrency = http->concurrency;
    options.requests = http->requests;
    options.timeout = std::chrono::milliseconds(static_cast<int64_t>(http->timeout_s * 1000));
    options.stop = &g_stop;
    Result<lab::HttpLoadResult> result = lab::RunHttpLoad(options);
    if (!result.ok()) return context.Fail(result.error());
    if (http->json) {
      std::cout << lab::ToJson(*result).dump(2) << "\n";
    } else {
      std::printf(
          "%s: %d completed, %d failed in %.0f ms (%.0f req/s); latency p50 %.2f p90 %.2f "
          "p99 %.2f max %.2f ms\n",
          http->url.c_str(), result->completed, result->failed, result->duration_ms,
          result->requests_per_s, result->latency_p50_ms, result->latency_p90_ms,
          result->latency_p99_ms, result->latency_max_ms);
      if (!result->first_error.empty())
        std::printf("first failure: %s\n", result->first_error.c_str());
    }
  });
}

}  // namespace greenshift::cli
