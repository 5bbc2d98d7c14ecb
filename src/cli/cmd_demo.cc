// greenshift demo: the talk's experiment on this machine. A lab with two sites, a VM serving HTTP
// on site a, and one live migration to site b while a client pings it every 10 ms and runs an
// `ab -c 5 -n 10000`-like load against it.
#include <cstdio>
#include <iostream>

#include "cli/context.h"
#include "lab/experiment.h"
#include "lab/guest.h"

namespace greenshift::cli {

void AddDemoCommand(CLI::App& app, Context& context) {
  struct Options {
    bool keep = false, json = false;
    int memory_mib = 256, dirty_mb_s = 0, requests = 10000;
    std::string hypervisor = "qemu";
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd =
      app.add_subcommand("demo", "two sites, one VM, one live migration under load, measured");
  cmd->add_flag("--keep", options->keep, "leave the lab and VM up afterwards");
  cmd->add_flag("--json", options->json, "print the measurements as JSON");
  cmd->add_option("--memory", options->memory_mib, "VM memory in MiB")->capture_default_str();
  cmd->add_option("--dirty-mb-s", options->dirty_mb_s, "guest memory rewrite rate")
      ->capture_default_str();
  cmd->add_option("-n,--requests", options->requests, "HTTP requests (5 at a time)")
      ->capture_default_str();
  cmd->add_option("--hypervisor", options->hypervisor,
                  "what runs the guest: qemu (over QMP) or libvirt (a daemon per site)")
      ->check(CLI::IsMember({"qemu", "libvirt"}))
      ->capture_default_str();
  cmd->callback([&context, options]() {
    lab::LabConfig config = context.LabConfig();
    config.site_names = {"a", "b"};
    config.hypervisor = options->hypervisor;
    std::printf("== greenshift demo: lab '%s' with sites a and b\n", config.name.c_str());
    Result<lab::LabState> state = lab::LabUp(config);
    if (!state.ok()) return context.Fail(state.error());
    lab::LabDriver lab_driver = context.DriverFor(*state);
    auto& driver = lab_driver.driver;
    const std::string vm = "web";
    auto finish = [&]() {
      if (options->keep) {
        std::printf(
            "== the lab stays up: try `greenshift --lab %s vm list`, then "
            "`greenshift --lab %s lab down`\n",
            config.name.c_str(), config.name.c_str());
      } else {
        Status down = lab::LabDown(config);
        if (!down.ok()) context.Fail(down.message());
      }
    };
    if (Result<hypervisor::VmInfo> existing = driver->GetVm(vm); existing.ok()) {
      (void)driver->StopVm(vm);  // a leftover from a --keep run
    }
    lab::GuestSpec guest;
    guest.vm.name = vm;
    guest.vm.memory_mib = options->memory_mib;
    guest.dirty_mb_s = options->dirty_mb_s;
    guest.dirty_size_mib = options->dirty_mb_s > 0 ? std::min(64, options->memory_mib / 4) : 0;
    guest.mac = lab::MacFor(state->name, vm);
    guest.ip_cidr = "198.18.128.10/16";
    std::printf("== starting VM %s (%d MiB, TCG) on site a at 198.18.128.10\n", vm.c_str(),
                guest.vm.memory_mib);
    if (Status started = lab_driver.start(guest, "a"); !started.ok()) {
      context.Fail(started.message());
      return finish();
    }
    Result<std::string> answer =
        lab::WaitForGuest(*state, "198.18.128.10", std::chrono::seconds(90));
    if (!answer.ok()) {
      context.Fail(answer.error());
      return finish();
    }
    std::printf("   guest answers: %s", answer->c_str());
    std::printf(
        "== live-migrating %s from a to b while the client pings every 10 ms and sends "
        "%d HTTP requests, 5 at a time\n",
        vm.c_str(), options->requests);
    lab::ExperimentOptions experiment;
    experiment.vm = vm;
    experiment.to_site = "b";
    experiment.http_requests = options->requests;
    Result<lab::ExperimentResult> result =
        lab::RunMeasuredMigration(*driver, *state, experiment, nullptr);
    if (!result.ok()) {
      context.Fail(result.error());
      return finish();
    }
    Result<hypervisor::VmInfo> after = driver->GetVm(vm);
    if (options->json) {
      nlohmann::json j = lab::ToJson(*result);
      if (after.ok()) j["vm_site_after"] = after->host;
      std::cout << j.dump(2) << "\n";
    } else {
      const hypervisor::MigrationResult& m = result->migration;
      std::printf("\n  migration      %s (%s)\n", m.completed ? "completed" : "FAILED",
                  m.completed ? (m.from + " -> " + m.to).c_str() : m.error.c_str());
      std::printf("  total time     %.0f ms\n", m.total_ms);
      std::printf(
          "  downtime       %.0f ms (hypervisor)   paused %.1f ms (guest stopped -> resumed)\n",
          m.downtime_ms, m.paused_ms);
      std::printf("  RAM sent       %.1f MiB in %d passes\n", m.bytes / 1048576.0, m.passes);
      std::printf("  ping           %d sent, %d lost, longest gap %.0f ms\n", result->ping.sent,
                  result->ping.lost, result->ping.longest_gap_ms);
      std::printf(
          "  HTTP           %d completed, %d failed, p50 %.1f ms, p99 %.1f ms, %.0f req/s%s\n",
          result->http.completed, result->http.failed, result->http.latency_p50_ms,
          result->http.latency_p99_ms, result->http.requests_per_s,
          result->load_covered_migration ? "" : " (load ended before the migration did)");
      if (after.ok()) std::printf("  VM now on      site %s\n\n", after->host.c_str());
    }
    if (!result->migration.completed)
      context.Fail("the migration failed: " + result->migration.error);
    finish();
  });
}

}  // namespace greenshift::cli
