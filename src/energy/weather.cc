#include "energy/weather.h"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>

#include "energy/csv.h"
#include "energy/weather_parts.h"

namespace greenshift::energy {

namespace {

// A calendar field read as a number (EPW and PSM3 write them so): it must be a whole number in
// [lo, hi] before it is used as one.
Result<int> CalendarField(double value, int lo, int hi, const std::string& file, size_t line,
                          const std::string& name) {
  if (!(value >= lo && value <= hi) || value != std::floor(value)) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", value);
    return FileError(file, line,
                     name + " " + text + " is not a whole number in " + std::to_string(lo) + ".." +
                         std::to_string(hi));
  }
  return static_cast<int>(value);
}

// Reads latitude, longitude, UTC offset (hours) and elevation from the given fields of a site
// line (line 1); returns the UTC offset in seconds.
Result<int64_t> ReadSite(const std::vector<std::string>& fields, size_t lat, size_t lon,
                         size_t utc_offset, size_t elevation, const std::string& file,
                         WeatherSeries& w) {
  Result<double> v_lat = ParseNumber(fields[lat], {file, 1, "latitude"});
  Result<double> v_lon = ParseNumber(fields[lon], {file, 1, "longitude"});
  Result<double> v_tz = ParseNumber(fields[utc_offset], {file, 1, "UTC offset"});
  Result<double> v_elevation = ParseNumber(fields[elevation], {file, 1, "elevation"});
  for (const auto* r : {&v_lat, &v_lon, &v_tz, &v_elevation}) {
    if (!r->ok()) return r->status();
  }
  w.latitude_deg = *v_lat;
  w.longitude_deg = *v_lon;
  w.elevation_m = *v_elevation;
  return static_cast<int64_t>(std::llround(*v_tz * 3600));
}

// Index of the column `name` in `header` (file line `line`), or an error naming it.
Result<size_t> RequireColumn(const std::vector<std::string>& header, const std::string& name,
                             const std::string& file, size_t line) {
  const int i = FindColumn(header, name);
  if (i < 0) return FileError(file, line, "no column '" + name + "'");
  return static_cast<size_t>(i);
}

// The year a typical-year file (rows from several years) is placed in: its first row's year, or
// the year before when that is a leap year, since a typical year has no 29 February.
int TypicalYear(int first_row_year) {
  const bool leap =
      (first_row_year % 4 == 0 && first_row_year % 100 != 0) || first_row_year % 400 == 0;
  return leap ? first_row_year - 1 : first_row_year;
}

}  // namespace

void Reserve(WeatherSeries& w, size_t n) {
  for (auto* v : {&w.ghi_w_m2, &w.dni_w_m2, &w.dhi_w_m2, &w.air_temperature_c, &w.wind_speed_m_s,
                  &w.cloud_cover, &w.relative_humidity}) {
    v->reserve(n);
  }
}

void Push(WeatherSeries& w, int64_t t, double ghi, double dni, double dhi, double temp, double wind,
          double cloud, double humidity) {
  w.time_utc_s.push_back(t);
  w.ghi_w_m2.push_back(ghi);
  w.dni_w_m2.push_back(dni);
  w.dhi_w_m2.push_back(dhi);
  w.air_temperature_c.push_back(temp);
  w.wind_speed_m_s.push_back(wind);
  w.cloud_cover.push_back(cloud);
  w.relative_humidity.push_back(humidity);
}

Status CheckRanges(const WeatherSeries& w) {
  for (size_t i = 0; i < w.size(); ++i) {
    auto bad = [&](const char* what, double v, const char* range) {
      return Status::Error(w.source + ": step " + std::to_string(i + 1) + ": " + what + " " +
                           std::to_string(v) + " outside " + range + " (wrong unit?)");
    };
    if (w.ghi_w_m2[i] < -10 || w.ghi_w_m2[i] > 1500)
      return bad("GHI", w.ghi_w_m2[i], "0..1500 W/m²");
    if (w.dni_w_m2[i] < -10 || w.dni_w_m2[i] > 1500)
      return bad("DNI", w.dni_w_m2[i], "0..1500 W/m²");
    if (w.dhi_w_m2[i] < -10 || w.dhi_w_m2[i] > 1000)
      return bad("DHI", w.dhi_w_m2[i], "0..1000 W/m²");
    if (w.air_temperature_c[i] < -90 || w.air_temperature_c[i] > 60)
      return bad("air temperature", w.air_temperature_c[i], "-90..60 °C");
    if (w.wind_speed_m_s[i] < 0 || w.wind_speed_m_s[i] > 80)
      return bad("wind speed", w.wind_speed_m_s[i], "0..80 m/s");
    if (w.cloud_cover[i] < 0 || w.cloud_cover[i] > 1)
      return bad("cloud cover", w.cloud_cover[i], "0..1");
    if (w.relative_humidity[i] < 0 || w.relative_humidity[i] > 1.05)
      return bad("relative humidity", w.relative_humidity[i], "0..1");
    if (i > 0 && w.time_utc_s[i] <= w.time_utc_s[i - 1]) {
      return Status::Error(w.source + ": step " + std::to_string(i + 1) +
                           ": time does not come after the step before");
    }
  }
  return Status::Ok();
}

