#include "energy/carbon.h"

#include <algorithm>

#include "energy/csv.h"

namespace greenshift::energy {

double CarbonSeries::At(int64_t t) const {
  if (time_utc_s.empty()) return 0;
  auto it = std::upper_bound(time_utc_s.begin(), time_utc_s.end(), t);
  if (it == time_utc_s.begin()) return g_per_kwh.front();
  return g_per_kwh[static_cast<size_t>(it - time_utc_s.begin()) - 1];
}

Result<CarbonSeries> ParseCarbonCsv(std::string_view text, const std::string& file, bool lifecycle,
                                    const std::string& zone_if_unnamed) {
  const std::vector<std::string_view> lines = SplitLines(text);
  if (lines.size() < 2) return FileError(file, 0, "expected a header row and data rows");
  const std::vector<std::string> header = SplitCsvLine(lines[0]);
  CarbonSeries series;
  series.source = file;
  int time_column = -1, value_column = -1, zone_column = -1;
  bool utc_without_offset = false;
  if (FindColumn(header, "Datetime (UTC)") == 0) {
    time_column = 0;
    utc_without_offset = true;  // the header says UTC; the cells do not
    zone_column = FindColumn(header, "Zone Id");
    value_column = FindColumn(header, lifecycle ? "Carbon Intensity gCO₂eq/kWh (LCA)"
                                                : "Carbon Intensity gCO₂eq/kWh (direct)");
    if (value_column < 0) {
      return FileError(file, 1,
                       std::string("no column 'Carbon Intensity gCO₂eq/kWh (") +
                           (lifecycle ? "LCA" : "direct") + ")'");
    }
  } else if (FindColumn(header, "timestamp") == 0 && FindColumn(header, "avg_CI") > 0) {
    time_column = 0;
    value_column = FindColumn(header, "avg_CI");
    series.zone = zone_if_unnamed;
  } else {
    return FileError(
        file, 1,
        "not a carbon intensity file greenshift reads (an Electricity Maps export with "
        "'Datetime (UTC)' or an EIA-930 file with 'timestamp' and 'avg_CI')");
  }
  for (size_t n = 1; n < lines.size(); ++n) {
    if (lines[n].empty() || lines[n] == "\r") continue;
    const std::vector<std::string> cells = SplitCsvLine(lines[n]);
    if (cells.size() != header.size()) {
      return FileError(
          file, n + 1,
          std::to_string(cells.size()) + " fields, expected " + std::to_string(header.size()));
    }
    const std::string when = cells[time_column] + (utc_without_offset ? "+00:00" : "");
    Result<int64_t> time = ParseIsoTime(when, {file, n + 1, header[time_column]});
    if (!time.ok()) return time.status();
    if (!series.time_utc_s.empty() && *time <= series.time_utc_s.back()) {
      return FileError(file, n + 1,
                       "time " + cells[time_column] + " does not come after the row before");
    }
    Result<double> value = ParseNumber(cells[value_column], {file, n + 1, header[value_column]});
    if (!value.ok()) return value.status();
    if (*value < 0 || *value > 2000) {
      return FileError(file, n + 1,
                       header[value_column] + " " + cells[value_column] +
                           " is outside 0..2000 gCO2/kWh (wrong unit?)");
    }
    if (zone_column >= 0) {
      if (series.zone.empty()) series.zone = cells[zone_column];
      if (cells[zone_column] != series.zone) {
        return FileError(file, n + 1,
                         "zone " + cells[zone_column] + " in a file of zone " + series.zone);
      }
    }
    series.time_utc_s.push_back(*time);
    series.g_per_kwh.push_back(*value);
  }
  if (series.time_utc_s.empty()) return FileError(file, 0, "no data rows");
  return series;
}

}  // namespace greenshift::energy
