#include "core/zone.h"

#include <date/tz.h>

#include <chrono>
#include <climits>
#include <exception>

#include "core/clock.h"

namespace greenshift {

namespace {

const date::time_zone* Zone(const void* zone) {
  return static_cast<const date::time_zone*>(zone);
}

// A clock reading as people write it: the UTC formatter's digits without its "Z".
std::string Clock(int64_t local_ms) {
  std::string text = FormatUtcMinutes(SecondsOfMs(local_ms));
  if (!text.empty() && text.back() == 'Z') text.pop_back();
  return text;
}

}  // namespace

Result<TimeZone> TimeZone::Find(std::string_view name) {
  try {
    const date::time_zone* zone = date::locate_zone(name);
    return TimeZone(std::string(name), zone);
  } catch (const std::exception&) {
    return Status::Invalid("time zone '" + std::string(name) +
                           "' is not in the IANA database (names look like Europe/Amsterdam, "
                           "America/Denver or UTC)");
  }
}

Result<int64_t> TimeZone::ToUtcMs(int64_t local_ms, int64_t previous_utc_ms) const {
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  const date::local_time<milliseconds> local{milliseconds{local_ms}};
  const date::local_info info = Zone(zone_)->get_info(date::floor<seconds>(local));
  auto with = [&](const date::sys_info& s) {
    return local_ms - std::chrono::duration_cast<milliseconds>(s.offset).count();
  };
  switch (info.result) {
    case date::local_info::unique:
      return with(info.first);
    case date::local_info::nonexistent: {
      // The jump: at the first period's end, from its local reading to the second's.
      const int64_t at_ms =
          std::chrono::duration_cast<milliseconds>(info.first.end.time_since_epoch()).count();
      const int64_t from =
          at_ms + std::chrono::duration_cast<milliseconds>(info.first.offset).count();
      const int64_t to =
          at_ms + std::chrono::duration_cast<milliseconds>(info.second.offset).count();
      return Status::Invalid("is a clock reading that never was in " + name_ +
                             ": its clocks went from " + Clock(from) + " straight to " + Clock(to) +
                             " (daylight saving began)");
    }
    default: {  // ambiguous: the first pass unless the series is already past it
      const int64_t first = with(info.first), second = with(info.second);
      return previous_utc_ms != INT64_MIN && previous_utc_ms >= first ? second : first;
    }
  }
}

int64_t TimeZone::OffsetS(int64_t utc_ms) const {
  const date::sys_time<std::chrono::milliseconds> at{std::chrono::milliseconds{utc_ms}};
  return Zone(zone_)->get_info(at).offset.count();
}

Result<int64_t> ParseClockReadingMs(std::string_view text) {
  // Drop the offset (Z, +hh:mm, +hhmm, +hh, or their '-' forms) after the time, if any, and read
  // what is left as UTC. The date's own '-' are before index 10.
  std::string reading(text);
  while (!reading.empty() && reading.back() == ' ') reading.pop_back();
  if (!reading.empty() && (reading.back() == 'Z' || reading.back() == 'z')) {
    reading.pop_back();
  } else {
    const size_t sign = reading.find_last_of("+-");
    if (sign != std::string::npos && sign > 10) reading.resize(sign);
  }
  return ParseRfc3339Ms(reading + "Z");
}

}  // namespace greenshift
