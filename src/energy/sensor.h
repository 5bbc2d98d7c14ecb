// Sensor readings of green power produced at a site, and the rules every reading passes before
// greenshift believes it. A rejected reading is never dropped silently: it is counted with its
// reason, and the latest rejections are kept for the operator.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "energy/csv.h"

namespace greenshift::energy {

struct Reading {
  std::string site;
  std::string sensor;
  int64_t time_utc_ms = 0;
  double power_w = 0;
};

enum class RejectReason {
  kNotANumber,
  kNegative,
  kAboveCapacity,
  kInTheFuture,
  kOutOfOrder,
  kTooOld,
};
const char* RejectReasonName(RejectReason reason);
// Every reason, in the order above (for counters that list them all).
const std::vector<RejectReason>& AllRejectReasons();

struct SensorLimits {
  double capacity_w = 0;              // installed capacity; readings above 1.2 x this are rejected
  int64_t max_clock_skew_ms = 60000;  // a reading this far ahead of now is from the future
  int64_t stale_after_ms = 300000;    // no accepted reading for this long: the sensor is stale
  double negative_tolerance_w = 0;    // inverters report a few W of standby draw; 0 = none allowed
  // A reading taken longer than this before now is refused: a clock at 1970 or a replay of last
  // year is not green power now, and would otherwise move the order check back in time.
  int64_t max_age_ms = 7 * 86400 * 1000LL;
};

struct Verdict {
  bool accepted = false;
  // The reading is the sensor's last accepted one again (same time, same power): a client
  // re-sending what it is not sure arrived. Not accepted again, and not an error.
  bool duplicate = false;
  RejectReason reason = RejectReason::kNotANumber;
  std::string why;  // for the operator: what was wrong with which reading
};

// Validates the readings of one sensor, in arrival order. Not thread-safe; one per sensor.
class SensorValidator {
 public:
  explicit SensorValidator(SensorLimits limits) : limits_(limits) {}

  Verdict Check(const Reading& reading, int64_t now_utc_ms);
  // Continues from a reading accepted before (by an earlier run: the store's newest), so that
  // the order and duplicate checks hold across restarts.
  void Seed(int64_t time_utc_ms, double power_w);

  bool IsStale(int64_t now_utc_ms) const;
  int64_t accepted() const { return accepted_; }
  int64_t rejected(RejectReason reason) const;
  int64_t rejected_total() const;
  const std::deque<std::string>& recent_rejections() const { return recent_; }
  bool has_last() const { return has_last_; }
  int64_t last_accepted_ms() const { return last_time_ms_; }
  double last_power_w() const { return last_power_w_; }
  const SensorLimits& limits() const { return limits_; }

 private:
  SensorLimits limits_;
  int64_t accepted_ = 0;
  bool has_last_ = false;
  int64_t last_time_ms_ = 0;
  double last_power_w_ = 0;
  std::map<RejectReason, int64_t> rejected_;
  std::deque<std::string> recent_;  // the last 20 rejections, newest last
};

// Replays a recorded power series (a time-series CSV column in W) as readings of one sensor:
// every row goes through the validator but a gap (NaN, Gaps::kMissing), which is no reading at
// all: counted in `missing`, neither accepted nor rejected. The result holds the accepted
// readings in order and the validator's counts.
struct ReplayResult {
  std::vector<Reading> accepted;
  SensorValidator validator;
  int64_t missing = 0;
};
Result<ReplayResult> ReplayCsv(const TimeSeriesTable& table, const std::string& column,
                               const std::string& site, const std::string& sensor,
                               const SensorLimits& limits);

// Parses an MQTT payload into a reading: either a JSON object {"time": ISO-8601 with offset,
// "power_w": number} or a bare number of watts (then the time is `received_utc_ms`).
Result<Reading> ParseReadingPayload(const std::string& payload, const std::string& site,
                                    const std::string& sensor, int64_t received_utc_ms);

}  // namespace greenshift::energy
