#include "lab/experiment.h"

#include <future>
#include <thread>

#include "core/clock.h"
#include "core/process.h"
#include "lab/guest.h"

namespace greenshift::lab {

std::string HostAddress(const std::string& cidr) {
  return cidr.substr(0, cidr.find('/'));
}

namespace {

// Runs `work` on a new thread inside the network namespace `netns`.
template <typename T, typename Work>
std::future<Result<T>> InNetns(const std::string& netns, Work work) {
  return std::async(std::launch::async, [netns, work]() -> Result<T> {
    if (Status entered = EnterNetns(netns); !entered.ok()) return entered;
    return work();
  });
}

}  // namespace

Result<std::string> WaitForGuest(const LabState& lab, const std::string& ip,
                                 std::chrono::milliseconds timeout) {
  return InNetns<std::string>(
             lab.client_netns,
             [ip, timeout]() -> Result<std::string> {
               const SteadyTime deadline = SteadyNow() + timeout;
               std::string last_error;
               while (SteadyNow() < deadline) {
                 Result<std::string> body =
                     HttpGet("http://" + ip + "/status", std::chrono::milliseconds(1000));
                 if (body.ok()) return body;
                 last_error = body.error();
                 std::this_thread::sleep_for(std::chrono::milliseconds(200));
               }
               return Status::Error("VM at " + ip + " did not answer HTTP within " +
                                    std::to_string(timeout.count()) + " ms (" + last_error + ")");
             })
      .get();
}

Result<ExperimentResult> RunMeasuredMigration(hypervisor::Driver& driver, const LabState& lab,
                                              const ExperimentOptions& options,
                                              const hypervisor::ProgressCallback& progress) {
  Result<hypervisor::VmInfo> vm = driver.GetVm(options.vm);
  if (!vm.ok()) return vm.status();
  const std::string ip = HostAddress(GuestOf(*vm).ip_cidr);
  if (ip.empty())
    return Status::Invalid("VM '" + options.vm +
                           "' is not a lab guest: no address is known for it");

  std::atomic<bool> stop_ping{false};
  std::atomic<bool> http_done{false};
  PingOptions ping;
  ping.target = ip;
  ping.interval = options.ping_interval;
  // Bounded even if everything else hangs.
  ping.duration =
      options.lead_in + options.migration.timeout + options.lead_out + std::chrono::minutes(10);
  ping.stop = &stop_ping;
  auto ping_future = InNetns<PingResult>(lab.client_netns, [ping]() { return RunPing(ping); });

  // Set when the HTTP load may start (at once, or at the migration's pass http_start_pass), and
  // when the migration has ended (the load then starts if it has not: it never waits forever).
  std::atomic<bool> http_go{options.http_start_pass <= 0 || static_cast<bool>(options.migrate)};
  std::atomic<bool> migration_over{false};
  std::future<Result<HttpLoadResult>> http_future;
  if (options.http_requests > 0) {
    HttpLoadOptions http;
    http.url = "http://" + ip + "/";
    http.concurrency = options.http_concurrency;
    http.requests = options.http_requests;
    http_future =
        InNetns<HttpLoadResult>(lab.client_netns, [http, &http_done, &http_go, &migration_over]() {
          while (!http_go && !migration_over)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
          Result<HttpLoadResult> result = RunHttpLoad(http);
          http_done = true;
          return result;
        });
  }
  hypervisor::ProgressCallback watch = progress;
  if (!http_go) {
    watch = [&progress, &http_go,
             start = options.http_start_pass](const hypervisor::MigrationProgress& p) {
      if (p.pass >= start || p.phase == hypervisor::MigrationPhase::kSwitchover ||
          p.phase == hypervisor::MigrationPhase::kPostcopy)
        http_go = true;
      if (progress) progress(p);
    };
  }

  std::this_thread::sleep_for(options.lead_in);
  ExperimentResult result;
  result.migration = options.migrate
                         ? options.migrate()
                         : driver.Migrate(options.vm, options.to_site, options.migration, watch);
  // Covered: the load had started before the migration ended and was still running.
  result.load_covered_migration = options.http_requests > 0 && http_go.load() && !http_done.load();
  migration_over = true;
  const SteadyTime migration_end = SteadyNow();
  if (http_future.valid()) {
    Result<HttpLoadResult> http = http_future.get();
    if (!http.ok()) {
      stop_ping = true;
      (void)ping_future.get();
      return http.status();
    }
    result.http = *http;
    result.http_ran = true;
  }
  const auto since_end = SteadyNow() - migration_end;
  if (since_end < options.lead_out) std::this_thread::sleep_for(options.lead_out - since_end);
  stop_ping = true;
  Result<PingResult> ping_result = ping_future.get();
  if (!ping_result.ok()) return ping_result.status();
  result.ping = *ping_result;
  return result;
}

nlohmann::json ToJson(const ExperimentResult& result) {
  nlohmann::json j = {{"migration", hypervisor::ToJson(result.migration)},
                      {"ping", ToJson(result.ping, false)}};
  if (result.http_ran) {
    j["http"] = ToJson(result.http);
    j["http"]["covered_migration"] = result.load_covered_migration;
  }
  return j;
}

}  // namespace greenshift::lab
