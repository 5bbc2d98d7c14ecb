#include "core/log.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace greenshift {

namespace {

std::atomic<int> min_level{static_cast<int>(LogLevel::kInfo)};
std::mutex sink_mutex;
std::function<void(LogLevel, const std::string&)>& Sink() {
  static std::function<void(LogLevel, const std::string&)> sink;
  return sink;
}

// A value as logfmt writes it: bare when it is one plain word, else quoted (with the quote and
// the backslash escaped); control characters (a newline in a message) are escaped too, so that
// one event stays one line.
void AppendValue(std::string* out, const std::string& value) {
  bool plain = !value.empty();
  for (unsigned char c : value) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f) plain = false;
  }
  if (plain) {
    *out += value;
    return;
  }
  *out += '"';
  for (unsigned char c : value) {
    if (c == '"' || c == '\\') {
      *out += '\\';
      *out += static_cast<char>(c);
    } else if (c == '\n') {
      *out += "\\n";
    } else if (c < ' ' || c == 0x7f) {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      *out += hex;
    } else {
      *out += static_cast<char>(c);  // UTF-8 passes through
    }
  }
  *out += '"';
}

int SyslogPriority(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return 7;
    case LogLevel::kInfo:
      return 6;
    case LogLevel::kWarning:
      return 4;
    case LogLevel::kError:
      return 3;
  }
  return 6;
}

}  // namespace

const char* LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

LogField::LogField(const char* k, double v) : key(k) {
  char text[32];
  if (std::isfinite(v)) {
    std::snprintf(text, sizeof text, "%.6g", v);
  } else {
    std::snprintf(text, sizeof text, "%s", std::isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf"));
  }
  value = text;
}

std::string FormatLogLine(LogLevel level, const std::string& event,
                          std::initializer_list<LogField> fields) {
  std::string line = "level=";
  line += LogLevelName(level);
  line += " event=";
  AppendValue(&line, event);
  for (const LogField& field : fields) {
    line += ' ';
    line += field.key;
    line += '=';
    AppendValue(&line, field.value);
  }
  return line;
}

void Log(LogLevel level, const std::string& event, std::initializer_list<LogField> fields) {
  if (static_cast<int>(level) < min_level.load()) return;
  std::string line = FormatLogLine(level, event, fields);
  {
    std::lock_guard<std::mutex> lock(sink_mutex);
    if (Sink()) {
      Sink()(level, line);
      return;
    }
  }
  // journald reads "<N>" at the start of a line as the entry's priority.
  static const bool journal = std::getenv("JOURNAL_STREAM") != nullptr;
  if (journal) line = "<" + std::to_string(SyslogPriority(level)) + ">" + line;
  line += '\n';
  ssize_t written = ::write(STDERR_FILENO, line.data(), line.size());
  (void)written;  // nowhere left to report a failed log write
}

void SetLogLevel(LogLevel level) {
  min_level = static_cast<int>(level);
}

void SetLogSink(std::function<void(LogLevel, const std::string&)> sink) {
  std::lock_guard<std::mutex> lock(sink_mutex);
  Sink() = std::move(sink);
}

}  // namespace greenshift
