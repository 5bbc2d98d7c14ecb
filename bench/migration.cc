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
#include "lab/guest.h"
#include "lab/lab.h"
#include "migration/precopy.h"

using namespace greenshift;

namespace {

struct Cell {
  std::string workload;
  int dirty_mb_s = 0;
  hypervisor::Tuning tuning = hypervisor::Tuning::kGreenshift;
  std::vector<lab::ExperimentResult> runs;
  std::vector<double> dirty_rates_bytes_s;  // measured by QEMU just before each run
};

// When the source reported the migration copying and completed, in ms after the command.
std::pair<double, double> CopyWindow(const hypervisor::MigrationResult& m) {
  double active = -1, completed = -1;
  for (const hypervisor::MigrationEvent& e : m.events) {
    if (e.host != m.from || e.kind != hypervisor::MigrationEventKind::kPhase) continue;
    if (e.detail == "copying" && active < 0) active = e.at_ms;
    if (e.detail == "completed") completed = e.at_ms;
  }
  return {active, completed};
}

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

// The pre-copy model against these measurements. Calibrated once, on the idle guest migrated
// with greenshift's tuning: its non-zero memory (= bytes sent), the link's throughput (= bytes /
// time from `active` to `completed`) and the time before the copy starts (destination start,
// connection). Everything else is predicted from that, from what each cell sets (QEMU's 128 MiB/s
// cap and 300 ms limit for the defaults; 20 ms and auto-converge for greenshift; the dirty
// guest's 64 MiB buffer) and from the dirty rate QEMU measured just before each run.
void PrintModelComparison(const std::vector<Cell>& cells, int memory_mib) {
  using R = lab::ExperimentResult;
  const Cell& calibration = cells[0];
  if (calibration.runs.empty()) return;
  const double nonzero =
      MedianOf(calibration, [](const R& r) { return double(r.migration.bytes); });
  const double link_bytes_s = MedianOf(calibration, [](const R& r) {
    const auto [active, completed] = CopyWindow(r.migration);
    return completed > active && active >= 0 ? r.migration.bytes / ((completed - active) / 1e3) : 0;
  });
  const double setup_s = MedianOf(
      calibration, [](const R& r) { return std::max(0.0, CopyWindow(r.migration).first) / 1e3; });
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
    if (cell.runs.empty()) continue;
    const bool greenshift = cell.tuning == hypervisor::Tuning::kGreenshift;
    std::vector<double> total, bytes, downtime, rounds;
    for (double rate : cell.dirty_rates_bytes_s) {
      migration::PrecopyInput in;
      in.memory_bytes = int64_t{memory_mib} * 1048576;
      in.nonzero_bytes = static_cast<int64_t>(
          std::min<double>(in.memory_bytes, nonzero + (cell.dirty_mb_s > 0 ? 64.0 * 1048576 : 0)));
      in.dirty_rate_bytes_s = rate;
      in.working_set_bytes = cell.dirty_mb_s > 0 ? 64 * 1048576 : -1;
      in.bandwidth_bytes_s = greenshift ? link_bytes_s : std::min(link_bytes_s, 128.0 * 1048576);
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
    std::snprintf(c3, sizeof c3, "%.1f (%.1f)",
                  MedianOf(cell, [](const R& r) { return r.migration.paused_ms; }),
                  Median(downtime));
    std::snprintf(c4, sizeof c4, "%.0f (%.0f)",
                  MedianOf(cell, [](const R& r) { return double(r.migration.passes); }),
                  Median(rounds));
    std::printf("| %-13s | %-28s | %-11s | %-19s | %-19s | %-15s | %-13s |\n",
                cell.workload.c_str(), greenshift ? "greenshift" : "plain migrate, QEMU defaults",
                c0, c1, c2, c3, c4);
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
      {"idle", 0, hypervisor::Tuning::kGreenshift, {}, {}},
      {"idle", 0, hypervisor::Tuning::kQemuDefaults, {}, {}},
      {"dirty 50 MB/s", 50, hypervisor::Tuning::kGreenshift, {}, {}},
      {"dirty 50 MB/s", 50, hypervisor::Tuning::kQemuDefaults, {}, {}},
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
      guest.dirty_size_mib = cell.dirty_mb_s > 0 ? 64 : 0;
      guest.mac = lab::MacFor(state->name, vm);
      guest.ip_cidr = "198.18.128.10/16";
      if (Status started = lab::StartGuest(driver, guest, "a"); !started.ok()) {
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
      Result<double> dirty_rate = driver.MeasureDirtyRate(vm, 1);
      if (!dirty_rate.ok()) {
        std::fprintf(stderr, "bench/migration: %s\n", dirty_rate.error().c_str());
        (void)lab::LabDown(config);
        return 1;
      }
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
      cell.dirty_rates_bytes_s.push_back(*dirty_rate);
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
  PrintModelComparison(cells, memory_mib);
  if (failures) std::printf("\n%d migration(s) failed; see the run lines above\n", failures);
  return failures ? 1 : 0;
}
