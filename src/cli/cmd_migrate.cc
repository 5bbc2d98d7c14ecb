// greenshift migrate NAME --to SITE [--live|--offline] [--json]
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iostream>

#include "cli/context.h"

namespace greenshift::cli {

namespace {

std::atomic<bool> g_cancel{false};

void OnCancelSignal(int) {
  g_cancel = true;
}

void PrintProgress(const hypervisor::MigrationProgress& p) {
  static int last_pass = -1;
  static hypervisor::MigrationPhase last_phase = hypervisor::MigrationPhase::kSetup;
  static int64_t last_disk_mib = -1;
  if (p.phase == hypervisor::MigrationPhase::kDiskCopy) {
    // A line per 64 MiB of disk copied.
    const int64_t mib = p.disk_transferred_bytes >> 20;
    if (last_disk_mib >= 0 && mib / 64 == last_disk_mib / 64) return;
    last_disk_mib = mib;
    std::fprintf(stderr, "  %7.0f ms  %-10s disk %lld MiB copied, %.1f MiB to go\n", p.elapsed_ms,
                 hypervisor::MigrationPhaseName(p.phase), static_cast<long long>(mib),
                 p.disk_remaining_bytes / 1048576.0);
    return;
  }
  if (p.pass == last_pass && p.phase == last_phase) return;
  last_pass = p.pass;
  last_phase = p.phase;
  std::fprintf(stderr, "  %7.0f ms  %-10s pass %d  sent %.1f MiB  remaining %.1f MiB\n",
               p.elapsed_ms, hypervisor::MigrationPhaseName(p.phase), p.pass,
               p.transferred_bytes / 1048576.0, p.remaining_bytes / 1048576.0);
}

}  // namespace

void AddMigrateCommand(CLI::App& app, Context& context) {
  struct Options {
    std::string name, to, tuning = "greenshift", copy_mode = "auto";
    bool live = false, offline = false, json = false, quiet = false, cancel = false;
    bool compare_disks = false, postcopy = false;
    double timeout_s = 300, postcopy_recover_s = 120;
    int downtime_limit_ms = 20;
    int max_downtime_ms = 300;
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("migrate", "move a VM to another site");
  cmd->add_option("name", options->name, "VM name")->required();
  cmd->add_option("--to", options->to, "destination site");
  auto* live = cmd->add_flag("--live", options->live, "pre-copy live migration (default)");
  cmd->add_flag("--offline", options->offline, "regular migration: stop, copy, start")
      ->excludes(live);
  cmd->add_flag("--json", options->json, "print the result as JSON");
  cmd->add_flag("--quiet", options->quiet, "no progress lines");
  cmd->add_flag("--cancel", options->cancel, "cancel the running migration of NAME");
  cmd->add_option("--tuning", options->tuning,
                  "greenshift (bandwidth, downtime target, auto-converge) or qemu-defaults")
      ->check(CLI::IsMember({"greenshift", "qemu-defaults"}))
      ->capture_default_str();
  cmd->add_option("--timeout-s", options->timeout_s, "give up (VM stays on its source) after this")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--downtime-limit-ms", options->downtime_limit_ms,
                  "greenshift tuning: downtime target")
      ->check(CLI::Range(1, 60000))
      ->capture_default_str();
  cmd->add_option("--max-downtime-ms", options->max_downtime_ms,
                  "greenshift tuning: the most downtime allowed when the target cannot be met "
                  "(raised step by step after 30 passes without converging)")
      ->check(CLI::Range(1, 60000))
      ->capture_default_str();
  cmd->add_option("--copy-mode", options->copy_mode,
                  "how a disk is copied: auto (background, then every write mirrored once caught "
                  "up), background, write-blocking")
      ->check(CLI::IsMember({"auto", "background", "write-blocking"}))
      ->capture_default_str();
  cmd->add_flag("--postcopy", options->postcopy,
                "switch to post-copy when pre-copy is stuck (greenshift tuning, live; a disk to "
                "copy is copied first): the VM then moves whatever it does, but a destination "
                "that dies after the switch takes it with it");
  cmd->add_option("--postcopy-recover-s", options->postcopy_recover_s,
                  "post-copy: how long to wait for a broken link to work again")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--compare-disks", options->compare_disks,
                "compare source and destination disk images at the switchover (tests; lengthens "
                "the pause)");
  cmd->callback([&context, options]() {
    Result<lab::LabState> state = context.OpenLab();
    if (!state.ok()) return context.Fail(state.error());
    lab::LabDriver lab_driver = context.DriverFor(*state);
    auto& driver = lab_driver.driver;
    if (options->cancel) {
      Status cancelled = driver->CancelMigration(options->name);
      if (!cancelled.ok()) return context.Fail(cancelled.message());
      std::printf("cancelling the migration of %s\n", options->name.c_str());
      return;
    }
    if (options->to.empty()) return context.Fail("migrate needs --to SITE");
    hypervisor::MigrationOptions migration;
    migration.mode =
        options->offline ? hypervisor::MigrationMode::kOffline : hypervisor::MigrationMode::kLive;
    migration.tuning = options->tuning == "greenshift" ? hypervisor::Tuning::kGreenshift
                                                       : hypervisor::Tuning::kQemuDefaults;
    migration.timeout = std::chrono::milliseconds(static_cast<int64_t>(options->timeout_s * 1000));
    migration.downtime_limit_ms = options->downtime_limit_ms;
    migration.max_downtime_ms = std::max(options->downtime_limit_ms, options->max_downtime_ms);
    migration.cancel_requested = &g_cancel;
    migration.disk_copy_mode =
        options->copy_mode == "background"       ? hypervisor::DiskCopyMode::kBackground
        : options->copy_mode == "write-blocking" ? hypervisor::DiskCopyMode::kWriteBlocking
                                                 : hypervisor::DiskCopyMode::kAuto;
    migration.compare_disks_at_switchover = options->compare_disks;
    migration.postcopy = options->postcopy ? hypervisor::PostcopyPolicy::kWhenStuck
                                           : hypervisor::PostcopyPolicy::kNever;
    migration.postcopy_recover_timeout =
        std::chrono::milliseconds(static_cast<int64_t>(options->postcopy_recover_s * 1000));
    signal(SIGINT, OnCancelSignal);
    signal(SIGTERM, OnCancelSignal);
    hypervisor::ProgressCallback progress;
    if (!options->quiet) progress = PrintProgress;
    hypervisor::MigrationResult result =
        driver->Migrate(options->name, options->to, migration, progress);
    if (options->json) {
      std::cout << hypervisor::ToJson(result).dump(2) << "\n";
    } else if (result.completed) {
      std::printf(
          "%s migration of %s from %s to %s completed in %.0f ms: downtime %.0f ms (the "
          "hypervisor's figure), "
          "paused %.1f ms, %.1f MiB in %d passes\n",
          hypervisor::MigrationModeName(result.mode), result.vm.c_str(), result.from.c_str(),
          result.to.c_str(), result.total_ms, result.downtime_ms, result.paused_ms,
          result.bytes / 1048576.0, result.passes);
      if (result.postcopy) {
        char waited[64] = "an unreported time";  // libvirt does not report it
        if (result.postcopy_blocktime_ms >= 0)
          std::snprintf(waited, sizeof waited, "%.0f ms", result.postcopy_blocktime_ms);
        std::printf("post-copy (%s): vCPUs waited %s for pages, %d broken link(s) recovered\n",
                    result.postcopy_reason.c_str(), waited, result.postcopy_recoveries);
      }
      if (!result.disk_copy_mode.empty()) {
        std::printf("disk: %.1f MiB copied (%s), caught up after %.0f ms%s%s\n",
                    result.disk_bytes / 1048576.0, result.disk_copy_mode.c_str(),
                    result.disk_copy_ms, result.disk_compare.empty() ? "" : "; at the switchover: ",
                    result.disk_compare.c_str());
      }
    }
    if (!result.completed) {
      context.Fail("migration of " + result.vm + " to " + result.to + " failed: " + result.error +
                   (result.from.empty() ? ""
                    : result.running_on.empty()
                        ? " (the VM runs nowhere now: start it again with `greenshift vm start`)"
                        : " (the VM stays on " + result.running_on + ")"));
    }
  });
}

}  // namespace greenshift::cli
