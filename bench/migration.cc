// bench/migration: greenshift's live migration side by side with what an operator gets without
// it, each for an idle guest, a guest rewriting 50 MB/s of a 64 MiB buffer, and a hot guest
// (50 MB/s over 96 MiB, across a 100 Mbit/s link: pre-copy cannot converge; greenshift may switch
// it to post-copy, the reference may not), in one run on one lab:
//   --hypervisor qemu (default): greenshift's QEMU driver vs a plain QMP `migrate` with QEMU's
//     defaults (128 MiB/s bandwidth cap, 300 ms downtime limit, no auto-converge);
//   --hypervisor libvirt: greenshift's libvirt driver vs `virsh migrate --live --p2p` with
//     libvirt's defaults (no bandwidth cap, 300 ms downtime limit, no auto-converge), the real
//     virsh against the same daemons.
// Every migration runs the talk's measurement: ping every 10 ms and 10000 HTTP requests 5 at a
// time from the client (for the hot guest from its third pass on, so that the load spans its
// switchover). Prints the median of --repeat runs per cell, then per cell in how many runs
// issue 12's goals held: completed; at most 1 ping lost; no request over 150 ms (and none
// failed); a guest-visible pause (the longest time without a ping's answer arriving, less the
// 10 ms interval) of at most 20 ms.
// Every run as JSON with --json.
//
// Needs root, QEMU (and libvirt) and the guest image (built with the project). With --repeat 10,
// 48 minutes here (docs/lab.md).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/process.h"
#include "core/stats.h"
#include "lab/experiment.h"
#include "lab/guest.h"
#include "lab/lab.h"
#include "lab/lab_driver.h"
#include "lab/libvirt_hosts.h"
#include "migration/precopy.h"

using namespace greenshift;

