// Structured log lines on stderr, one event a line in logfmt (`key=value`, values quoted when
// they hold spaces or quotes), so that journald, grep and log shippers read them alike:
//
//   level=info event=move.completed vm=web from=a to=b downtime_ms=7.4
//
// Under systemd (JOURNAL_STREAM set) each line starts with its syslog priority (`<6>`), which
// journald turns into the entry's priority. Thread-safe: a line is written with one write(2).
#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <utility>

namespace greenshift {

enum class LogLevel { kDebug, kInfo, kWarning, kError };
const char* LogLevelName(LogLevel level);

struct LogField {
  LogField(const char* k, std::string v) : key(k), value(std::move(v)) {}
  LogField(const char* k, const char* v) : key(k), value(v) {}
  LogField(const char* k, double v);
  LogField(const char* k, int v) : key(k), value(std::to_string(v)) {}
  LogField(const char* k, long v) : key(k), value(std::to_string(v)) {}
  LogField(const char* k, long long v) : key(k), value(std::to_string(v)) {}
  LogField(const char* k, unsigned long v) : key(k), value(std::to_string(v)) {}
  LogField(const char* k, bool v) : key(k), value(v ? "true" : "false") {}
  const char* key;
  std::string value;
};

// Writes one line: level, event, then the fields in order.
void Log(LogLevel level, const std::string& event, std::initializer_list<LogField> fields = {});

// The line Log would write (without the journald priority), for tests and other sinks.
std::string FormatLogLine(LogLevel level, const std::string& event,
                          std::initializer_list<LogField> fields);

// Lines below `level` are not written (default: info).
void SetLogLevel(LogLevel level);
// Where lines go instead of stderr (tests); an empty function restores stderr.
void SetLogSink(std::function<void(LogLevel, const std::string& line)> sink);

}  // namespace greenshift
