#include <cmath>

#include "core/files.h"
#include "energy/csv.h"
#include "energy/weather.h"

namespace greenshift::energy {

Result<WeatherSeries> ReadWeatherFile(const std::string& path, double utc_offset_hours,
                                      double latitude_deg, double longitude_deg) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  const std::string head = text->substr(0, 400);
  const size_t first = head.find_first_not_of(" \n\r\t");
  if (first != std::string::npos && (head[first] == '{' || head[first] == '['))
    return ParseOpenMeteoJson(*text, path, latitude_deg, longitude_deg);
  if (head.rfind("LOCATION,", 0) == 0) return ParseEpw(*text, path);
  if (head.rfind("Latitude", 0) == 0) return ParsePvgisTmy(*text, path);
  // A plain time-series CSV: a header naming ghi or cloud_cover, rows starting with an ISO time.
  const std::vector<std::string_view> lines = SplitLines(std::string_view(*text).substr(0, 2000));
  if (lines.size() >= 2) {
    const std::vector<std::string> header = SplitCsvLine(lines[0]);
    const std::vector<std::string> row = SplitCsvLine(lines[1]);
    const bool has_sky = FindColumn(header, "ghi") > 0 || FindColumn(header, "cloud_cover") > 0;
    if (has_sky && !row.empty() && ParseIsoTime(row[0], {path, 2, header[0]}).ok()) {
      if (std::isnan(latitude_deg) || std::isnan(longitude_deg)) {
        return Status::Error(
            path +
            ": a plain time-series CSV does not say where it is: give its latitude "
            "and longitude");
      }
      Result<TimeSeriesTable> table = ParseTimeSeriesCsv(*text, path);
      if (!table.ok()) return table.status();
      return WeatherFromTable(*table, latitude_deg, longitude_deg);
    }
  }
  if (head.find("Year,Month,Day,Hour,Minute") != std::string::npos ||
      head.find("Time Zone") != std::string::npos) {
    return ParseNsrdbPsm3(*text, path, utc_offset_hours);
  }
  if (head.find("Date (MM/DD/YYYY)") != std::string::npos) return ParseTmy3(*text, path);
  return Status::Error(path +
                       ": not a weather format greenshift reads (Open-Meteo JSON, EPW, TMY3, "
                       "NSRDB PSM3, PVGIS TMY, or a time-series CSV with ghi or cloud_cover)");
}

}  // namespace greenshift::energy
