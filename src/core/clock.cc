#include "core/clock.h"

#include <ctime>

#include <cstdio>

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
  const int64_t micros = UnixMicros(t);
  const int millis = static_cast<int>((micros % 1000000) / 1000);
  const std::tm parts = UtcParts(micros / 1000000);
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

}  // namespace greenshift
