#include "energy/csv.h"

#include <cctype>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "core/clock.h"
#include "core/json_text.h"

namespace greenshift::energy {

std::vector<std::string> SplitCsvLine(std::string_view line, char separator) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == separator) {
      fields.push_back(std::move(field));
      field.clear();
    } else {
      field += c;
    }
  }
  fields.push_back(std::move(field));
  return fields;
}

std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

Status FileError(const std::string& file, size_t line, const std::string& what) {
  return Status::Error(file + (line ? " line " + std::to_string(line) : "") + ": " + what);
}

Status CheckJsonDepth(std::string_view text, const std::string& file) {
  if (!JsonNestsDeeperThan(text, kMaxInputJsonDepth)) return Status::Ok();
  return FileError(file, 0,
                   "nests deeper than " + std::to_string(kMaxInputJsonDepth) +
                       " levels: not a document of this kind");
}

std::string CsvPlace::Describe() const {
  // Line 0: not in a file (a command-line option, a config key, a request's body).
  std::string text = line > 0 ? file + " line " + std::to_string(line) : file;
  if (!field.empty()) text += (line > 0 ? ", field '" : ": key '") + field + "'";
  return text;
}

Result<double> ParseNumber(std::string_view text, const CsvPlace& place) {
  std::string copy(text);
  while (!copy.empty() && (copy.back() == ' ' || copy.back() == '\r')) copy.pop_back();
  size_t first = copy.find_first_not_of(' ');
  if (first == std::string::npos) {
    return Status::Error(place.Describe() + ": empty where a number belongs");
  }
  copy = copy.substr(first);
  errno = 0;
  char* end = nullptr;
  const double value = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size() || errno == ERANGE || !std::isfinite(value)) {
    return Status::Error(place.Describe() + ": '" + copy + "' is not a number");
  }
  return value;
}

// "2010-01-01 00:00:00+01:00" (or 'T', or 'Z') to seconds since the epoch, UTC.
Result<int64_t> ParseIsoTime(const std::string& text, const CsvPlace& place) {
  Result<int64_t> ms = ParseRfc3339Ms(text);
  if (!ms.ok()) return Status::Invalid(place.Describe() + ": '" + text + "' " + ms.error());
  return SecondsOfMs(*ms);
}

int64_t UtcSeconds(int year, int month, int day, int hour, int minute, int second) {
  std::tm parts{};
  parts.tm_year = year - 1900;
  parts.tm_mon = month - 1;
  parts.tm_mday = day;
  parts.tm_hour = hour;
  parts.tm_min = minute;
  parts.tm_sec = second;
  return static_cast<int64_t>(timegm(&parts));
}

int FindColumn(const std::vector<std::string>& fields, const std::string& name) {
  for (size_t i = 0; i < fields.size(); ++i) {
    if (fields[i] == name) return static_cast<int>(i);
  }
  return -1;
}

Result<const std::vector<double>*> TimeSeriesTable::Column(const std::string& name) const {
  if (const int i = FindColumn(names, name); i >= 0) return &columns[i];
  std::string known;
  for (const std::string& n : names) known += (known.empty() ? "" : ", ") + n;
  return Status::Error(file + ": no column '" + name + "' (columns: " + known + ")");
}

bool IsGapCell(std::string_view cell) {
  while (!cell.empty() && (cell.front() == ' ' || cell.front() == '\t')) cell.remove_prefix(1);
  while (!cell.empty() && (cell.back() == ' ' || cell.back() == '\t' || cell.back() == '\r'))
    cell.remove_suffix(1);
  std::string lower(cell);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.empty() || lower == "nan" || lower == "null" || lower == "na" || lower == "n/a";
}

namespace {

// A local clock reading in `zone` to seconds since the epoch; the rows before (`earlier`, UTC
// seconds) tell which pass of a repeated hour it is.
Result<int64_t> ParseLocalTime(const std::string& text, const CsvPlace& place, const TimeZone& zone,
                               const std::vector<int64_t>& earlier) {
  Result<int64_t> reading = ParseClockReadingMs(text);
  if (!reading.ok())
    return Status::Invalid(place.Describe() + ": '" + text + "' " + reading.error());
  Result<int64_t> utc = zone.ToUtcMs(*reading, earlier.empty() ? INT64_MIN : earlier.back() * 1000);
  if (!utc.ok()) return Status::Invalid(place.Describe() + ": '" + text + "' " + utc.error());
  return SecondsOfMs(*utc);
}

}  // namespace

Result<TimeSeriesTable> ParseTimeSeriesCsv(std::string_view text, const std::string& file,
                                           const TimeSeriesOptions& options) {
  const std::vector<std::string_view> lines = SplitLines(text);
  if (lines.size() < 2) return Status::Error(file + ": expected a header row and data rows");
  const std::vector<std::string> header = SplitCsvLine(lines[0]);
  if (header.size() < 2) {
    return Status::Error(file + " line 1: expected a time column and at least one value column");
  }
  return ParseTimeSeriesRows(lines, 1, header, file, options);
}

Result<TimeSeriesTable> ParseTimeSeriesRows(const std::vector<std::string_view>& lines,
                                            size_t first_row,
                                            const std::vector<std::string>& header,
                                            const std::string& file,
                                            const TimeSeriesOptions& options) {
  TimeSeriesTable table;
  table.file = file;
  table.names.assign(header.begin() + 1, header.end());
  table.columns.resize(table.names.size());
  table.missing.assign(table.names.size(), 0);
  for (size_t n = first_row; n < lines.size(); ++n) {
    if (lines[n].empty() || lines[n] == "\r") continue;
    const std::vector<std::string> cells = SplitCsvLine(lines[n]);
    if (cells.size() != header.size()) {
      return Status::Error(file + " line " + std::to_string(n + 1) + ": " +
                           std::to_string(cells.size()) + " fields, expected " +
                           std::to_string(header.size()));
    }
    Result<int64_t> time = options.clock_zone == nullptr
                               ? ParseIsoTime(cells[0], {file, n + 1, header[0]})
                               : ParseLocalTime(cells[0], {file, n + 1, header[0]},
                                                *options.clock_zone, table.time_utc_s);
    if (!time.ok()) return time.status();
    if (!table.time_utc_s.empty() && *time <= table.time_utc_s.back()) {
      return Status::Error(file + " line " + std::to_string(n + 1) + ": time " + cells[0] +
                           " does not come after the row before");
    }
    table.time_utc_s.push_back(*time);
    table.line.push_back(n + 1);
    for (size_t i = 1; i < cells.size(); ++i) {
      if (options.gaps == Gaps::kMissing && IsGapCell(cells[i])) {
        table.columns[i - 1].push_back(std::nan(""));
        ++table.missing[i - 1];
        continue;
      }
      Result<double> value = ParseNumber(cells[i], {file, n + 1, header[i]});
      if (!value.ok()) return value.status();
      table.columns[i - 1].push_back(*value);
    }
  }
  if (table.time_utc_s.empty()) return Status::Error(file + ": no data rows");
  return table;
}

}  // namespace greenshift::energy
