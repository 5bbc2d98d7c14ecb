// What the system has measured of its own moves, so the next ones are priced from the links and
// the guests as they are, not as configured:
//   - a link's throughput: what a completed live move's stream carried (its memory bytes over
//     the time the source was copying, StreamThroughput), or for a VM whose disk was copied
//     along what its disk copy carried (LinkThroughput), the median of the link's last moves;
//     a link measured one way stands for the other way until that is measured too;
//   - a VM's dirty rate: sampled by the driver (QEMU's page sampling, calc-dirty-rate) just
//     before the VM moves, the median of its last samples;
//   - what a VM's memory holds: its size less what its last moves found all zero (QEMU sends a
//     zero page as a flag: an idle 1 GiB guest may send 100 MiB), the median of its last moves;
//     a VM not measured yet is taken to hold the same share of its memory as the measured ones
//     do (their median), rather than all of it;
//   - what a page sent again from the third pass on costs a VM on the wire: what its last
//     moves' delta encoding (QEMU's XBZRLE, whose cache the second pass fills) made of such
//     pages (hypervisor::ResentWireFraction: a guest changing a few words of a page sends a
//     few bytes, one rewriting pages whole or too many for the cache sends them whole), the
//     median of its last moves, failed ones too; a VM not measured yet takes the median of the
//     measured ones, as for what its memory holds;
//   - a link's switchover: how much longer a completed live move paused the guest than the
//     model's data left to send when it stopped (stopping the vCPUs, loading the device state,
//     starting on the destination: 8-60 ms for the lab's TCG guests, where the data takes
//     0.5-17 ms), the median of the link's last moves; a link not measured either way takes
//     the median of the measured ones (it is mostly the hosts' work, not the link's).
// Priced() is the configured problem with every measured figure in place of the configured
// one; the planner prices its moves on it, and the executor re-prices a move on the dirty rate
// sampled just before it (so each move's recorded prediction is the model's best, and its
// error is the model's, not the configuration's). The link's round trip and the hosts' socket
// window stay as configured: a measured stream already ran through them, and the model's
// min(rate, window / round trip) of a measured rate is that rate again.
//
// Thread safety: every call may come from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "hypervisor/driver.h"
#include "placement/problem.h"

namespace greenshift::control {

// What the stream of a completed live migration carried, bytes/s: its memory bytes over the
// time from the source's "copying" to its "completed" (the driver's events; without them, the
// total time less setup and disk copy). -1 when the result cannot say: not completed, not live,
// nothing sent, a copy shorter than 100 ms (QEMU's events have millisecond stamps), or a
// post-copy that recovered from a broken link (its time is the outage's).
double StreamThroughput(const hypervisor::MigrationResult& result);

// What a completed live migration measured of its link, bytes/s: its stream's throughput
// (StreamThroughput), but for a VM whose disk was copied along the disk copy's rate
// (MigrationResult::disk_rate_bytes_s), or -1 without one (a driver that does not measure it,
// a copy too short to tell). Such a VM's memory stream shared the link with the guest's
// mirrored writes (12.5 MB/s of link, 7.6 of it the stream's beside 5 MB/s of writes, in the
// lab), which the model takes off the link's bandwidth again; its disk copy had the link to
// itself (the guest's writes stayed on its source, copied later by the same copy).
double LinkThroughput(const hypervisor::MigrationResult& result);

struct CalibrationOptions {
  size_t window = 5;  // the median of a link's (a VM's) last `window` measurements
};

// A link as measured, beside its configuration.
struct LinkCalibration {
  std::string from, to;
  double configured_bytes_s = 0;
  double measured_bytes_s = -1;  // the median of the last measurements (-1: none)
  int64_t moves = 0;             // measurements taken, in all
  double switchover_s = -1;      // the median of the last switchovers (-1: none)
  int64_t switchovers = 0;       // in all
};

// A VM as measured, beside its configuration.
struct VmCalibration {
  std::string vm;
  double configured_dirty_bytes_s = 0;
  double sampled_dirty_bytes_s = -1;  // the median of the last samples (-1: none)
  int64_t samples = 0;                // in all
  int64_t memory_bytes = 0;
  int64_t data_bytes = -1;  // the median of what its last moves found not zero (-1: none)
  int64_t moves = 0;        // moves that said it, in all
  // The median of its last moves' wire share of a page sent again (-1: none), and how many
  // moves said it, in all.
  double resent_wire_fraction = -1;
  int64_t encoded_moves = 0;
};

class Calibration {
 public:
  explicit Calibration(placement::Problem configured, CalibrationOptions options = {});

  // A move of VM `vm` from site `from` to site `to` ended with `result`: what it measured of the
  // link becomes the link's measurement when it says one (LinkThroughput), what it found zero of
  // the VM's memory (result.zero_bytes) and what a page sent again cost on the wire
  // (hypervisor::ResentWireFraction) the VM's, and its pause (result.paused_ms, else the
  // hypervisor's downtime) less the model's the link's switchover, when it completed live. True
  // when it was used for any.
  bool ObserveMove(size_t vm, size_t from, size_t to, const hypervisor::MigrationResult& result);
  // A dirty-rate sample of VM `vm`, bytes/s. A value that is not finite or is negative (a
  // broken driver's) is refused: false, nothing changes.
  bool ObserveDirtyRate(size_t vm, double bytes_s);

  // The configured problem, every measured figure in place of the configured one.
  placement::Problem Priced() const;
  // Changes whenever Priced() would: the planner re-prices its moves only then.
  int64_t version() const;

  std::vector<LinkCalibration> Links() const;  // the measured ones (either figure), in site order
  std::vector<VmCalibration> Vms() const;      // the measured ones, in VM order

 private:
  // The median of a link's last figures in `last`, or of the other way's; -1 when neither.
  static double EitherWay(const std::map<std::pair<size_t, size_t>, std::deque<double>>& last,
                          size_t from, size_t to);
  placement::Problem PricedLocked() const;

  const placement::Problem configured_;
  const CalibrationOptions options_;
  mutable std::mutex mutex_;  // guards everything below
  std::map<std::pair<size_t, size_t>, std::deque<double>> link_last_;
  std::map<std::pair<size_t, size_t>, int64_t> link_moves_;
  std::map<std::pair<size_t, size_t>, std::deque<double>> switchover_last_;  // seconds
  std::map<std::pair<size_t, size_t>, int64_t> switchover_moves_;
  std::map<size_t, std::deque<double>> vm_last_;  // dirty rate samples
  std::map<size_t, int64_t> vm_samples_;
  std::map<size_t, std::deque<double>> data_last_;  // data bytes of the last moves
  std::map<size_t, int64_t> data_moves_;
  std::map<size_t, std::deque<double>> resent_last_;  // wire share of pages sent again
  std::map<size_t, int64_t> resent_moves_;
  int64_t version_ = 0;
};

}  // namespace greenshift::control
