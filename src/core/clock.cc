#include "core/clock.h"

#include <date/date.h>

#include <cctype>
#include <cstdio>
#include <ctime>

namespace greenshift {

namespace {

// Calendar fields of a Unix time, in UTC.
std::tm UtcParts(int64_t unix_seconds) {
  const std::time_t seconds = static_cast<std::time_t>(unix_seconds);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  return parts;
}

}  // namespace

std::string FormatUtc(WallTime t) {
  // Whole seconds towards the past, so a time before 1970 has its milliseconds after them
  // (1969-12-31T23:59:59.500Z, not ...00.-500Z).
  const int64_t micros = UnixMicros(t);
  const int64_t seconds = micros >= 0 ? micros / 1000000 : -((-micros + 999999) / 1000000);
  const int millis = static_cast<int>((micros - seconds * 1000000) / 1000);
  const std::tm parts = UtcParts(seconds);
  char buffer[96];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900,
                parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec, millis);
  return buffer;
}

std::string FormatUtcMinutes(int64_t unix_seconds) {
  const std::tm parts = UtcParts(unix_seconds);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02dZ", parts.tm_year + 1900,
                parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min);
  return buffer;
}

std::string FormatUtcSeconds(int64_t unix_seconds) {
  const std::tm parts = UtcParts(unix_seconds);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02dZ", parts.tm_year + 1900,
                parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec);
  return buffer;
}

namespace {

// A cursor over the text with the small readers RFC 3339 needs.
class TimeText {
 public:
  explicit TimeText(std::string_view text) : text_(text) {}
  bool AtEnd() const { return at_ == text_.size(); }
  char Peek() const { return AtEnd() ? '\0' : text_[at_]; }
  bool Take(char c) {
    if (Peek() != c) return false;
    ++at_;
    return true;
  }
  // Exactly `digits` decimal digits.
  bool Number(int digits, int* value) {
    if (text_.size() - at_ < static_cast<size_t>(digits)) return false;
    int v = 0;
    for (int i = 0; i < digits; ++i) {
      const char c = text_[at_ + i];
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
      v = v * 10 + (c - '0');
    }
    at_ += digits;
    *value = v;
    return true;
  }
  std::string_view Rest() const { return text_.substr(at_); }

 private:
  std::string_view text_;
  size_t at_ = 0;
};

const char* const kMonthNames[] = {"January",   "February", "March",    "April",
                                   "May",       "June",     "July",     "August",
                                   "September", "October",  "November", "December"};

}  // namespace

Result<int64_t> ParseRfc3339Ms(std::string_view given) {
  TimeText t(given);
  const auto shape = [](const std::string& what) {
    return Status::Invalid(what +
                           " (a time looks like 2026-11-29T23:59:00Z or "
                           "2026-11-29 23:59:00.123+01:00)");
  };
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!t.Number(4, &year) || !t.Take('-') || !t.Number(2, &month) || !t.Take('-') ||
      !t.Number(2, &day))
    return shape("does not begin with a date YYYY-MM-DD");
  if (t.AtEnd()) return shape("is a date without a time of day");
  if (!t.Take('T') && !t.Take('t') && !t.Take(' '))
    return shape("has no 'T' or space between the date and the time");
  if (!t.Number(2, &hour) || !t.Take(':') || !t.Number(2, &minute))
    return shape("has no time of day hh:mm after the date");
  int64_t millis = 0;
  if (t.Take(':')) {
    if (!t.Number(2, &second)) return shape("has no two-digit seconds after the minutes");
    if (t.Take('.') || t.Take(',')) {
      int digits = 0, digit = 0;
      while (t.Number(1, &digit)) {
        if (digits < 3) millis = millis * 10 + digit;
        ++digits;
      }
      if (digits == 0) return shape("has no digits after the decimal point of its seconds");
      for (int i = digits; i < 3; ++i) millis *= 10;
    }
  }
  // The offset: what makes the time one instant rather than a guess.
  int offset_minutes = 0;
  if (t.Take('Z') || t.Take('z')) {
    offset_minutes = 0;
  } else if (t.Peek() == '+' || t.Peek() == '-') {
    const int sign = t.Peek() == '-' ? -1 : 1;
    t.Take(t.Peek());
    int zone_hours = 0, zone_minutes = 0;
    if (!t.Number(2, &zone_hours)) return shape("has a UTC offset without its hours (+hh:mm)");
    if (t.Take(':')) {
      if (!t.Number(2, &zone_minutes)) return shape("has a UTC offset without its minutes");
    } else {
      t.Number(2, &zone_minutes);  // +hhmm, or +hh alone
    }
    if (zone_hours > 23 || zone_minutes > 59)
      return Status::Invalid("has a UTC offset beyond +-23:59");
    offset_minutes = sign * (zone_hours * 60 + zone_minutes);
  } else if (t.AtEnd()) {
    return Status::Invalid("has no UTC offset (like Z or +01:00); refusing to guess the time zone");
  } else {
    return shape("has '" + std::string(t.Rest()) + "' where the UTC offset belongs");
  }
  if (!t.AtEnd()) return shape("goes on after its UTC offset: '" + std::string(t.Rest()) + "'");

  using namespace date;
  if (month < 1 || month > 12) return Status::Invalid("has no month " + std::to_string(month));
  const year_month_day ymd{date::year{year}, date::month{static_cast<unsigned>(month)},
                           date::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) {
    const unsigned days = static_cast<unsigned>(
        year_month_day_last{date::year{year}, month_day_last{ymd.month()}}.day());
    char why[96];
    std::snprintf(why, sizeof why, "names day %d of %s %04d, which has %u days", day,
                  kMonthNames[month - 1], year, days);
    return Status::Invalid(why);
  }
  if (hour > 23) return Status::Invalid("has hour " + std::to_string(hour) + " (0-23)");
  if (minute > 59) return Status::Invalid("has minute " + std::to_string(minute) + " (0-59)");
  // 60 only as a leap second: the last second of a UTC day (23:59:60Z, 00:59:60+01:00, ...).
  if (second > 60 ||
      (second == 60 && (hour * 60 + minute - offset_minutes + 1440) % 1440 != 23 * 60 + 59))
    return Status::Invalid("has second " + std::to_string(second) +
                           " (0-59, or 60 as a leap second at 23:59 UTC)");
  const sys_days days{ymd};
  const int64_t seconds = static_cast<int64_t>(days.time_since_epoch().count()) * 86400 +
                          hour * 3600 + minute * 60 + second - offset_minutes * 60;
  return seconds * 1000 + millis;
}

}  // namespace greenshift
