// greenshift model precopy: what the pre-copy model predicts for a migration; model remote-disk:
// how fast a guest writes a shared disk far away.
#include <cmath>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/context.h"
#include "migration/precopy.h"

namespace greenshift::cli {

void AddModelCommands(CLI::App& app, Context& context) {
  CLI::App* model_cmd = app.add_subcommand("model", "predictions of the migration cost model");
  model_cmd->require_subcommand(1);
  struct Options {
    double memory_mib = 1024, nonzero_mib = -1, dirty_mb_s = 0, working_set_mib = -1;
    double bandwidth_mbit = 1000, downtime_limit_ms = 300;
    double disk_gib = 0, disk_write_mb_s = 0, rtt_ms = 0, stream_window_mib = 4;
    double resent_wire_fraction = 1;
    bool auto_converge = false, offline = false, json = false, postcopy = false;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = model_cmd->add_subcommand(
      "precopy", "rounds, time, bytes and downtime of a pre-copy live migration");
  cmd->add_option("--memory-mib", o->memory_mib, "guest RAM")->capture_default_str();
  cmd->add_option("--nonzero-mib", o->nonzero_mib, "RAM that is not zero (default: all)");
  cmd->add_option("--dirty-mb-s", o->dirty_mb_s, "how fast the guest dirties memory")
      ->capture_default_str();
  cmd->add_option("--working-set-mib", o->working_set_mib,
                  "most distinct memory it dirties (default: all of it)");
  cmd->add_option("--bandwidth-mbit", o->bandwidth_mbit, "what the migration stream achieves")
      ->capture_default_str();
  cmd->add_option("--downtime-limit-ms", o->downtime_limit_ms, "QEMU's downtime-limit")
      ->capture_default_str();
  cmd->add_option("--disk-gib", o->disk_gib,
                  "disk data copied along (storage copy): its allocated GiB")
      ->check(CLI::Range(0.0, 1e6))
      ->capture_default_str();
  cmd->add_option("--disk-write-mb-s", o->disk_write_mb_s,
                  "how fast the guest writes its disk meanwhile")
      ->check(CLI::Range(0.0, 1e6))
      ->capture_default_str();
  cmd->add_option("--rtt-ms", o->rtt_ms,
                  "the link's round trip: one TCP stream's window and slow start, and the last "
                  "bytes crossing after the guest stopped")
      ->check(CLI::Range(0.0, 20000.0))
      ->capture_default_str();
  cmd->add_option("--stream-window-mib", o->stream_window_mib,
                  "the most the stream keeps in flight (the hosts' socket buffers; 0: unbounded)")
      ->check(CLI::Range(0.0, 4096.0))
      ->capture_default_str();
  cmd->add_option("--resent-wire-fraction", o->resent_wire_fraction,
                  "what a page sent again from the third round on takes on the wire, as a share "
                  "of a page (1: whole; less with delta encoding, as a move's "
                  "resent_wire_bytes / resent_page_bytes)")
      ->check(CLI::Range(1e-6, 1.0))
      ->capture_default_str();
  cmd->add_flag("--auto-converge", o->auto_converge, "QEMU throttles the guest when needed");
  cmd->add_flag("--offline", o->offline, "regular migration: stop, copy, start");
  cmd->add_flag("--postcopy", o->postcopy,
                "switch to post-copy when pre-copy is stuck (after the bulk round and one more)");
  cmd->add_flag("--json", o->json, "print as JSON");
  cmd->callback([&context, o]() {
    migration::PrecopyInput in;
    in.memory_bytes = static_cast<int64_t>(o->memory_mib * 1048576);
    in.nonzero_bytes = o->nonzero_mib < 0 ? -1 : static_cast<int64_t>(o->nonzero_mib * 1048576);
    in.dirty_rate_bytes_s = o->dirty_mb_s * 1e6;
    in.working_set_bytes =
        o->working_set_mib < 0 ? -1 : static_cast<int64_t>(o->working_set_mib * 1048576);
    in.bandwidth_bytes_s = o->bandwidth_mbit * 1e6 / 8;
    in.downtime_limit_s = o->downtime_limit_ms / 1000;
    in.auto_converge = o->auto_converge;
    in.disk_bytes = static_cast<int64_t>(o->disk_gib * 1024 * 1048576);
    in.disk_write_rate_bytes_s = o->disk_write_mb_s * 1e6;
    in.rtt_s = o->rtt_ms / 1000;
    in.stream_window_bytes = o->stream_window_mib * 1048576;
    in.resent_wire_fraction = o->resent_wire_fraction;
    Result<migration::PrecopyPrediction> p = o->offline    ? migration::PredictStopAndCopy(in)
                                             : o->postcopy ? migration::PredictPostcopy(in)
                                                           : migration::PredictPrecopy(in);
    if (!p.ok()) return context.Fail(p.error());
    if (o->json) {
      nlohmann::json rounds = nlohmann::json::array();
      for (const migration::PrecopyRound& r : p->schedule) {
        rounds.push_back({{"round", r.round},
                          {"bytes", r.bytes},
                          {"page_bytes", r.page_bytes},
                          {"seconds", r.seconds},
                          {"throttle", r.throttle},
                          {"dirtied_bytes", r.dirtied_bytes}});
      }
      std::cout << nlohmann::json{{"converges", p->converges},
                                  {"rounds", p->rounds},
                                  {"total_s", p->total_s},
                                  {"downtime_s", p->downtime_s},
                                  {"bytes_sent", p->bytes_sent},
                                  {"final_throttle", p->final_throttle},
                                  {"disk_s", p->disk_s},
                                  {"disk_bytes_sent", p->disk_bytes_sent},
                                  {"postcopy", p->postcopy},
                                  {"postcopy_blocktime_s", p->postcopy_blocktime_s},
                                  {"reason", p->reason},
                                  {"schedule", rounds}}
                       .dump(2)
                << "\n";
    } else {
      std::printf("%s\n", p->reason.c_str());
      std::printf("rounds %d, total %.2f s, downtime %.1f ms, %.1f MiB sent", p->rounds, p->total_s,
                  p->downtime_s * 1e3, p->bytes_sent / 1048576.0);
      if (p->final_throttle > 0)
        std::printf(", guest throttled to %.0f%%", 100 * (1 - p->final_throttle));
      std::printf("\n");
      if (in.disk_bytes > 0) {
        std::printf("disk: copied first in %.2f s, %.1f MiB sent with the writes it carries\n",
                    p->disk_s, p->disk_bytes_sent / 1048576.0);
      }
    }
    if (!p->converges) context.Fail("the migration would not converge");
  });

  struct RemoteOptions {
    double rtt_ms = 0, in_flight_kib = 64, bandwidth_mbit = 0, write_mb_s = 0;
    bool json = false;
  };
  auto r = std::make_shared<RemoteOptions>();
  CLI::App* remote = model_cmd->add_subcommand(
      "remote-disk", "the write rate a guest gets from a shared disk at a distance");
  remote->add_option("--rtt-ms", r->rtt_ms, "round trip from the VM's site to the storage")
      ->required()
      ->check(CLI::Range(0.0, 1e5));
  remote
      ->add_option("--in-flight-kib", r->in_flight_kib,
                   "writes the guest keeps outstanding (a synchronous writer: one write)")
      ->check(CLI::Range(0.5, 1e7))
      ->capture_default_str();
  remote
      ->add_option("--bandwidth-mbit", r->bandwidth_mbit, "the link to the storage (0: unlimited)")
      ->check(CLI::Range(0.0, 1e7))
      ->capture_default_str();
  remote->add_option("--write-mb-s", r->write_mb_s, "what the guest needs: checked against it")
      ->check(CLI::Range(0.0, 1e6));
  remote->add_flag("--json", r->json, "print as JSON");
  remote->callback([&context, r]() {
    const double rate = migration::RemoteDiskWriteRate(r->in_flight_kib * 1024, r->rtt_ms / 1000,
                                                       r->bandwidth_mbit * 1e6 / 8);
    const bool enough = r->write_mb_s * 1e6 <= rate;
    if (r->json) {
      std::cout << nlohmann::json{{"write_rate_bytes_s", std::isfinite(rate) ? rate : -1},
                                  {"enough", enough}}
                       .dump(2)
                << "\n";
    } else if (!std::isfinite(rate)) {
      std::printf("no distance: the disk takes writes as fast as its storage does\n");
    } else {
      std::printf("at most %.2f MB/s of writes (%.0f KiB in flight per %.1f ms round trip)\n",
                  rate / 1e6, r->in_flight_kib, r->rtt_ms);
    }
    if (!enough) {
      char why[120];
      std::snprintf(why, sizeof why, "the guest writes %.1f MB/s: more than a disk this far takes",
                    r->write_mb_s);
      context.Fail(why);
    }
  });
}

}  // namespace greenshift::cli
