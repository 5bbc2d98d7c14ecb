// Time in greenshift: wall-clock UTC for records, a monotonic clock for durations.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

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

// Milliseconds since the Unix epoch (the unit of readings and the service's clock).
inline int64_t UnixMillis(WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// ISO 8601 UTC with milliseconds, e.g. 2026-11-24T10:00:00.123Z.
std::string FormatUtc(WallTime t);

// Seconds since the epoch as ISO 8601 UTC to the minute, e.g. 2022-06-01T12:00Z.
std::string FormatUtcMinutes(int64_t unix_seconds);

// Seconds since the epoch as ISO 8601 UTC to the second, e.g. 2022-06-01T12:00:00Z.
std::string FormatUtcSeconds(int64_t unix_seconds);

// An RFC 3339 time, as people and programs write it, to milliseconds since the epoch (UTC):
//   2026-11-29T23:59:00Z, 2026-11-29 23:59:00.123+01:00, 2026-11-29T23:59+0100, ...Z
// A date, 'T' (or 't', or a space), hours and minutes, optionally seconds and a fraction (any
// number of digits, cut to milliseconds), then the UTC offset: Z, +hh:mm, +hhmm or +hh.
// Everything the Format* functions above print is accepted. An error (Invalid) says what is
// wrong with the text in words, for the caller to put after the text it quotes, and never
// guesses: a time without an offset ("has no UTC offset ..."), a day its month does not have
// ("names day 31 of February 2026, which has 28 days"), an hour of 24. A leap second (23:59:60) is
// the second after 23:59:59.
Result<int64_t> ParseRfc3339Ms(std::string_view text);

// The whole second a millisecond time falls in (towards the past, before 1970 too).
inline int64_t SecondsOfMs(int64_t utc_ms) {
  return utc_ms >= 0 ? utc_ms / 1000 : -((-utc_ms + 999) / 1000);
}

}  // namespace greenshift
