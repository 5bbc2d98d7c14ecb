#include "energy/sensor.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/json_text.h"

namespace greenshift::energy {

const char* RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kNotANumber:
      return "not_a_number";
    case RejectReason::kNegative:
      return "negative";
    case RejectReason::kAboveCapacity:
      return "above_capacity";
    case RejectReason::kInTheFuture:
      return "in_the_future";
    case RejectReason::kOutOfOrder:
      return "out_of_order";
    case RejectReason::kTooOld:
      return "too_old";
  }
  return "unknown";
}

const std::vector<RejectReason>& AllRejectReasons() {
  static const std::vector<RejectReason> all = {
      RejectReason::kNotANumber,  RejectReason::kNegative,   RejectReason::kAboveCapacity,
      RejectReason::kInTheFuture, RejectReason::kOutOfOrder, RejectReason::kTooOld};
  return all;
}

Verdict SensorValidator::Check(const Reading& reading, int64_t now_utc_ms) {
  Verdict verdict;
  auto reject = [&](RejectReason reason, const std::string& why) {
    verdict.accepted = false;
    verdict.reason = reason;
    // Built only for a rejection: accepting a reading allocates nothing.
    verdict.why = "reading of " + reading.site + "/" + reading.sensor + " at " +
                  std::to_string(reading.time_utc_ms) + " ms: " + why;
    ++rejected_[reason];
    recent_.push_back(verdict.why);
    if (recent_.size() > 20) recent_.pop_front();
    return verdict;
  };
  if (!std::isfinite(reading.power_w))
    return reject(RejectReason::kNotANumber, "power is not a number");
  if (reading.power_w < -limits_.negative_tolerance_w) {
    return reject(RejectReason::kNegative,
                  "negative power " + std::to_string(reading.power_w) + " W");
  }
  if (limits_.capacity_w > 0 && reading.power_w > 1.2 * limits_.capacity_w) {
    return reject(RejectReason::kAboveCapacity, std::to_string(reading.power_w) +
                                                    " W is above 1.2 x the installed " +
                                                    std::to_string(limits_.capacity_w) + " W");
  }
  if (reading.time_utc_ms > now_utc_ms + limits_.max_clock_skew_ms) {
    return reject(
        RejectReason::kInTheFuture,
        "taken " + std::to_string((reading.time_utc_ms - now_utc_ms) / 1000) + " s in the future");
  }
  if (reading.time_utc_ms < now_utc_ms - limits_.max_age_ms) {
    return reject(RejectReason::kTooOld,
                  "taken " + std::to_string((now_utc_ms - reading.time_utc_ms) / 1000) +
                      " s before now, older than the " + std::to_string(limits_.max_age_ms / 1000) +
                      " s a reading may be");
  }
  if (has_last_ && reading.time_utc_ms == last_time_ms_ && reading.power_w == last_power_w_) {
    verdict.duplicate = true;
    return verdict;
  }
  if (has_last_ && reading.time_utc_ms <= last_time_ms_) {
    return reject(RejectReason::kOutOfOrder,
                  "not after the last accepted reading (" + std::to_string(last_time_ms_) + " ms)");
  }
  has_last_ = true;
  last_time_ms_ = reading.time_utc_ms;
  last_power_w_ = reading.power_w;
  ++accepted_;
  verdict.accepted = true;
  return verdict;
}

void SensorValidator::Seed(int64_t time_utc_ms, double power_w) {
  if (has_last_ && time_utc_ms <= last_time_ms_) return;
  has_last_ = true;
  last_time_ms_ = time_utc_ms;
  last_power_w_ = power_w;
}

bool SensorValidator::IsStale(int64_t now_utc_ms) const {
  return !has_last_ || now_utc_ms - last_time_ms_ > limits_.stale_after_ms;
}

int64_t SensorValidator::rejected(RejectReason reason) const {
  auto it = rejected_.find(reason);
  return it == rejected_.end() ? 0 : it->second;
}

int64_t SensorValidator::rejected_total() const {
  int64_t total = 0;
  for (const auto& [reason, count] : rejected_) total += count;
  return total;
}

Result<ReplayResult> ReplayCsv(const TimeSeriesTable& table, const std::string& column,
                               const std::string& site, const std::string& sensor,
                               const SensorLimits& limits) {
  Result<const std::vector<double>*> values = table.Column(column);
  if (!values.ok()) return values.status();
  ReplayResult result{{}, SensorValidator(limits)};
  for (size_t i = 0; i < table.time_utc_s.size(); ++i) {
    if (std::isnan((**values)[i])) {
      ++result.missing;
      continue;
    }
    Reading reading{site, sensor, table.time_utc_s[i] * 1000, (**values)[i]};
    if (result.validator.Check(reading, reading.time_utc_ms).accepted) {
      result.accepted.push_back(reading);
    }
  }
  return result;
}

Result<Reading> ParseReadingPayload(const std::string& payload, const std::string& site,
                                    const std::string& sensor, int64_t received_utc_ms) {
  Reading reading{site, sensor, received_utc_ms, 0};
  if (JsonNestsDeeperThan(payload, kMaxInputJsonDepth))
    return Status::Error("payload for " + site + "/" + sensor + " nests deeper than " +
                         std::to_string(kMaxInputJsonDepth) + " levels: not a reading");
  nlohmann::json j = nlohmann::json::parse(payload, nullptr, false);
  if (j.is_number()) {
    reading.power_w = j.get<double>();
    return reading;
  }
  if (!j.is_object()) {
    return Status::Error("payload for " + site + "/" + sensor +
                         " is neither a number of watts nor a JSON object: '" +
                         payload.substr(0, 80) + "'");
  }
  if (!j.contains("power_w") || !(j["power_w"].is_number() || j["power_w"].is_null())) {
    return Status::Error("payload for " + site + "/" + sensor + " has no numeric 'power_w'");
  }
  reading.power_w = j["power_w"].is_null() ? NAN : j["power_w"].get<double>();
  if (j.contains("time")) {
    if (!j["time"].is_string()) {
      return Status::Error("payload for " + site + "/" + sensor + ": 'time' must be a string");
    }
    // RFC 3339 to the millisecond, as the API takes it.
    const std::string text = j["time"].get<std::string>();
    Result<int64_t> t = ParseRfc3339Ms(text);
    if (!t.ok()) {
      return Status::Invalid("payload for " + site + "/" + sensor + ": 'time': '" + text + "' " +
                             t.error());
    }
    reading.time_utc_ms = *t;
  }
  return reading;
}

}  // namespace greenshift::energy
