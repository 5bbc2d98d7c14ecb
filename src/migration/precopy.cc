#include "migration/precopy.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace greenshift::migration {

namespace {

constexpr double kThrottleInitial = 0.20;    // QEMU cpu-throttle-initial
constexpr double kThrottleIncrement = 0.10;  // QEMU cpu-throttle-increment
constexpr double kThrottleMax = 0.99;
constexpr double kThrottleTrigger = 0.50;  // QEMU throttle-trigger-threshold: dirtied > 50% of sent

Status Check(const PrecopyInput& in) {
  auto bad = [](const std::string& field, const std::string& why) {
    return Status::Error("pre-copy model: " + field + " " + why);
  };
  if (in.memory_bytes <= 0) return bad("memory_bytes", "must be positive");
  if (in.nonzero_bytes > in.memory_bytes)
    return bad("nonzero_bytes", "is larger than memory_bytes");
  if (!(in.dirty_rate_bytes_s >= 0) || std::isinf(in.dirty_rate_bytes_s))
    return bad("dirty_rate_bytes_s", "must be a finite number >= 0");
  if (!(in.bandwidth_bytes_s > 0) || std::isinf(in.bandwidth_bytes_s))
    return bad("bandwidth_bytes_s", "must be a finite number > 0");
  if (!(in.downtime_limit_s > 0)) return bad("downtime_limit_s", "must be > 0");
  if (!(in.setup_s >= 0)) return bad("setup_s", "must be >= 0");
  if (in.device_state_bytes < 0) return bad("device_state_bytes", "must be >= 0");
  if (in.max_rounds < 1 || in.max_rounds > 10000) return bad("max_rounds", "must be 1..10000");
  if (in.disk_bytes < 0) return bad("disk_bytes", "must be >= 0");
  if (!(in.disk_write_rate_bytes_s >= 0) || std::isinf(in.disk_write_rate_bytes_s))
    return bad("disk_write_rate_bytes_s", "must be a finite number >= 0");
  if (!(in.rtt_s >= 0) || std::isinf(in.rtt_s)) return bad("rtt_s", "must be a finite number >= 0");
  if (!(in.stream_window_bytes >= 0) || std::isinf(in.stream_window_bytes))
    return bad("stream_window_bytes", "must be a finite number >= 0");
  if (!(in.resent_wire_fraction > 0 && in.resent_wire_fraction <= 1))
    return bad("resent_wire_fraction", "must be in (0, 1]");
  return Status::Ok();
}

// A prediction over the link's round trip: `core` predicts for one TCP stream's rate with its
// ramp before the first round (and no round trip of its own); the last of the copy then crosses
// the link after the guest stopped, so the pause and the total grow by one way.
template <typename Core>
Result<PrecopyPrediction> OverTheLink(const PrecopyInput& given, Core core) {
  GS_RETURN_IF_ERROR(Check(given));
  const TcpStream stream =
      TcpStreamOver(given.bandwidth_bytes_s, given.rtt_s, given.stream_window_bytes);
  PrecopyInput in = given;
  in.bandwidth_bytes_s = stream.bandwidth_bytes_s;
  in.setup_s += stream.ramp_s;
  in.rtt_s = 0;
  Result<PrecopyPrediction> p = core(in);
  if (p.ok()) {
    p->downtime_s += stream.one_way_s;
    p->total_s += stream.one_way_s;
  }
  return p;
}

std::string Format(const char* format, double a, double b) {
  char buffer[1024];
  std::snprintf(buffer, sizeof buffer, format, a, b);
  return buffer;
}

}  // namespace