namespace {

// Who migrates: greenshift's driver, its driver with every QEMU parameter left at QEMU's default
// (a plain QMP `migrate`), or the real `virsh migrate --live --p2p` with libvirt's defaults.
enum class Migrator { kGreenshift, kQemuDefaults, kVirshDefaults };

const char* MigratorName(Migrator m) {
  switch (m) {
    case Migrator::kGreenshift:
      return "greenshift";
    case Migrator::kQemuDefaults:
      return "plain migrate, QEMU defaults";
    case Migrator::kVirshDefaults:
      return "virsh migrate --live --p2p";
  }
  return "?";
}

struct Cell {
  std::string workload;
  int dirty_mb_s = 0;
  int dirty_size_mib = 0;
  int link_mbit = 0;  // 0: the veth link as fast as it goes
  bool hot = false;   // greenshift may switch to post-copy; the load starts at pass 3
  Migrator migrator = Migrator::kGreenshift;
  std::vector<lab::ExperimentResult> runs;  // every run, completed or not
  std::vector<double> dirty_rates_bytes_s;  // measured by QEMU just before each run
};

// The guest-visible pause of a run: the longest time the client heard no answer to its pings
// (by arrival: pings to a paused guest are answered late, not lost) less their interval.
double VisiblePauseMs(const lab::ExperimentResult& run, double interval_ms) {
  return std::max(0.0, run.ping.longest_silence_ms - interval_ms);
}

template <typename F>
double MedianOf(const Cell& cell, F field) {
  std::vector<double> values;
  for (const lab::ExperimentResult& run : cell.runs) values.push_back(field(run));
  return values.empty() ? -1 : Median(values);  // a cell without runs prints -1
}

// The pre-copy model against these measurements. Calibrated once, on the idle guest migrated
// with greenshift's tuning: its non-zero memory (= bytes sent), the link's throughput (= bytes /
// time from `active` to `completed`) and the time before the copy starts (destination start,
// connection). Everything else is predicted from that, from what each cell sets (QEMU's 128 MiB/s
// cap and 300 ms limit for the defaults; 20 ms and auto-converge for greenshift; the dirty
// guest's 64 MiB buffer) and from the dirty rate QEMU measured just before each run.
void PrintModelComparison(const std::vector<Cell>& cells, int memory_mib) {
  using R = lab::ExperimentResult;
  const Cell& calibration = cells[0];
  if (calibration.runs.empty() || calibration.workload != "idle" ||
      calibration.migrator != Migrator::kGreenshift)
    return;  // calibrated on the idle guest's greenshift runs only
  const double nonzero =
      MedianOf(calibration, [](const R& r) { return double(r.migration.bytes); });
  const double link_bytes_s = MedianOf(calibration, [](const R& r) {
    const auto [active, completed] = hypervisor::CopyWindow(r.migration);
    return completed > active && active >= 0 ? r.migration.bytes / ((completed - active) / 1e3) : 0;
  });
  const double setup_s = MedianOf(calibration, [](const R& r) {
    return std::max(0.0, hypervisor::CopyWindow(r.migration).first) / 1e3;
  });
  std::printf(
      "\npre-copy model vs measured: measured (model), medians. Calibrated on the idle greenshift "
      "runs: %.1f MiB non-zero, link %.0f MiB/s, %.0f ms before the copy starts\n\n",
      nonzero / 1048576.0, link_bytes_s / 1048576.0, setup_s * 1e3);
  std::printf("| %-13s | %-28s | %-11s | %-19s | %-19s | %-15s | %-13s |\n", "guest", "migration",
              "dirty MB/s", "total ms", "MiB sent", "paused ms", "passes");
  std::printf("|%s|%s|%s|%s|%s|%s|%s|\n", std::string(15, '-').c_str(),
              std::string(30, '-').c_str(), std::string(13, '-').c_str(),
              std::string(21, '-').c_str(), std::string(21, '-').c_str(),
              std::string(17, '-').c_str(), std::string(15, '-').c_str());
  double total_error = 0, bytes_error = 0;
  int compared = 0;
  for (const Cell& cell : cells) {
    if (cell.runs.empty() || cell.hot) continue;  // post-copy: bench/model predicts it
    const bool greenshift = cell.migrator == Migrator::kGreenshift;
    std::vector<double> total, bytes, downtime, rounds;
    for (double rate : cell.dirty_rates_bytes_s) {
      migration::PrecopyInput in;
      in.memory_bytes = int64_t{memory_mib} * 1048576;
      in.nonzero_bytes = static_cast<int64_t>(
          std::min<double>(in.memory_bytes, nonzero + (cell.dirty_mb_s > 0 ? 64.0 * 1048576 : 0)));
      in.dirty_rate_bytes_s = rate;
      in.working_set_bytes = cell.dirty_mb_s > 0 ? 64 * 1048576 : -1;
      // QEMU's default cap is 128 MiB/s; libvirt lifts it.
      in.bandwidth_bytes_s = cell.migrator == Migrator::kQemuDefaults
                                 ? std::min(link_bytes_s, 128.0 * 1048576)
                                 : link_bytes_s;
      in.downtime_limit_s = greenshift ? 0.020 : 0.300;
      in.auto_converge = greenshift;
      in.setup_s = setup_s;
      Result<migration::PrecopyPrediction> p = migration::PredictPrecopy(in);
      if (!p.ok()) {
        std::printf("model: %s\n", p.error().c_str());
        return;
      }
      total.push_back(p->total_s * 1e3);
      bytes.push_back(static_cast<double>(p->bytes_sent));
      downtime.push_back(p->downtime_s * 1e3);
      rounds.push_back(p->rounds + 1);  // QEMU counts one pass per sync: rounds + 1
    }
    const double m_total = MedianOf(cell, [](const R& r) { return r.migration.total_ms; });
    const double m_bytes = MedianOf(cell, [](const R& r) { return double(r.migration.bytes); });
    char c0[32], c1[32], c2[32], c3[32], c4[32];
    std::snprintf(c0, sizeof c0, "%.1f", Median(cell.dirty_rates_bytes_s) / 1e6);
    std::snprintf(c1, sizeof c1, "%.0f (%.0f)", m_total, Median(total));
    std::snprintf(c2, sizeof c2, "%.1f (%.1f)", m_bytes / 1048576.0, Median(bytes) / 1048576.0);
    // virsh reports no pause, only libvirt's downtime figure.
    std::snprintf(c3, sizeof c3, "%.1f (%.1f)",
                  MedianOf(cell,
                           [](const R& r) {
                             return r.migration.paused_ms >= 0 ? r.migration.paused_ms
                                                               : r.migration.downtime_ms;
                           }),
                  Median(downtime));
    std::snprintf(c4, sizeof c4, "%.0f (%.0f)",
                  MedianOf(cell, [](const R& r) { return double(r.migration.passes); }),
                  Median(rounds));
    std::printf("| %-13s | %-28s | %-11s | %-19s | %-19s | %-15s | %-13s |\n",
                cell.workload.c_str(), MigratorName(cell.migrator), c0, c1, c2, c3, c4);
    if (&cell != &calibration) {
      total_error += std::abs(Median(total) - m_total) / m_total;
      bytes_error += std::abs(Median(bytes) - m_bytes) / m_bytes;
      ++compared;
    }
  }
  if (compared > 0) {
    std::printf(
        "\nmodel error on the %d predicted cells (median vs median): total time %.0f%%, bytes "
        "%.0f%% (mean absolute relative error)\n",
        compared, 100 * total_error / compared, 100 * bytes_error / compared);
  }
}

// Issue 12's goals, run by run: in how many of a cell's runs each held, and the worst run.
void PrintGoals(const std::vector<Cell>& cells, int repeat) {
  std::printf(
      "\ngoals, in how many of the %d runs they held (worst run in brackets): completed; at most 1 "
      "ping lost; no request over 150 ms; guest-visible pause <= 20 ms\n\n",
      repeat);
  std::printf("| %-15s | %-28s | %9s | %-15s | %-19s | %-19s | %-10s |\n", "guest", "migration",
              "completed", "<= 1 ping lost", "longest <= 150 ms", "visible <= 20 ms", "post-copy");
  std::printf("|%s|%s|%s|%s|%s|%s|%s|\n", std::string(17, '-').c_str(),
              std::string(30, '-').c_str(), std::string(11, '-').c_str(),
              std::string(17, '-').c_str(), std::string(21, '-').c_str(),
              std::string(21, '-').c_str(), std::string(12, '-').c_str());
  for (const Cell& cell : cells) {
    int completed = 0, pings_ok = 0, requests_ok = 0, pause_ok = 0, postcopy = 0, lost_max = 0;
    double longest_max = 0, pause_max = 0;
    for (const lab::ExperimentResult& run : cell.runs) {
      const double pause = VisiblePauseMs(run, 10);
      completed += run.migration.completed ? 1 : 0;
      postcopy += run.migration.postcopy ? 1 : 0;
      // A run that did not move the VM meets no goal of a move.
      if (!run.migration.completed) continue;
      pings_ok += run.ping.lost <= 1 ? 1 : 0;
      requests_ok += run.http_ran && run.http.failed == 0 && run.http.latency_max_ms <= 150;
      pause_ok += pause <= 20 ? 1 : 0;
      lost_max = std::max(lost_max, run.ping.lost);
      longest_max = std::max(longest_max, run.http.latency_max_ms);
      pause_max = std::max(pause_max, pause);
    }
    const int n = static_cast<int>(cell.runs.size());
    char c0[32], c1[32], c2[32], c3[32], c4[32];
    std::snprintf(c0, sizeof c0, "%d/%d", completed, n);
    if (completed > 0) {
      std::snprintf(c1, sizeof c1, "%d/%d (%d)", pings_ok, n, lost_max);
      std::snprintf(c2, sizeof c2, "%d/%d (%.0f ms)", requests_ok, n, longest_max);
      std::snprintf(c3, sizeof c3, "%d/%d (%.0f ms)", pause_ok, n, pause_max);
    } else {  // nothing moved: no worst move to show
      std::snprintf(c1, sizeof c1, "0/%d", n);
      std::snprintf(c2, sizeof c2, "0/%d", n);
      std::snprintf(c3, sizeof c3, "0/%d", n);
    }
    std::snprintf(c4, sizeof c4, "%d/%d", postcopy, n);
    std::printf("| %-15s | %-28s | %9s | %-15s | %-19s | %-19s | %-10s |\n", cell.workload.c_str(),
                MigratorName(cell.migrator), c0, c1, c2, c3, c4);
  }
}

// A size as virsh prints it ("92.539 MiB") in bytes; -1 when it is not one.
double VirshBytes(const std::string& text) {
  std::istringstream in(text);
  double value = 0;
  std::string unit;
  if (!(in >> value >> unit)) return -1;
  const std::vector<std::string> units = {"B", "KiB", "MiB", "GiB", "TiB"};
  for (size_t i = 0; i < units.size(); ++i)
    if (unit == units[i]) return value * std::pow(1024.0, static_cast<double>(i));
  return -1;
}

// `virsh domjobinfo --completed` on the destination, as "field: value" pairs.
std::map<std::string, std::string> CompletedJobInfo(const std::string& uri, const std::string& vm) {
  std::map<std::string, std::string> fields;
  Result<CommandOutput> out = RunCommand({"virsh", "-c", uri, "domjobinfo", vm, "--completed"});
  if (!out.ok() || out->exit_code != 0) return fields;
  std::istringstream lines(out->stdout_text);
  for (std::string line; std::getline(lines, line);) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    value.erase(value.find_last_not_of(' ') + 1);
    fields[line.substr(0, colon)] = value;
  }
  return fields;
}

