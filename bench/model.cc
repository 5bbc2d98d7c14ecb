// bench/model: the cost model's predictions against the lab's measured migrations, as the
// service prices them. For each link speed (--mbits) and guest (idle; rewriting 50 MB/s of a
// 64 MiB buffer; hot: 50 MB/s over 96 MiB, post-copy allowed), a fresh 256 MiB guest starts on
// site a, moves to b, and back, --repeat times. Every move goes through greenshift's QEMU
// driver tuned as the service tunes it (20 ms downtime target, auto-converge, post-copy when
// stuck for the hot guest), and the guest's dirty rate is sampled just before it, as the
// service's executor does. Each move is predicted twice:
//   configured  placement::PredictMove on the problem as a config states it: the link's nominal
//               rate, the guest's nominal dirty rate, all of its memory holding data;
//   calibrated  the same on control::Calibration::Priced() after every earlier move on this link
//               (its stream rate and switchover) and of this guest, and the sample: the
//               service's own pricing (a guest's first move takes the share of memory the
//               guests moved before held).
// The way back of each guest is the move the service prices with both its link and its guest
// measured: the goal (median absolute error <= 15 % on total time and on bytes) is taken there.
// No probes run during the moves (bench/migration and bench/wan.sh measure those).
//
// Needs root, QEMU and the guest image. 6-11 minutes with the defaults (a move that does not
// converge takes its 180 s timeout).
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "control/calibration.h"
#include "control/model_check.h"
#include "core/stats.h"
#include "lab/experiment.h"
#include "lab/guest.h"
#include "lab/lab.h"
#include "lab/lab_driver.h"
#include "placement/problem.h"

using namespace greenshift;

namespace {

struct Guest {
  const char* name;
  double dirty_mb_s;
  int buffer_mib;
  bool postcopy;
};

// One move, measured and predicted both ways.
struct Move {
  int mbit = 0;
  std::string guest;
  bool back = false;  // b -> a: its link and its guest measured before
  hypervisor::MigrationResult measured;
  placement::MoveCost configured, calibrated;
};

double Error(const placement::MoveCost& predicted, const hypervisor::MigrationResult& measured,
             double control::ModelError::*field) {
  if (!control::Comparable(predicted, measured)) return NAN;
  return control::ErrorOf(predicted, measured).*field;
}

// The median absolute error of `field` over `moves` against the prediction `which`, in percent;
// the number compared in `count`.
double MedianAbsPercent(const std::vector<const Move*>& moves, placement::MoveCost Move::*which,
                        double control::ModelError::*field, size_t* count) {
  std::vector<double> errors;
  for (const Move* m : moves) {
    const double e = Error(m->*which, m->measured, field);
    if (!std::isnan(e)) errors.push_back(std::abs(e) * 100);
  }
  *count = errors.size();
  return Median(errors);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"the cost model against the lab's migrations, configured and calibrated"};
  int repeat = 2, memory_mib = 256;
  std::vector<int> mbits = {100, 1000};
  std::string guest_dir = GREENSHIFT_DEFAULT_GUEST_DIR, lab_name = "gsmodel";
  app.add_option("--repeat", repeat, "guests per cell (each moves there and back)")
      ->check(CLI::Range(1, 20));
  app.add_option("--mbits", mbits, "link speeds, Mbit/s")->check(CLI::Range(10, 10000));
  app.add_option("--memory", memory_mib, "guest memory, MiB")->check(CLI::Range(192, 2048));
  app.add_option("--guest-dir", guest_dir, "guest kernel and initramfs");
  app.add_option("--lab", lab_name, "lab name");
  CLI11_PARSE(app, argc, argv);

  const std::vector<Guest> guests = {
      {"idle", 0, 0, false}, {"dirty 50 MB/s", 50, 64, false}, {"hot", 50, 96, true}};
  lab::LabConfig config;
  config.name = lab_name;
  config.site_names = {"a", "b"};
  Result<lab::LabState> state = lab::LabUp(config);
  if (!state.ok()) {
    std::fprintf(stderr, "bench/model: %s\n", state.error().c_str());
    return 1;
  }
  lab::LabDriver lab_driver = lab::OpenLabDriver(*state, guest_dir, "tcg");
  hypervisor::Driver& driver = *lab_driver.driver;
  const std::string vm_name = "model";
  auto fail = [&](const std::string& why) {
    std::fprintf(stderr, "bench/model: %s\n", why.c_str());
    (void)driver.StopVm(vm_name);
    (void)lab::LabDown(config);
    return 1;
  };