bool WeatherSeries::HasIrradiance() const {
  for (double v : ghi_w_m2) {
    if (!std::isnan(v)) return true;
  }
  return false;
}

Result<WeatherSeries> ParseEpw(std::string_view text, const std::string& file) {
  const std::vector<std::string_view> lines = SplitLines(text);
  if (lines.size() < 9)
    return FileError(file, 0, "too short for an EPW file (8 header lines, then data)");
  const std::vector<std::string> location = SplitCsvLine(lines[0]);
  if (location.size() < 10 || location[0] != "LOCATION") {
    return FileError(file, 1, "expected the EPW LOCATION line");
  }
  WeatherSeries w;
  w.source = file;
  Result<int64_t> site_offset = ReadSite(location, 6, 7, 8, 9, file, w);
  if (!site_offset.ok()) return site_offset.status();
  const int64_t offset = *site_offset;
  int first_year = 0;
  Reserve(w, lines.size());
  for (size_t n = 8; n < lines.size(); ++n) {
    if (lines[n].empty() || lines[n] == "\r") continue;
    const std::vector<std::string> f = SplitCsvLine(lines[n]);
    if (f.size() < 22) {
      return FileError(file, n + 1, std::to_string(f.size()) + " fields, an EPW data row has 35");
    }
    double v[9];
    const int index[9] = {0, 1, 2, 3, 6, 13, 14, 15, 21};
    const char* names[9] = {"year",
                            "month",
                            "day",
                            "hour",
                            "dry bulb temperature",
                            "global horizontal radiation",
                            "direct normal radiation",
                            "diffuse horizontal radiation",
                            "wind speed"};
    for (int k = 0; k < 9; ++k) {
      Result<double> value = ParseNumber(f[index[k]], {file, n + 1, names[k]});
      if (!value.ok()) return value.status();
      v[k] = *value;
    }
    double cloud = kNaN;
    if (f.size() > 22) {
      Result<double> sky = ParseNumber(f[22], {file, n + 1, "total sky cover"});
      if (!sky.ok()) return sky.status();
      if (*sky != 99) cloud = *sky / 10.0;  // tenths; 99 = missing
    }
    double humidity = kNaN;
    if (Result<double> rh = ParseNumber(f[8], {file, n + 1, "relative humidity"});
        rh.ok() && *rh != 999) {
      humidity = *rh / 100.0;
    }
    Result<int> year = CalendarField(v[0], 1, 9999, file, n + 1, "year");
    Result<int> month = CalendarField(v[1], 1, 12, file, n + 1, "month");
    Result<int> day = CalendarField(v[2], 1, 31, file, n + 1, "day");
    Result<int> hour_ending = CalendarField(v[3], 1, 24, file, n + 1, "hour");
    for (const auto* r : {&year, &month, &day, &hour_ending}) {
      if (!r->ok()) return r->status();
    }
    if (first_year == 0) first_year = TypicalYear(*year);
    // EPW marks missing values with 9999 (radiation) and 99.9 (temperature), 999 (wind).
    auto missing = [](double value, double marker) { return value >= marker ? kNaN : value; };
    Push(w, UtcSeconds(first_year, *month, *day, *hour_ending - 1, 0) - offset, missing(v[5], 9999),
         missing(v[6], 9999), missing(v[7], 9999), missing(v[4], 99.9), missing(v[8], 999), cloud,
         humidity);
  }
  if (w.size() == 0) return FileError(file, 0, "no data rows");
  GS_RETURN_IF_ERROR(CheckRanges(w));
  return w;
}