// The reference: the real `virsh migrate --live --p2p` with libvirt's defaults, against the same
// daemons greenshift's driver talks to. Its figures are libvirt's completed-job statistics on the
// destination; virsh reports no pause of its own (paused_ms stays -1), and the probes measure
// what the client saw either way.
hypervisor::MigrationResult VirshMigrate(const lab::LabState& state, const std::string& vm,
                                         const std::string& from, const std::string& to,
                                         std::chrono::seconds timeout) {
  hypervisor::MigrationResult result;
  result.vm = vm;
  result.from = result.running_on = from;
  result.to = to;
  result.tuning = "virsh-defaults";
  const lab::LabSite* source = lab::FindSite(state, from);
  const lab::LabSite* destination = lab::FindSite(state, to);
  if (source == nullptr || destination == nullptr) {
    result.error = "no site " + (source == nullptr ? from : to);
    return result;
  }
  const libvirt::LibvirtHost src = lab::LibvirtHostFor(state, *source);
  const libvirt::LibvirtHost dst = lab::LibvirtHostFor(state, *destination);
  const SteadyTime started = SteadyNow();
  Result<CommandOutput> out = RunCommand(
      {"virsh", "-c", src.uri, "migrate", "--live", "--p2p", vm, dst.peer_uri, dst.migration_uri},
      RunOptions{"", timeout});
  result.total_ms = std::chrono::duration<double, std::milli>(SteadyNow() - started).count();
  if (!out.ok() || out->exit_code != 0) {
    // virsh killed on time out: libvirt's job goes on without it; it is aborted.
    (void)RunCommand({"virsh", "-c", src.uri, "domjobabort", vm});
    result.error = out.ok() ? "virsh: " + out->stderr_text : out.error();
    result.hypervisor_status = "failed";
    return result;
  }
  result.completed = true;
  result.running_on = to;
  result.hypervisor_status = "completed";
  std::map<std::string, std::string> job = CompletedJobInfo(dst.uri, vm);
  auto number = [&job](const std::string& key) {
    auto it = job.find(key);
    return it == job.end() ? -1.0 : std::atof(it->second.c_str());
  };
  result.downtime_ms = number("Total downtime");
  result.setup_ms = number("Setup time");
  result.passes = static_cast<int>(number("Iteration"));
  if (auto it = job.find("Memory processed"); it != job.end())
    result.bytes = static_cast<int64_t>(std::max(0.0, VirshBytes(it->second)));
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"greenshift live migration vs the hypervisor's defaults (QMP migrate, or virsh)"};
  int repeat = 3, requests = 10000, memory_mib = 256, hot_reference_timeout_s = 60;
  bool json_out = false;
  std::string guest_dir = GREENSHIFT_DEFAULT_GUEST_DIR, lab_name = "gsbench", hv = "qemu";
  std::vector<std::string> workloads = {"idle", "dirty", "hot"};
  app.add_option("--repeat", repeat, "runs per cell (median shown)")->check(CLI::Range(1, 20));
  app.add_option("-n,--requests", requests, "HTTP requests per run")->check(CLI::Range(1, 100000));
  app.add_option("--memory", memory_mib, "guest memory, MiB");
  app.add_option("--guest-dir", guest_dir, "guest kernel and initramfs");
  app.add_option("--lab", lab_name, "lab name");
  app.add_option("--hypervisor", hv, "qemu: vs a plain QMP migrate; libvirt: vs virsh migrate")
      ->check(CLI::IsMember({"qemu", "libvirt"}));
  app.add_option("--guests", workloads, "which guests: idle, dirty (50 MB/s of 64 MiB), hot")
      ->check(CLI::IsMember({"idle", "dirty", "hot"}))
      ->delimiter(',');
  app.add_option("--hot-reference-timeout-s", hot_reference_timeout_s,
                 "how long the reference tries to move the hot guest (it cannot converge)")
      ->check(CLI::Range(10, 600));
  app.add_flag("--json", json_out, "print every run as JSON");
  CLI11_PARSE(app, argc, argv);

  lab::LabConfig config;
  config.name = lab_name;
  config.site_names = {"a", "b"};
  config.hypervisor = hv;
  Result<lab::LabState> state = lab::LabUp(config);
  if (!state.ok()) {
    std::fprintf(stderr, "bench/migration: %s\n", state.error().c_str());
    return 1;
  }
  lab::LabDriver lab_driver = lab::OpenLabDriver(*state, guest_dir, "tcg");
  hypervisor::Driver& driver = *lab_driver.driver;

  const Migrator reference = hv == "libvirt" ? Migrator::kVirshDefaults : Migrator::kQemuDefaults;
  std::vector<Cell> cells;
  auto wanted = [&workloads](const char* w) {
    return std::find(workloads.begin(), workloads.end(), w) != workloads.end();
  };
  for (Migrator m : {Migrator::kGreenshift, reference}) {
    if (wanted("idle")) cells.push_back({"idle", 0, 0, 0, false, m, {}, {}});
  }
  for (Migrator m : {Migrator::kGreenshift, reference}) {
    if (wanted("dirty")) cells.push_back({"dirty 50 MB/s", 50, 64, 0, false, m, {}, {}});
  }
  if (wanted("hot") && !driver.GetCapabilities().post_copy) {
    // Without post-copy no driver moves it: its runs would show only that.
    std::fprintf(stderr, "bench/migration: the %s driver offers no post-copy: no hot guest\n",
                 hv.c_str());
    workloads.erase(std::remove(workloads.begin(), workloads.end(), "hot"), workloads.end());
  }
  for (Migrator m : {Migrator::kGreenshift, reference}) {
    if (wanted("hot")) cells.push_back({"hot, 100 Mbit/s", 50, 96, 100, true, m, {}, {}});
  }
  auto fail = [&](const std::string& why) {
    std::fprintf(stderr, "bench/migration: %s\n", why.c_str());
    (void)driver.StopVm("bench");
    (void)lab::LabDown(config);
    return 1;
  };
  int failures = 0;
  nlohmann::json all = nlohmann::json::array();
  // Interleave the cells run by run, so a drift of the machine hits all of them alike.
  for (int r = 0; r < repeat; ++r) {
    for (Cell& cell : cells) {
      const std::string vm = "bench";
      (void)driver.StopVm(vm);
      lab::GuestSpec guest;
      guest.vm.name = vm;
      guest.vm.memory_mib = memory_mib;
      guest.dirty_mb_s = cell.dirty_mb_s;
      guest.dirty_size_mib = cell.dirty_size_mib;
      guest.mac = lab::MacFor(state->name, vm);
      guest.ip_cidr = "198.18.128.10/16";
      if (Status started = lab_driver.start(guest, "a"); !started.ok())
        return fail(started.message());
      if (Result<std::string> up =
              lab::WaitForGuest(*state, "198.18.128.10", std::chrono::seconds(90));
          !up.ok()) {
        return fail(up.error());
      }
      // Let the dirtying workload fill its buffer and reach its rate before measuring.
      std::this_thread::sleep_for(std::chrono::seconds(cell.dirty_mb_s > 0 ? 3 : 1));
      Result<double> dirty_rate = driver.MeasureDirtyRate(vm, 1);
      if (!dirty_rate.ok()) return fail(dirty_rate.error());
      lab::ExperimentOptions options;
      options.vm = vm;
      options.to_site = "b";
      options.http_requests = requests;
      options.migration.mode = hypervisor::MigrationMode::kLive;
      options.migration.tuning = cell.migrator == Migrator::kQemuDefaults
                                     ? hypervisor::Tuning::kQemuDefaults
                                     : hypervisor::Tuning::kGreenshift;
      const std::chrono::seconds timeout(
          cell.hot && cell.migrator != Migrator::kGreenshift ? hot_reference_timeout_s : 120);
      options.migration.timeout = timeout;
      if (cell.hot) {
        options.http_start_pass = 3;  // as the switch nears: pre-copy passes take seconds each
        if (cell.migrator == Migrator::kGreenshift)
          options.migration.postcopy = hypervisor::PostcopyPolicy::kWhenStuck;
      }
      if (cell.migrator == Migrator::kVirshDefaults) {
        const lab::LabState& lab = *state;
        options.migrate = [&lab, vm, timeout] { return VirshMigrate(lab, vm, "a", "b", timeout); };
      }
      if (Status link = lab::SetLink(config, "a", "b", cell.link_mbit, 0); !link.ok())
        return fail(link.message());
      Result<lab::ExperimentResult> result =
          lab::RunMeasuredMigration(driver, *state, options, nullptr);
      (void)driver.StopVm(vm);
      if (!result.ok()) {
        std::fprintf(stderr, "bench/migration: %s\n", result.error().c_str());
        ++failures;
        continue;
      }
      // The reference cannot move the hot guest: that is what it shows, not a failure.
      if (!result->migration.completed && !(cell.hot && cell.migrator != Migrator::kGreenshift))
        ++failures;
      nlohmann::json j = lab::ToJson(*result);
      j["workload"] = cell.workload;
      j["migrator"] = MigratorName(cell.migrator);
      j["run"] = r + 1;
      all.push_back(j);
      std::fprintf(stderr,
                   "run %d/%d  %-14s %-28s %s  downtime %.1f ms  paused %.1f ms  pings lost %d  "
                   "longest request %.0f ms  visible pause %.0f ms%s\n",
                   r + 1, repeat, cell.workload.c_str(), MigratorName(cell.migrator),
                   result->migration.completed ? "completed" : "FAILED",
                   result->migration.downtime_ms, result->migration.paused_ms, result->ping.lost,
                   result->http.latency_max_ms, VisiblePauseMs(*result, 10),
                   result->migration.postcopy ? "  (post-copy)" : "");
      cell.runs.push_back(*result);
      cell.dirty_rates_bytes_s.push_back(*dirty_rate);
    }
  }
  (void)lab::LabDown(config);

  if (json_out) std::cout << all.dump(2) << "\n";
  std::printf(
      "\nbench/migration: %d MiB TCG guest under %s, site a -> b on a veth link (the hot guest's "
      "limited to 100 Mbit/s); ping every 10 ms and %d HTTP requests (5 at a time) during each "
      "migration; median of %d runs (failed ones too)\n\n",
      memory_mib, hv.c_str(), requests, repeat);
  std::printf("| %-15s | %-28s | %8s | %9s | %9s | %9s | %10s | %10s | %8s | %10s | %6s |\n",
              "guest", "migration", "total ms", "downtime", "paused ms", "silent ms", "pings lost",
              "HTTP fails", "p99 ms", "longest ms", "passes");
  std::printf("|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", std::string(17, '-').c_str(),
              std::string(30, '-').c_str(), std::string(10, '-').c_str(),
              std::string(11, '-').c_str(), std::string(11, '-').c_str(),
              std::string(11, '-').c_str(), std::string(12, '-').c_str(),
              std::string(12, '-').c_str(), std::string(10, '-').c_str(),
              std::string(12, '-').c_str(), std::string(8, '-').c_str());
  for (const Cell& cell : cells) {
    using R = lab::ExperimentResult;
    const double paused = MedianOf(cell, [](const R& r) { return r.migration.paused_ms; });
    char paused_text[32];
    if (paused >= 0)
      std::snprintf(paused_text, sizeof paused_text, "%.1f", paused);
    else
      std::snprintf(paused_text, sizeof paused_text, "n/a");  // virsh does not report it
    std::printf(
        "| %-15s | %-28s | %8.0f | %9.1f | %9s | %9.0f | %10.1f | %10.0f | %8.1f | %10.0f | %6.0f "
        "|\n",
        cell.workload.c_str(), MigratorName(cell.migrator),
        MedianOf(cell, [](const R& r) { return r.migration.total_ms; }),
        MedianOf(cell, [](const R& r) { return r.migration.downtime_ms; }), paused_text,
        MedianOf(cell, [](const R& r) { return VisiblePauseMs(r, 10); }),
        MedianOf(cell, [](const R& r) { return double(r.ping.lost); }),
        MedianOf(cell, [](const R& r) { return double(r.http.failed); }),
        MedianOf(cell, [](const R& r) { return r.http.latency_p99_ms; }),
        MedianOf(cell, [](const R& r) { return r.http.latency_max_ms; }),
        MedianOf(cell, [](const R& r) { return double(r.migration.passes); }));
  }
  PrintGoals(cells, repeat);
  // The model is calibrated on QEMU's own events (when the copy starts and ends); libvirt's
  // timeline ends when its job does, after the source QEMU has exited.
  if (hv == "qemu") PrintModelComparison(cells, memory_mib);
  if (failures) std::printf("\n%d migration(s) failed; see the run lines above\n", failures);
  return failures ? 1 : 0;
}
