// Splitting CSV lines, and reading numbers from them with errors that name file, line and field.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/zone.h"

namespace greenshift::energy {

// A value a series does not have (every comparison with it is false, every sum with it NaN).
inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Splits one CSV line on `separator`; double quotes group a field ("a,b" is one field, "" is a
// quote). A trailing '\r' is dropped.
std::vector<std::string> SplitCsvLine(std::string_view line, char separator = ',');

// Splits text into lines ('\n'; a trailing empty line is dropped).
std::vector<std::string_view> SplitLines(std::string_view text);

// Where a value came from, for error messages: "file.csv line 12, field 'wind_speed'".
struct CsvPlace {
  std::string file;  // or, at line 0, what the text came from: "--at", a config file
  size_t line = 0;   // 1-based; 0: not a line of a file
  std::string field;
  // "f.csv line 3, field 'time'"; at line 0 "s.json: key 'start'", or "--at" alone.
  std::string Describe() const;
};

// "file line N: what" (line 0: "file: what"), the form of every parser error.
Status FileError(const std::string& file, size_t line, const std::string& what);
// The FileError of a JSON document from outside (a feed, a file) that nests deeper than
// kMaxInputJsonDepth (core/json_text.h), found by one pass before it is parsed; Ok otherwise.
Status CheckJsonDepth(std::string_view text, const std::string& file);

// Parses a whole field as a finite double; an error names the place and the text.
Result<double> ParseNumber(std::string_view text, const CsvPlace& place);

// Seconds since the epoch of a civil UTC time (fields as written: month 1..12, day 1..31).
int64_t UtcSeconds(int year, int month, int day, int hour, int minute, int second = 0);

// Index of the field called `name`, or -1.
int FindColumn(const std::vector<std::string>& fields, const std::string& name);

// An RFC 3339 time ("2010-01-01 00:00:00+01:00", "2010-01-01T00:00:00.250Z", ...: see
// ParseRfc3339Ms in core/clock.h) to whole seconds since the epoch, UTC. A time without a UTC
// offset is an error: the zone is never guessed. Errors name the place and say why.
Result<int64_t> ParseIsoTime(const std::string& text, const CsvPlace& place);

// What an empty cell means. In a weather file or a curve it is an error: a model cannot run on
// it. In measured power (a monitoring export, a logger that was offline) it is a gap: a value
// that is missing, kept as NaN and counted, never made up.
enum class Gaps { kRefuse, kMissing };

// True for the cells a gap is written as: empty (or blanks), "NaN", "null", "NA", "N/A" (any
// case).
bool IsGapCell(std::string_view cell);

// How a time series file is read: what an empty cell means, and, for a file whose times are a
// place's local clock, its IANA zone (the clock reading each time names is read there, any
// UTC offset written beside it ignored: exports that write one fixed offset all year long).
struct TimeSeriesOptions {
  Gaps gaps = Gaps::kRefuse;
  const TimeZone* clock_zone = nullptr;
};

// A table of a time column and named numeric columns (a plain CSV: header row, then rows).
struct TimeSeriesTable {
  std::vector<int64_t> time_utc_s;
  std::vector<size_t> line;  // the file line (1-based) of each row, for later error messages
  std::vector<std::string> names;
  std::vector<std::vector<double>> columns;  // columns[i] belongs to names[i]; NaN: a gap
  std::vector<size_t> missing;               // per column: its gaps (Gaps::kMissing)
  // The column called `name`, or an error naming the file and the columns it has.
  Result<const std::vector<double>*> Column(const std::string& name) const;
  std::string file;
};

// Reads a CSV whose first column is an ISO time with a UTC offset and whose other columns are
// numbers; a gap cell (IsGapCell) is an error, or with Gaps::kMissing a NaN counted in
// `missing`. Times must increase.
Result<TimeSeriesTable> ParseTimeSeriesCsv(std::string_view text, const std::string& file,
                                           const TimeSeriesOptions& options = {});

// The same for data rows that start at `lines[first_row]`, under the column names `header`
// (whose first entry names the time column): for formats with more header rows than one.
Result<TimeSeriesTable> ParseTimeSeriesRows(const std::vector<std::string_view>& lines,
                                            size_t first_row,
                                            const std::vector<std::string>& header,
                                            const std::string& file,
                                            const TimeSeriesOptions& options = {});

}  // namespace greenshift::energy
