// IANA time zones (Europe/Amsterdam, America/Denver) from the system's tz database, for files
// whose times are a place's local clock: what the clock read there, and when that was in UTC.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace greenshift {

class TimeZone {
 public:
  // The zone called `name` in the IANA database. An unknown name is an error (Invalid) that
  // says what a name looks like.
  static Result<TimeZone> Find(std::string_view name);

  const std::string& name() const { return name_; }

  // When a local clock reading (milliseconds since the epoch as if the clock were UTC) was, in
  // milliseconds since the epoch (UTC). A reading the clocks skipped (spring forward) is an
  // error naming the jump. One they showed twice (fall back) is the first of the two unless
  // the reading before it in the same series (`previous_utc_ms`, or INT64_MIN for none) was
  // already at or past that instant: a series in order runs through the repeated hour twice.
  Result<int64_t> ToUtcMs(int64_t local_ms, int64_t previous_utc_ms) const;

  // The zone's offset from UTC at an instant, in seconds (+3600 for CET, +7200 for CEST).
  int64_t OffsetS(int64_t utc_ms) const;

  // Thread safety: a TimeZone is immutable; any thread may use it.

 private:
  TimeZone(std::string name, const void* zone) : name_(std::move(name)), zone_(zone) {}
  std::string name_;
  const void* zone_;  // a date::time_zone, owned by the tz database (kept for the process)
};

// The clock reading an RFC 3339 time names, whatever UTC offset it carries (or none): its date
// and time as milliseconds since the epoch as if they were UTC. For a file whose times are a
// place's local clock, read with a TimeZone. The same errors as ParseRfc3339Ms otherwise.
Result<int64_t> ParseClockReadingMs(std::string_view text);

}  // namespace greenshift