Result<WeatherSeries> ParseTmy3(std::string_view text, const std::string& file) {
  const std::vector<std::string_view> lines = SplitLines(text);
  if (lines.size() < 3)
    return FileError(file, 0, "too short for a TMY3 file (site line, header, rows)");
  const std::vector<std::string> site = SplitCsvLine(lines[0]);
  if (site.size() < 7)
    return FileError(
        file, 1, "expected the TMY3 site line (id, name, state, UTC offset, lat, lon, elevation)");
  WeatherSeries w;
  w.source = file;
  Result<int64_t> site_offset = ReadSite(site, 4, 5, 3, 6, file, w);
  if (!site_offset.ok()) return site_offset.status();
  const int64_t offset = *site_offset;
  const std::vector<std::string> header = SplitCsvLine(lines[1]);
  auto column = [&](const std::string& name) { return RequireColumn(header, name, file, 2); };
  Result<size_t> c_ghi = column("GHI (W/m^2)"), c_dni = column("DNI (W/m^2)"),
                 c_dhi = column("DHI (W/m^2)"), c_cloud = column("TotCld (tenths)"),
                 c_temp = column("Dry-bulb (C)"), c_rh = column("RHum (%)"),
                 c_wind = column("Wspd (m/s)");
  for (const auto* r : {&c_ghi, &c_dni, &c_dhi, &c_cloud, &c_temp, &c_rh, &c_wind}) {
    if (!r->ok()) return r->status();
  }
  int first_year = 0;
  Reserve(w, lines.size());
  for (size_t n = 2; n < lines.size(); ++n) {
    if (lines[n].empty() || lines[n] == "\r") continue;
    const std::vector<std::string> f = SplitCsvLine(lines[n]);
    if (f.size() != header.size()) {
      return FileError(
          file, n + 1,
          std::to_string(f.size()) + " fields, the header has " + std::to_string(header.size()));
    }
    int month, day, year, hour, minute;
    if (std::sscanf(f[0].c_str(), "%2d/%2d/%4d", &month, &day, &year) != 3 ||
        std::sscanf(f[1].c_str(), "%2d:%2d", &hour, &minute) != 2 || hour < 1 || hour > 24) {
      return FileError(
          file, n + 1,
          "date '" + f[0] + "' / time '" + f[1] + "' is not MM/DD/YYYY and HH:MM (01:00..24:00)");
    }
    if (first_year == 0) first_year = TypicalYear(year);
    double v[7];
    const size_t idx[7] = {*c_ghi, *c_dni, *c_dhi, *c_temp, *c_wind, *c_cloud, *c_rh};
    for (int k = 0; k < 7; ++k) {
      Result<double> value = ParseNumber(f[idx[k]], {file, n + 1, header[idx[k]]});
      if (!value.ok()) return value.status();
      v[k] = *value;
    }
    Push(w, UtcSeconds(first_year, month, day, hour - 1, 0) - offset, v[0], v[1], v[2], v[3], v[4],
         v[5] / 10.0, v[6] / 100.0);
  }
  if (w.size() == 0) return FileError(file, 0, "no data rows");
  GS_RETURN_IF_ERROR(CheckRanges(w));
  return w;
}

