// Weather in one shape, whatever the source: a location and hourly (or finer) series in SI
// units, with NaN where a source does not give a variable. Each parser converts units once, here,
// and names file, line and field when the input is wrong.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace greenshift::energy {

struct WeatherSeries {
  std::string source;  // the file it came from
  double latitude_deg = 0, longitude_deg = 0, elevation_m = 0;
  std::vector<int64_t> time_utc_s;                   // the start of each step
  std::vector<double> ghi_w_m2, dni_w_m2, dhi_w_m2;  // irradiance (NaN: not given)
  std::vector<double> air_temperature_c;
  std::vector<double> wind_speed_m_s;     // at 10 m
  std::vector<double> cloud_cover;        // 0..1
  std::vector<double> relative_humidity;  // 0..1
  // Clear-sky irradiance, when the source gives it (satellite products do); empty otherwise.
  std::vector<double> ghi_clear_w_m2, dni_clear_w_m2, dhi_clear_w_m2;
  size_t size() const { return time_utc_s.size(); }
  bool HasIrradiance() const;  // GHI is given (somewhere not NaN)
};

// An Open-Meteo forecast or archive API response (JSON), in each shape its documentation gives:
// - one location (an object), or several from one request (an array of them, for
//   latitude=a,b&longitude=c,d): the one nearest to (near_latitude_deg, near_longitude_deg),
//   which must then be given;
// - `minutely_15` data (15-minute steps) when the response has them, else `hourly`;
// - times as ISO 8601 local times (shifted by `utc_offset_seconds`) or, with
//   timeformat=unixtime, seconds since the epoch (UTC whatever the offset);
// - units from `<block>_units` (km/h, m/s, mph or kn; °C or °F; % or W/m²), or Open-Meteo's
//   defaults when the response gives none;
// - old and new variable names (windspeed_10m / wind_speed_10m, cloudcover / cloud_cover,
//   relativehumidity_2m / relative_humidity_2m); null is no data (NaN).
// Errors name the file and what in it is wrong, never the JSON library's internals.
Result<WeatherSeries> ParseOpenMeteoJson(std::string_view text, const std::string& file,
                                         double near_latitude_deg = NAN,
                                         double near_longitude_deg = NAN);

// EnergyPlus EPW: LOCATION line, 7 more header lines, hourly rows (hour 1..24 ending the hour,
// local standard time). Typical-year files mix years; all rows are placed in one year: the first
// row's, or the year before when that is a leap year (a typical year has no 29 February).
Result<WeatherSeries> ParseEpw(std::string_view text, const std::string& file);

// NREL TMY3 CSV: a site line (id, name, state, UTC offset, latitude, longitude, elevation), a
// header line, hourly rows (MM/DD/YYYY, HH:MM ending the hour, local standard time). Mixed years
// are placed in one year, as for EPW.
Result<WeatherSeries> ParseTmy3(std::string_view text, const std::string& file);

// PVGIS TMY CSV: latitude/longitude/elevation lines, the month-year table, then
// `time(UTC),T2m,RH,G(h),Gb(n),Gd(h),IR(h),WS10m,WD10m,SP` rows until a blank line. Mixed years
// are placed in one year, as for EPW.
Result<WeatherSeries> ParsePvgisTmy(std::string_view text, const std::string& file);

// NREL NSRDB PSM3 CSV: optionally two metadata lines (a header with "Latitude", "Longitude",
// "Time Zone", "Elevation" and a line of values), then `Year,Month,Day,Hour,Minute,...` columns
// (Temperature °C, GHI/DNI/DHI W/m², Wind Speed m/s, Relative Humidity %), a leading index
// column allowed. The time zone comes from the metadata; a file without it needs
// `utc_offset_hours` (NaN: refuse to guess).
Result<WeatherSeries> ParseNsrdbPsm3(std::string_view text, const std::string& file,
                                     double utc_offset_hours);

struct TimeSeriesTable;

// Weather from a plain time-series CSV (timestamp + named columns) with pvlib's column names:
// ghi, dni, dhi, ghi_clear, dni_clear, dhi_clear (W/m²), temp_air (°C), wind_speed (m/s, 10 m),
// cloud_cover (0..1), relative_humidity (0..1). Such a file does not say where it is: the caller
// gives the location. It needs ghi or cloud_cover; other columns are ignored.
Result<WeatherSeries> WeatherFromTable(const TimeSeriesTable& table, double latitude_deg,
                                       double longitude_deg);

// Reads a weather file, picking the parser by its content: Open-Meteo JSON, EPW, PVGIS, TMY3,
// PSM3, or a plain time-series CSV with pvlib column names (which needs `latitude_deg` and
// `longitude_deg`, NaN when not given).
Result<WeatherSeries> ReadWeatherFile(const std::string& path, double utc_offset_hours,
                                      double latitude_deg = NAN, double longitude_deg = NAN);

}  // namespace greenshift::energy