  std::vector<Move> moves;
  int failures = 0;
  for (int mbit : mbits) {
    if (Status set = lab::SetLink(config, "a", "b", mbit, 0); !set.ok()) return fail(set.message());
    // The problem as a service's config states it: one VM per guest started, so each guest's
    // memory is learned from its own moves and the link from every move over it.
    placement::Problem problem;
    problem.sites = {{"a", 1000, 0}, {"b", 1000, 0}};
    problem.links.assign(4, placement::Link{mbit * 1e6 / 8, 0});
    problem.downtime_target_s = 0.020;
    problem.auto_converge = true;
    for (int r = 0; r < repeat; ++r) {
      for (const Guest& g : guests) {
        placement::Vm vm;
        vm.name = std::string(g.name) + " #" + std::to_string(r + 1);
        vm.memory_bytes = int64_t{memory_mib} << 20;
        vm.dirty_rate_bytes_s = g.dirty_mb_s * 1e6;
        vm.working_set_bytes = g.buffer_mib > 0 ? int64_t{g.buffer_mib} << 20 : -1;
        vm.postcopy_allowed = g.postcopy;
        problem.vms.push_back(vm);
      }
    }
    control::Calibration calibration(problem);
    size_t v = 0;
    for (int r = 0; r < repeat; ++r) {
      for (const Guest& g : guests) {
        (void)driver.StopVm(vm_name);
        lab::GuestSpec spec;
        spec.vm.name = vm_name;
        spec.vm.memory_mib = memory_mib;
        spec.dirty_mb_s = g.dirty_mb_s;
        spec.dirty_size_mib = g.buffer_mib;
        spec.mac = lab::MacFor(state->name, vm_name);
        spec.ip_cidr = "198.18.128.10/16";
        if (Status started = lab_driver.start(spec, "a"); !started.ok())
          return fail(started.message());
        if (Result<std::string> up =
                lab::WaitForGuest(*state, "198.18.128.10", std::chrono::seconds(90));
            !up.ok()) {
          return fail(up.error());
        }
        // The dirtying workload fills its buffer and reaches its rate.
        std::this_thread::sleep_for(std::chrono::seconds(g.dirty_mb_s > 0 ? 3 : 1));
        for (bool back : {false, true}) {
          const size_t from = back ? 1 : 0, to = back ? 0 : 1;
          Result<double> rate = driver.MeasureDirtyRate(vm_name, 1);
          if (!rate.ok()) return fail(rate.error());
          calibration.ObserveDirtyRate(v, *rate);
          Move m;
          m.mbit = mbit;
          m.guest = g.name;
          m.back = back;
          m.configured = placement::PredictMove(problem, v, from, to);
          m.calibrated = placement::PredictMove(calibration.Priced(), v, from, to);
          hypervisor::MigrationOptions options;
          options.mode = hypervisor::MigrationMode::kLive;
          options.tuning = hypervisor::Tuning::kGreenshift;
          options.downtime_limit_ms = 20;
          options.max_downtime_ms = 500;
          options.auto_converge = true;
          options.postcopy = g.postcopy ? hypervisor::PostcopyPolicy::kWhenStuck
                                        : hypervisor::PostcopyPolicy::kNever;
          options.timeout = std::chrono::seconds(180);
          m.measured = driver.Migrate(vm_name, back ? "a" : "b", options, nullptr);
          char resent[64] = "nothing";
          if (hypervisor::ResentWireFraction(m.measured) >= 0)
            std::snprintf(resent, sizeof resent, "%.1f MiB as %.0f%%",
                          m.measured.resent_page_bytes / 1048576.0,
                          hypervisor::ResentWireFraction(m.measured) * 100);
          std::fprintf(stderr,
                       "%5d Mbit/s  %-14s %s  %s  %.0f ms (configured %.0f, calibrated %.0f)  "
                       "%.1f MiB (%.1f, %.1f)  dirty %.1f MB/s  from pass 3 sent again %s%s\n",
                       mbit, g.name, back ? "b -> a" : "a -> b",
                       m.measured.completed ? "completed" : "FAILED", m.measured.total_ms,
                       m.configured.total_s * 1e3, m.calibrated.total_s * 1e3,
                       m.measured.bytes / 1048576.0, m.configured.bytes / 1048576.0,
                       m.calibrated.bytes / 1048576.0, *rate / 1e6, resent,
                       m.measured.postcopy ? "  post-copy" : "");
          // As the service's engine does: a move that failed still says what the guest's pages
          // sent again cost.
          calibration.ObserveMove(v, from, to, m.measured);
          if (!m.measured.completed) {
            ++failures;
            std::fprintf(stderr, "  %s\n", m.measured.error.c_str());
            break;
          }
          moves.push_back(std::move(m));
        }
        (void)driver.StopVm(vm_name);
        ++v;
      }
    }
  }
  (void)lab::LabDown(config);

