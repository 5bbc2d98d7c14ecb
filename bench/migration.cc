// bench/migration: greenshift's live migration side by side with a plain QMP `migrate` using
// QEMU's defaults (128 MiB/s bandwidth cap, 300 ms downtime limit, no auto-converge), each for an
// idle guest and for a guest rewriting 50 MB/s, in one run on one lab. Every migration runs the
// talk's measurement: ping every 10 ms and 10000 HTTP requests 5 at a time from the client.
// Prints the median of --repeat runs per cell, and every run as JSON with --json.
//
// Needs root, QEMU and the guest image (built with the project). Takes a few minutes.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/stats.h"
#include "hypervisor/qemu/qemu_driver.h"
#include "lab/experiment.h"
#include "lab/lab.h"

using namespace greenshift;

namespace {

struct Cell {
  std::string workload;
  int dirty_mb_s = 0;
  hypervisor::Tuning tuning = hypervisor::Tuning::kGreenshift;
  std::vector<lab::ExperimentResult> runs;
};

double Median(std::vector<double> values) {
  if (values.empty()) return -1;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

template <typename F>
double MedianOf(const Cell& cell, F field) {
  std::vector<double> values;
  for (const lab::ExperimentResult& run : cell.runs) values.push_back(field(run));
  return Median(values);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"greenshift live migration vs plain QMP migrate with QEMU defaults"};
  int repeat = 3, requests = 10000, memory_mib = 256;
  bool json_out = false;
  std::string guest_dir = GREENSHIFT_DEFAULT_GUEST_DIR, lab_name = "gsbench";
  app.add_option("--repeat", repeat, "runs per cell (median shown)")->check(CLI::Range(1, 20));
  app.add_option("-n,--requests", requests, "HTTP requests per run")->check(CLI::Range(1, 100000));
  app.add_option("--memory", memory_mib, "guest memory, MiB");
  app.add_option("--guest-dir", guest_dir, "guest kernel and initramfs");
  app.add_option("--lab", lab_name, "lab name");
  app.add_flag("--json", json_out, "print every run as JSON");
  CLI11_PARSE(app, argc, argv);

  lab::LabConfig config;
  config.name = lab_name;
  config.site_names = {"a", "b"};
  Result<lab::LabState> state = lab::LabUp(config);
  if (!state.ok()) {
    std::fprintf(stderr, "bench/migration: %s\n", state.error().c_str());
    return 1;
  }
  qemu::QemuDriver driver(lab::DriverConfigFor(*state, guest_dir, "tcg"));

  std::vector<Cell> cells = {
      {"idle", 0, hypervisor::Tuning::kGreenshift, {}},
      {"idle", 0, hypervisor::Tuning::kQemuDefaults, {}},
      {"dirty 50 MB/s", 50, hypervisor::Tuning::kGreenshift, {}},
      {"dirty 50 MB/s", 50, hypervisor::Tuning::kQemuDefaults, {}},
  };
  int failures = 0;
  nlohmann::json all = nlohmann::json::array();
  // Interleave the cells run by run, so a drift of the machine hits all of them alike.
  for (int r = 0; r < repeat; ++r) {
    for (Cell& cell : cells) {
      const std::string vm = "bench";
      (void)driver.StopVm(vm);
      hypervisor::VmSpec spec;
      spec.name = vm;
      spec.memory_mib = memory_mib;
      spec.dirty_mb_s = cell.dirty_mb_s;
      spec.dirty_size_mib = cell.dirty_mb_s > 0 ? 64 : 0;
      spec.mac = lab::MacFor(state->name, vm);
      spec.ip_cidr = "198.18.128.10/16";
      if (Status started = driver.StartVm(spec, "a"); !started.ok()) {
        std::fprintf(stderr, "bench/migration: %s\n", started.message().c_str());
        (void)lab::LabDown(config);
        return 1;
      }
      if (Result<std::string> up =
              lab::WaitForGuest(*state, "198.18.128.10", std::chrono::seconds(90));
          !up.ok()) {
        std::fprintf(stderr, "bench/migration: %s\n", up.error().c_str());
        (void)lab::LabDown(config);
        return 1;
      }
      // Let the dirtying workload fill its buffer and reach its rate before measuring.
      std::this_thread::sleep_for(std::chrono::seconds(cell.dirty_mb_s > 0 ? 3 : 1));
      lab::ExperimentOptions options;
      options.vm = vm;
      options.to_site = "b";
      options.http_requests = requests;
      options.migration.mode = hypervisor::MigrationMode::kLive;
      options.migration.tuning = cell.tuning;
      options.migration.timeout = std::chrono::seconds(120);
      Result<lab::ExperimentResult> result =
          lab::RunMeasuredMigration(driver, *state, options, nullptr);
      (void)driver.StopVm(vm);
      if (!result.ok()) {
        std::fprintf(stderr, "bench/migration: %s\n", result.error().c_str());
        ++failures;
        continue;
      }
      if (!result->migration.completed) ++failures;
      nlohmann::json j = lab::ToJson(*result);
      j["workload"] = cell.workload;
      j["run"] = r + 1;
      all.push_back(j);
      std::fprintf(stderr, "run %d/%d  %-14s %-13s %s  paused %.1f ms  pings lost %d\n", r + 1,
                   repeat, cell.workload.c_str(), result->migration.tuning.c_str(),
                   result->migration.completed ? "completed" : "FAILED",
                   result->migration.paused_ms, result->ping.lost);
      cell.runs.push_back(*result);
    }
  }
  (void)lab::LabDown(config);

  if (json_out) std::cout << all.dump(2) << "\n";
  std::printf(
      "\nbench/migration: %d MiB TCG guest, site a -> b on a veth link; ping every 10 ms and "
      "%d HTTP requests (5 at a time) during each migration; median of %d runs\n\n",
      memory_mib, requests, repeat);
  std::printf("| %-13s | %-28s | %8s | %9s | %9s | %10s | %10s | %8s | %6s |\n", "guest",
              "migration", "total ms", "downtime", "paused ms", "pings lost", "HTTP fails",
              "p99 ms", "passes");
  std::printf("|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", std::string(15, '-').c_str(),
              std::string(30, '-').c_str(), std::string(10, '-').c_str(),
              std::string(11, '-').c_str(), std::string(11, '-').c_str(),
              std::string(12, '-').c_str(), std::string(12, '-').c_str(),
              std::string(10, '-').c_str(), std::string(8, '-').c_str());
  for (const Cell& cell : cells) {
    const char* name = cell.tuning == hypervisor::Tuning::kGreenshift
                           ? "greenshift"
                           : "plain migrate, QEMU defaults";
    using R = lab::ExperimentResult;
    std::printf("| %-13s | %-28s | %8.0f | %9.1f | %9.1f | %10.0f | %10.0f | %8.1f | %6.0f |\n",
                cell.workload.c_str(), name,
                MedianOf(cell, [](const R& r) { return r.migration.total_ms; }),
                MedianOf(cell, [](const R& r) { return r.migration.downtime_ms; }),
                MedianOf(cell, [](const R& r) { return r.migration.paused_ms; }),
                MedianOf(cell, [](const R& r) { return double(r.ping.lost); }),
                MedianOf(cell, [](const R& r) { return double(r.http.failed); }),
                MedianOf(cell, [](const R& r) { return r.http.latency_p99_ms; }),
                MedianOf(cell, [](const R& r) { return double(r.migration.passes); }));
  }
  if (failures) std::printf("\n%d migration(s) failed; see the run lines above\n", failures);
  return failures ? 1 : 0;
}
