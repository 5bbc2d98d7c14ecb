// The pre-copy live migration model: from a VM's memory, how fast it dirties memory, the link
// and the downtime limit, predict the rounds, the total time, the bytes sent, the downtime and
// whether the migration converges. Pure computation: no I/O, no clocks.
//
// A disk copied along goes first (QEMU's block mirror until it has caught up), then the memory.
// It follows QEMU's algorithm: round 1 sends all of memory while the guest runs; every later
// round sends what the guest dirtied during the round before; after each round QEMU estimates
// the downtime as (dirty bytes / bandwidth) and, once that is within the downtime limit, stops
// the guest and sends the rest. With auto-converge, QEMU throttles the guest's vCPUs when it
// dirties more than half of what a round transferred (20% at first, 10% more each time, at most
// 99%), which slows its dirtying in proportion.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace greenshift::migration {

struct PrecopyInput {
  int64_t memory_bytes = 0;       // guest RAM
  int64_t nonzero_bytes = -1;     // RAM that is not all zero (sent as data); -1 = all of it
  double dirty_rate_bytes_s = 0;  // distinct page bytes the guest dirties per second
  // The writable working set: the most distinct memory the guest dirties however long it runs
  // (a guest rewriting a 64 MiB buffer never dirties more than 64 MiB between two rounds).
  // -1 = unbounded (all of memory).
  int64_t working_set_bytes = -1;
  double bandwidth_bytes_s = 0;   // what the migration stream achieves on the link
  double downtime_limit_s = 0.3;  // QEMU's downtime-limit (default 300 ms)
  double setup_s = 0.0;           // fixed cost before round 1 (connection, destination start)
  int64_t device_state_bytes = 64 * 1024;  // CPU and device state sent while stopped
  bool auto_converge = false;
  int max_rounds = 30;  // give up (not converged) after this many rounds
  // What a page sent again from the third round on (and in a stop-and-copy after it) takes on
  // the wire, as a share of a page: 1 = sent whole; less with delta encoding (QEMU's XBZRLE
  // sends a page the guest changed in a few words as those words, a page its cache lost whole;
  // the second round fills the cache, so its pages all go whole), as measured of the guest
  // (MigrationResult's resent bytes). QEMU still decides when to stop on the pages left (as
  // pages, over the bandwidth the wire achieves): encoding shortens the rounds, so the guest
  // dirties less during each, and the pause, not the decision's bar.
  double resent_wire_fraction = 1.0;
  // A disk copied along (storage "copy"): its allocated bytes go first, while the guest runs
  // and writes `disk_write_rate_bytes_s` of new data the copy must carry too; during the memory
  // copy every write is mirrored over the same link, which the memory copy then shares. 0: the
  // VM has no disk to copy (none, or shared storage).
  int64_t disk_bytes = 0;
  double disk_write_rate_bytes_s = 0;
  // The link's round trip (0: next door) and the most the stream keeps in flight (the hosts'
  // socket buffers; 0: unbounded): over a round trip the copy is one TCP stream
  // (TcpStreamOver): its rate, its ramp before the first round, and the last of the copy
  // crossing one way after the guest stopped (in downtime_s and total_s).
  double rtt_s = 0;
  double stream_window_bytes = 0;
};

struct PrecopyRound {
  int round = 0;              // 1 = the bulk copy of all memory
  int64_t bytes = 0;          // sent in this round (on the wire: encoded pages as encoded)
  int64_t page_bytes = 0;     // the pages it sent, as pages
  double seconds = 0;         // its duration
  double throttle = 0;        // vCPU throttle during the round (auto-converge), 0..0.99
  int64_t dirtied_bytes = 0;  // dirtied while it ran: what the next round has to send
};

struct PrecopyPrediction {
  bool converges = false;
  int rounds = 0;               // live rounds before the stop (QEMU's passes are rounds + 1)
  double total_s = 0;           // setup + live rounds + stop-and-copy
  double downtime_s = 0;        // the stop-and-copy phase: remaining dirty bytes + device state
  int64_t bytes_sent = 0;       // everything on the wire (memory and disk)
  double disk_s = 0;            // the disk copy, before the memory's first round
  int64_t disk_bytes_sent = 0;  // the disk, the writes during its copy and the mirrored ones
  double final_throttle = 0;
  std::vector<PrecopyRound> schedule;
  std::string reason;  // why it converged or not, in words
  // PredictPostcopy: it switched to post-copy after the pre-copy rounds in `schedule`; the
  // guest's vCPUs then wait about this long in all for the pages they touch before those came.
  bool postcopy = false;
  double postcopy_blocktime_s = 0;
};

// Checks the input and predicts. Errors name the field that is wrong.
Result<PrecopyPrediction> PredictPrecopy(const PrecopyInput& input);

// Regular migration (stop, copy, start): the guest is stopped for the whole copy.
Result<PrecopyPrediction> PredictStopAndCopy(const PrecopyInput& input);

// Pre-copy that switches to post-copy when it is stuck, as greenshift's drivers do: the bulk
// round and one more; when the second still leaves more than the downtime limit to send, the
// guest is paused only for its device state, runs on the destination, and what it had dirtied
// is sent once at the link's rate. The guest rewrites that memory, so it touches it at once:
// its vCPUs wait for about all of it (blocktime = those bytes over the link). Always converges
// (unless a disk copied along cannot catch up with the guest's writes). A disk copied along is
// copied first and its writes mirrored until the switch, which ends the mirror.
Result<PrecopyPrediction> PredictPostcopy(const PrecopyInput& input);

// A disk on shared storage `rtt_s` away (round trip) over a link of `bandwidth_bytes_s` (0:
// unlimited): the write rate a guest gets that keeps `in_flight_bytes` of writes outstanding. A
// write is done when its acknowledgement is back, one round trip after it was sent (plus the
// time to send it); a synchronous writer (O_DSYNC, a database's log) keeps one write in flight,
// so a 64 KiB writer 40 ms away gets 1.6 MB/s however fast the link. Infinite when rtt_s is 0.
double RemoteDiskWriteRate(double in_flight_bytes, double rtt_s, double bandwidth_bytes_s);

// One TCP connection (a migration stream) over a link of `bandwidth_bytes_s` with round trip
// `rtt_s`, its window bounded by `window_bytes` (the hosts' socket buffers; 0: unbounded):
//   bandwidth_bytes_s  what it carries once open: the link's rate, or one window per round trip
//                      when that is less (4 MiB over 80 ms: 52 MB/s, whatever the link);
//   ramp_s             what opening it costs against that rate: the handshake (one round trip)
//                      and slow start (from 10 segments, doubling every round trip until the
//                      window holds a round trip of the rate), less what slow start did send;
//   one_way_s          half the round trip: the last of the memory crosses it after the guest
//                      stopped, so the guest's pause is the downtime plus this.
// With rtt_s 0 it is the link itself: no ramp, no crossing.
struct TcpStream {
  double bandwidth_bytes_s = 0;
  double ramp_s = 0;
  double one_way_s = 0;
};
TcpStream TcpStreamOver(double bandwidth_bytes_s, double rtt_s, double window_bytes);

}  // namespace greenshift::migration