Result<PrecopyPrediction> PredictPrecopy(const PrecopyInput& given) {
  if (given.rtt_s > 0) return OverTheLink(given, PredictPrecopy);
  GS_RETURN_IF_ERROR(Check(given));
  const PrecopyInput& in = given;
  const int64_t working_set =
      in.working_set_bytes < 0 ? in.memory_bytes : std::min(in.working_set_bytes, in.memory_bytes);
  PrecopyPrediction p;
  double elapsed = in.setup_s;
  // The guest's disk writes cross the link only when the disk is copied along.
  const double disk_writes = in.disk_bytes > 0 ? in.disk_write_rate_bytes_s : 0;
  if (disk_writes >= in.bandwidth_bytes_s) {
    p.converges = false;
    p.reason = Format(
        "does not converge: the guest writes %.1f MB/s to its disk, as fast as the link carries "
        "(%.1f MB/s), so the disk copy never catches up",
        disk_writes / 1e6, in.bandwidth_bytes_s / 1e6);
    return p;
  }
  if (in.disk_bytes > 0) {
    // The bulk copy races the guest's writes: it catches up at the difference of the rates.
    p.disk_s = static_cast<double>(in.disk_bytes) / (in.bandwidth_bytes_s - disk_writes);
    p.disk_bytes_sent = in.disk_bytes + static_cast<int64_t>(disk_writes * p.disk_s);
    elapsed += p.disk_s;
  }
  // The memory copy shares the link with the mirrored writes (QEMU sees the rest as its
  // bandwidth, and so judges the downtime by it).
  const double bandwidth = in.bandwidth_bytes_s - disk_writes;
  double throttle = 0;
  int over_threshold = 0;

  // Dirtied (distinct) bytes while the guest runs for `seconds` at the current throttle.
  auto dirtied = [&](double seconds) {
    const double bytes = in.dirty_rate_bytes_s * (1.0 - throttle) * seconds;
    return static_cast<int64_t>(std::min<double>(bytes, static_cast<double>(working_set)));
  };

  // Pages sent again cross the wire encoded from the third round on: the first round's go
  // whole, and so do the second's, which fill the encoder's cache.
  auto on_wire = [&](int64_t page_bytes, int round) {
    if (round <= 2) return page_bytes;
    return static_cast<int64_t>(
        std::llround(static_cast<double>(page_bytes) * in.resent_wire_fraction));
  };
  int64_t to_send = in.nonzero_bytes < 0 ? in.memory_bytes : in.nonzero_bytes;
  for (int round = 1; round <= in.max_rounds; ++round) {
    PrecopyRound r;
    r.round = round;
    r.page_bytes = to_send;
    r.bytes = on_wire(to_send, round);
    r.seconds = static_cast<double>(r.bytes) / bandwidth;
    r.throttle = throttle;
    r.dirtied_bytes = dirtied(r.seconds);
    p.schedule.push_back(r);
    p.bytes_sent += r.bytes;
    elapsed += r.seconds;
    p.rounds = round;
    to_send = r.dirtied_bytes;

    // QEMU's bar: the pages left, as pages, over the bandwidth (it does not foresee the
    // encoding); the pause is what they take on the wire.
    const double expected_downtime =
        static_cast<double>(to_send + in.device_state_bytes) / bandwidth;
    if (expected_downtime <= in.downtime_limit_s) {
      const int64_t last = on_wire(to_send, round + 1) + in.device_state_bytes;
      p.converges = true;
      p.downtime_s = static_cast<double>(last) / bandwidth;
      p.bytes_sent += last;
      p.total_s = elapsed + p.downtime_s;
      // The writes mirrored while the memory was copied (the guest paused at the end).
      p.disk_bytes_sent += static_cast<int64_t>(disk_writes * (elapsed - in.setup_s - p.disk_s));
      p.bytes_sent += p.disk_bytes_sent;
      p.final_throttle = throttle;
      p.reason = Format("converged: %.1f ms of remaining copy is within the %.1f ms limit",
                        expected_downtime * 1e3, in.downtime_limit_s * 1e3);
      if (in.resent_wire_fraction < 1)
        p.reason += Format(" (%.1f ms on the wire, pages sent again at %.3f of their size)",
                           p.downtime_s * 1e3, in.resent_wire_fraction);
      return p;
    }
    // Auto-converge: throttle once the guest dirtied more than half of what the round sent,
    // in two rounds (QEMU checks after each sync from the second on).
    if (in.auto_converge && round >= 2 &&
        static_cast<double>(r.dirtied_bytes) > kThrottleTrigger * static_cast<double>(r.bytes)) {
      if (++over_threshold >= 2) {
        throttle = throttle == 0 ? kThrottleInitial
                                 : std::min(kThrottleMax, throttle + kThrottleIncrement);
        over_threshold = 0;
      }
    }
  }
  // It did not get within the limit: QEMU would go on copying forever (or until cancelled).
  p.converges = false;
  p.downtime_s =
      static_cast<double>(on_wire(to_send, in.max_rounds + 1) + in.device_state_bytes) / bandwidth;
  p.total_s = elapsed;
  p.bytes_sent += p.disk_bytes_sent;
  p.final_throttle = throttle;
  p.reason = Format(
      "does not converge: after the last round %.1f ms of copy remain, above the %.1f ms limit "
      "(the guest dirties memory about as fast as the link carries it)",
      static_cast<double>(to_send + in.device_state_bytes) / bandwidth * 1e3,
      in.downtime_limit_s * 1e3);
  return p;
}