  std::printf(
      "\nbench/model: %d MiB TCG guests, greenshift's QEMU driver (20 ms, auto-converge, "
      "post-copy when stuck for the hot guest), site a -> b and back, %d guest(s) per cell; "
      "measured (configured prediction / calibrated prediction), medians\n\n",
      memory_mib, repeat);
  std::printf("| %-6s | %-13s | %-6s | %-26s | %-26s | %-20s |\n", "Mbit/s", "guest", "move",
              "total ms", "MiB sent", "paused ms");
  std::printf(
      "|--------|---------------|--------|----------------------------|-------------------"
      "---------|----------------------|\n");
  for (int mbit : mbits) {
    for (const Guest& g : guests) {
      for (bool back : {false, true}) {
        std::vector<double> t, tc, tk, b, bc, bk, p, pc, pk;
        for (const Move& m : moves) {
          if (m.mbit != mbit || m.guest != g.name || m.back != back) continue;
          t.push_back(m.measured.total_ms);
          tc.push_back(m.configured.total_s * 1e3);
          tk.push_back(m.calibrated.total_s * 1e3);
          b.push_back(m.measured.bytes / 1048576.0);
          bc.push_back(m.configured.bytes / 1048576.0);
          bk.push_back(m.calibrated.bytes / 1048576.0);
          p.push_back(m.measured.paused_ms);
          pc.push_back(m.configured.downtime_s * 1e3);
          pk.push_back(m.calibrated.downtime_s * 1e3);
        }
        if (t.empty()) continue;
        char c1[64], c2[64], c3[64];
        std::snprintf(c1, sizeof c1, "%.0f (%.0f / %.0f)", Median(t), Median(tc), Median(tk));
        std::snprintf(c2, sizeof c2, "%.1f (%.1f / %.1f)", Median(b), Median(bc), Median(bk));
        std::snprintf(c3, sizeof c3, "%.1f (%.1f / %.1f)", Median(p), Median(pc), Median(pk));
        std::printf("| %6d | %-13s | %-6s | %-26s | %-26s | %-20s |\n", mbit, g.name,
                    back ? "b -> a" : "a -> b", c1, c2, c3);
      }
    }
  }
  std::vector<const Move*> all, back, out;
  for (const Move& m : moves) {
    all.push_back(&m);
    (m.back ? back : out).push_back(&m);
  }
  std::printf(
      "\nmedian absolute error, %% (moves compared; a move that ran otherwise than "
      "priced, post-copy or not, is not)\n\n");
  std::printf("| %-38s | %-12s | %-12s | %-12s |\n", "moves, prediction", "total time", "bytes",
              "pause");
  std::printf(
      "|----------------------------------------|--------------|--------------|------------"
      "--|\n");
  for (const auto& [label, set, which] :
       {std::tuple{"all, configured", &all, &Move::configured},
        std::tuple{"all, calibrated", &all, &Move::calibrated},
        std::tuple{"a guest's first move, calibrated", &out, &Move::calibrated},
        std::tuple{"the way back, configured", &back, &Move::configured},
        std::tuple{"the way back, calibrated (the goal)", &back, &Move::calibrated}}) {
    char cells[3][32];
    double control::ModelError::*fields[3] = {
        &control::ModelError::total, &control::ModelError::bytes, &control::ModelError::pause};
    for (int i = 0; i < 3; ++i) {
      size_t n = 0;
      const double e = MedianAbsPercent(*set, which, fields[i], &n);
      std::snprintf(cells[i], sizeof cells[i], "%.1f (%zu)", e, n);
    }
    std::printf("| %-38s | %-12s | %-12s | %-12s |\n", label, cells[0], cells[1], cells[2]);
  }
  if (failures) std::printf("\n%d migration(s) failed; see the lines above\n", failures);
  return failures ? 1 : 0;
}