Result<WeatherSeries> ParsePvgisTmy(std::string_view text, const std::string& file) {
  const std::vector<std::string_view> lines = SplitLines(text);
  WeatherSeries w;
  w.source = file;
  size_t n = 0;
  bool have_lat = false, have_lon = false;
  for (; n < lines.size(); ++n) {
    const std::string line(lines[n]);
    auto value_after_colon = [&](const char* field) -> Result<double> {
      return ParseNumber(line.substr(line.find(':') + 1), {file, n + 1, field});
    };
    if (line.rfind("Latitude", 0) == 0) {
      Result<double> v = value_after_colon("latitude");
      if (!v.ok()) return v.status();
      w.latitude_deg = *v;
      have_lat = true;
    } else if (line.rfind("Longitude", 0) == 0) {
      Result<double> v = value_after_colon("longitude");
      if (!v.ok()) return v.status();
      w.longitude_deg = *v;
      have_lon = true;
    } else if (line.rfind("Elevation", 0) == 0) {
      Result<double> v = value_after_colon("elevation");
      if (!v.ok()) return v.status();
      w.elevation_m = *v;
    } else if (line.rfind("time(UTC)", 0) == 0) {
      break;
    }
  }
  if (!have_lat || !have_lon)
    return FileError(file, 0, "no 'Latitude' / 'Longitude' lines: not a PVGIS TMY file");
  if (n >= lines.size())
    return FileError(file, 0, "no 'time(UTC),...' header: not a PVGIS TMY file");
  const std::vector<std::string> header = SplitCsvLine(lines[n]);
  auto column = [&](const std::string& name) { return RequireColumn(header, name, file, n + 1); };
  Result<size_t> c_t = column("T2m"), c_rh = column("RH"), c_ghi = column("G(h)"),
                 c_dni = column("Gb(n)"), c_dhi = column("Gd(h)"), c_ws = column("WS10m");
  for (const auto* r : {&c_t, &c_rh, &c_ghi, &c_dni, &c_dhi, &c_ws}) {
    if (!r->ok()) return r->status();
  }
  int first_year = 0;
  for (++n; n < lines.size(); ++n) {
    if (lines[n].empty() || lines[n] == "\r") break;  // the table ends at a blank line
    const std::vector<std::string> f = SplitCsvLine(lines[n]);
    if (f.size() != header.size()) break;  // the legend after the table
    int year, month, day, hour, minute;
    if (std::sscanf(f[0].c_str(), "%4d%2d%2d:%2d%2d", &year, &month, &day, &hour, &minute) != 5) {
      return FileError(file, n + 1, "time '" + f[0] + "' is not YYYYMMDD:HHMM");
    }
    if (first_year == 0) first_year = TypicalYear(year);
    double v[6];
    const size_t idx[6] = {*c_ghi, *c_dni, *c_dhi, *c_t, *c_ws, *c_rh};
    for (int k = 0; k < 6; ++k) {
      Result<double> value = ParseNumber(f[idx[k]], {file, n + 1, header[idx[k]]});
      if (!value.ok()) return value.status();
      v[k] = *value;
    }
    Push(w, UtcSeconds(first_year, month, day, hour, minute), v[0], v[1], v[2], v[3], v[4], kNaN,
         v[5] / 100.0);
  }
  if (w.size() == 0) return FileError(file, 0, "no data rows");
  GS_RETURN_IF_ERROR(CheckRanges(w));
  return w;
}

Result<WeatherSeries> ParseNsrdbPsm3(std::string_view text, const std::string& file,
                                     double utc_offset_hours) {
  const std::vector<std::string_view> lines = SplitLines(text);
  if (lines.size() < 2) return FileError(file, 0, "too short for an NSRDB PSM3 file");
  WeatherSeries w;
  w.source = file;
  size_t header_line = 0;
  double offset_h = utc_offset_hours;
  std::vector<std::string> first = SplitCsvLine(lines[0]);
  if (FindColumn(first, "Year") < 0) {  // metadata lines first
    if (lines.size() < 4) return FileError(file, 0, "metadata but no data");
    const std::vector<std::string> values = SplitCsvLine(lines[1]);
    auto meta = [&](const std::string& name, double& out) -> Status {
      const int i = FindColumn(first, name);
      if (i < 0 || i >= static_cast<int>(values.size())) return Status::Ok();
      Result<double> v = ParseNumber(values[i], {file, 2, name});
      if (!v.ok()) return v.status();
      out = *v;
      return Status::Ok();
    };
    GS_RETURN_IF_ERROR(meta("Latitude", w.latitude_deg));
    GS_RETURN_IF_ERROR(meta("Longitude", w.longitude_deg));
    GS_RETURN_IF_ERROR(meta("Elevation", w.elevation_m));
    GS_RETURN_IF_ERROR(meta("Time Zone", offset_h));
    header_line = 2;
  }
  if (std::isnan(offset_h)) {
    return FileError(file, 0, "no 'Time Zone' metadata and no UTC offset given; refusing to guess");
  }
  const std::vector<std::string> header = SplitCsvLine(lines[header_line]);
  const int c_year = FindColumn(header, "Year"), c_month = FindColumn(header, "Month"),
            c_day = FindColumn(header, "Day"), c_hour = FindColumn(header, "Hour"),
            c_minute = FindColumn(header, "Minute");
  for (auto [index, name] : {std::pair{c_year, "Year"},
                             {c_month, "Month"},
                             {c_day, "Day"},
                             {c_hour, "Hour"},
                             {c_minute, "Minute"}}) {
    if (index < 0) return FileError(file, header_line + 1, std::string("no column '") + name + "'");
  }
  const int c_temp = FindColumn(header, "Temperature"), c_ghi = FindColumn(header, "GHI"),
            c_dni = FindColumn(header, "DNI"), c_dhi = FindColumn(header, "DHI"),
            c_wind = FindColumn(header, "Wind Speed"),
            c_rh = FindColumn(header, "Relative Humidity");
  if (c_ghi < 0 || c_temp < 0) {
    return FileError(file, header_line + 1, "no 'GHI' or 'Temperature' column");
  }
  const int64_t offset_s = static_cast<int64_t>(std::llround(offset_h * 3600));
  for (size_t n = header_line + 1; n < lines.size(); ++n) {
    if (lines[n].empty() || lines[n] == "\r") continue;
    const std::vector<std::string> f = SplitCsvLine(lines[n]);
    if (f.size() != header.size()) {
      return FileError(
          file, n + 1,
          std::to_string(f.size()) + " fields, the header has " + std::to_string(header.size()));
    }
    auto get = [&](int column) -> Result<double> {
      if (column < 0) return kNaN;
      return ParseNumber(f[column], {file, n + 1, header[column]});
    };
    Result<double> year = get(c_year), month = get(c_month), day = get(c_day), hour = get(c_hour),
                   minute = get(c_minute), temp = get(c_temp), ghi = get(c_ghi), dni = get(c_dni),
                   dhi = get(c_dhi), wind = get(c_wind), rh = get(c_rh);
    for (const auto* r :
         {&year, &month, &day, &hour, &minute, &temp, &ghi, &dni, &dhi, &wind, &rh}) {
      if (!r->ok()) return r->status();
    }
    Result<int> y = CalendarField(*year, 1, 9999, file, n + 1, "Year");
    Result<int> mo = CalendarField(*month, 1, 12, file, n + 1, "Month");
    Result<int> d = CalendarField(*day, 1, 31, file, n + 1, "Day");
    Result<int> h = CalendarField(*hour, 0, 23, file, n + 1, "Hour");
    Result<int> mi = CalendarField(*minute, 0, 59, file, n + 1, "Minute");
    for (const auto* r : {&y, &mo, &d, &h, &mi}) {
      if (!r->ok()) return r->status();
    }
    Push(w, UtcSeconds(*y, *mo, *d, *h, *mi) - offset_s, *ghi, *dni, *dhi, *temp, *wind, kNaN,
         std::isnan(*rh) ? kNaN : *rh / 100.0);
  }
  if (w.size() == 0) return FileError(file, 0, "no data rows");
  GS_RETURN_IF_ERROR(CheckRanges(w));
  return w;
}