Result<PrecopyPrediction> PredictStopAndCopy(const PrecopyInput& given) {
  if (given.rtt_s > 0) return OverTheLink(given, PredictStopAndCopy);
  GS_RETURN_IF_ERROR(Check(given));
  const PrecopyInput& in = given;
  PrecopyPrediction p;
  const int64_t data = (in.nonzero_bytes < 0 ? in.memory_bytes : in.nonzero_bytes);
  p.converges = true;
  p.rounds = 0;
  // The guest is stopped: its disk is copied whole, with no write racing the copy.
  p.disk_bytes_sent = in.disk_bytes;
  p.disk_s = static_cast<double>(in.disk_bytes) / in.bandwidth_bytes_s;
  p.bytes_sent = data + in.device_state_bytes + in.disk_bytes;
  p.downtime_s = static_cast<double>(p.bytes_sent) / in.bandwidth_bytes_s;
  p.total_s = in.setup_s + p.downtime_s;
  p.reason = "stop and copy: the guest is paused for the whole copy";
  return p;
}

Result<PrecopyPrediction> PredictPostcopy(const PrecopyInput& given) {
  if (given.rtt_s > 0) return OverTheLink(given, PredictPostcopy);
  const PrecopyInput& in = given;
  PrecopyInput first = in;
  first.max_rounds = 2;  // the bulk round and the one that shows what the guest rewrites
  Result<PrecopyPrediction> pre = PredictPrecopy(first);
  // Converged, or a disk copy that never catches up (no memory round began): no switch helps.
  if (!pre.ok() || pre->converges || pre->schedule.empty()) return pre;
  PrecopyPrediction p = *pre;
  const PrecopyRound& last = p.schedule.back();
  const int64_t rest = last.dirtied_bytes;
  if (in.disk_bytes > 0) {
    // A disk copied along: the mirror is ended at the switch, with the guest paused (nothing
    // left to copy: it had caught up). What it mirrored while the memory was copied crossed the
    // link too; after the switch the guest writes its disk on the destination.
    double memory_s = 0;
    for (const PrecopyRound& round : p.schedule) memory_s += round.seconds;
    const auto mirrored = static_cast<int64_t>(in.disk_write_rate_bytes_s * memory_s);
    p.disk_bytes_sent += mirrored;
    p.bytes_sent += mirrored;
  }
  p.postcopy = true;
  p.converges = true;
  p.downtime_s = static_cast<double>(in.device_state_bytes) / in.bandwidth_bytes_s;
  // Post-copy sends pages whole (QEMU encodes no differences after the switch).
  p.postcopy_blocktime_s = static_cast<double>(rest) / in.bandwidth_bytes_s;
  p.bytes_sent += rest + in.device_state_bytes;
  p.total_s += p.downtime_s + p.postcopy_blocktime_s;
  p.reason = Format(
      "post-copy: pre-copy would not converge; after two rounds the guest runs on the "
      "destination (paused %.1f ms) and waits about %.1f s for the memory it rewrites",
      p.downtime_s * 1e3, p.postcopy_blocktime_s);
  return p;
}

double RemoteDiskWriteRate(double in_flight_bytes, double rtt_s, double bandwidth_bytes_s) {
  const double send_s = bandwidth_bytes_s > 0 ? in_flight_bytes / bandwidth_bytes_s : 0;
  if (!(rtt_s + send_s > 0)) return std::numeric_limits<double>::infinity();
  return in_flight_bytes / (rtt_s + send_s);
}

TcpStream TcpStreamOver(double bandwidth_bytes_s, double rtt_s, double window_bytes) {
  TcpStream stream;
  stream.bandwidth_bytes_s = bandwidth_bytes_s;
  if (!(rtt_s > 0) || !(bandwidth_bytes_s > 0)) return stream;
  if (window_bytes > 0)
    stream.bandwidth_bytes_s = std::min(bandwidth_bytes_s, window_bytes / rtt_s);
  stream.one_way_s = rtt_s / 2;
  // Slow start (RFC 6928's initial window of 10 segments): round k sends 10 x 2^k segments, until
  // a round carries what the rate does in one round trip.
  constexpr double kInitialWindowBytes = 10 * 1448;
  const double target_bytes = stream.bandwidth_bytes_s * rtt_s;
  double window = kInitialWindowBytes, sent = 0, rounds = 0;
  while (window < target_bytes) {
    sent += window;
    window *= 2;
    rounds += 1;
  }
  stream.ramp_s = rtt_s + std::max(0.0, rounds * rtt_s - sent / stream.bandwidth_bytes_s);
  return stream;
}

}  // namespace greenshift::migration
