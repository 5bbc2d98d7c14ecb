// Time in greenshift: wall-clock UTC for records, a monotonic clock for durations.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace greenshift {

using SteadyTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;

inline SteadyTime SteadyNow() {
  return std::chrono::steady_clock::now();
}
inline WallTime WallNow() {
  return std::chrono::system_clock::now();
}

inline double MillisBetween(SteadyTime from, SteadyTime to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// Microseconds since the Unix epoch.
inline int64_t UnixMicros(WallTime t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

// ISO 8601 UTC with milliseconds, e.g. 2026-11-24T10:00:00.123Z.
std::string FormatUtc(WallTime t);

// Seconds since the epoch as ISO 8601 UTC to the minute, e.g. 2022-06-01T12:00Z.
std::string FormatUtcMinutes(int64_t unix_seconds);

// Seconds since the epoch as ISO 8601 UTC to the second, e.g. 2022-06-01T12:00:00Z.
std::string FormatUtcSeconds(int64_t unix_seconds);

}  // namespace greenshift
