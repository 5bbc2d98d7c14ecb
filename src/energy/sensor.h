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

enum class RejectReason { kNotANumber, kNegative, kAboveCapacity, kInTheFuture, kOutOfOrder };
const char* RejectReasonName(RejectReason reason);

struct SensorLimits {
  double capacity_w = 0;              // installed capacity; readings above 1.2 x this are rejected
  int64_t max_clock_skew_ms = 60000;  // a reading this far ahead of now is from the future
  int64_t stale_after_ms = 300000;    // no accepted reading for this long: the sensor is stale
  double negative_tolerance_w = 0;    // inverters report a few W of standby draw; 0 = none allowed
};

struct Verdict {
  bool accepted = false;
  RejectReason reason = RejectReason::kNotANumber;
  std::string why;  // for the operator: what was wrong with which reading
};

// Validates the readings of one sensor, in arrival order. Not thread-safe; one per sensor.
class SensorValidator {
 public:
  explicit SensorValidator(SensorLimits limits) : limits_(limits) {}

  Verdict Check(const Reading& reading, int64_t now_utc_ms);

  bool IsStale(int64_t now_utc_ms) const;
  int64_t accepted() const { return accepted_; }
  int64_t rejected(RejectReason reason) const;
  int64_t rejected_total() const;
  const std::deque<std::string>& recent_rejections() const { return recent_; }
  int64_t last_accepted_ms() const { return last_time_ms_; }

 private:
  SensorLimits limits_;
  int64_t accepted_ = 0;
  int64_t last_time_ms_ = -1;
  std::map<RejectReason, int64_t> rejected_;
  std::deque<std::string> recent_;  // the last 20 rejections, newest last
};

// Replays a recorded power series (a time-series CSV column in W) as readings of one sensor:
// every row goes through the validator; the result holds the accepted readings in order and the
// validator's counts. `now_utc_ms` < 0 means "as if each reading arrived when it was taken".
struct ReplayResult {
  std::vector<Reading> accepted;
  SensorValidator validator;
};
Result<ReplayResult> ReplayCsv(const TimeSeriesTable& table, const std::string& column,
                               const std::string& site, const std::string& sensor,
                               const SensorLimits& limits);

// Parses an MQTT payload into a reading: either a JSON object {"time": ISO-8601 with offset,
// "power_w": number} or a bare number of watts (then the time is `received_utc_ms`).
Result<Reading> ParseReadingPayload(const std::string& payload, const std::string& site,
                                    const std::string& sensor, int64_t received_utc_ms);

}  // namespace greenshift::energy