Result<WeatherSeries> WeatherFromTable(const TimeSeriesTable& table, double latitude_deg,
                                       double longitude_deg) {
  if (!(latitude_deg >= -90 && latitude_deg <= 90) ||
      !(longitude_deg >= -180 && longitude_deg <= 180)) {
    return Status::Error(table.file + ": the location " + std::to_string(latitude_deg) + ", " +
                         std::to_string(longitude_deg) + " is not a latitude/longitude");
  }
  const size_t n = table.time_utc_s.size();
  auto column = [&](const char* name) -> std::vector<double> {
    const int i = FindColumn(table.names, name);
    return i < 0 ? std::vector<double>(n, kNaN) : table.columns[i];
  };
  if (FindColumn(table.names, "ghi") < 0 && FindColumn(table.names, "cloud_cover") < 0) {
    std::string known;
    for (const std::string& name : table.names) known += (known.empty() ? "" : ", ") + name;
    return Status::Error(table.file +
                         ": needs a 'ghi' or a 'cloud_cover' column (columns: " + known + ")");
  }
  WeatherSeries w;
  w.source = table.file;
  w.latitude_deg = latitude_deg;
  w.longitude_deg = longitude_deg;
  w.time_utc_s = table.time_utc_s;
  w.ghi_w_m2 = column("ghi");
  w.dni_w_m2 = column("dni");
  w.dhi_w_m2 = column("dhi");
  w.air_temperature_c = column("temp_air");
  w.wind_speed_m_s = column("wind_speed");
  w.cloud_cover = column("cloud_cover");
  w.relative_humidity = column("relative_humidity");
  if (FindColumn(table.names, "ghi_clear") >= 0 && FindColumn(table.names, "dni_clear") >= 0 &&
      FindColumn(table.names, "dhi_clear") >= 0) {
    w.ghi_clear_w_m2 = column("ghi_clear");
    w.dni_clear_w_m2 = column("dni_clear");
    w.dhi_clear_w_m2 = column("dhi_clear");
  }
  GS_RETURN_IF_ERROR(CheckRanges(w));
  return w;
}

}  // namespace greenshift::energy
