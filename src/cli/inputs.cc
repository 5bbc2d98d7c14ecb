#include "cli/inputs.h"

#include "core/files.h"
#include "energy/csv.h"
#include "energy/wind.h"

namespace greenshift::cli {

Result<energy::WeatherSeries> ReadWeather(const std::string& path, double utc_offset_hours,
                                          double latitude_deg, double longitude_deg) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  const std::string head = text->substr(0, 400);
  if (head.find('{') == head.find_first_not_of(" \n\r\t"))
    return energy::ParseOpenMeteoJson(*text, path);
  if (head.rfind("LOCATION,", 0) == 0) return energy::ParseEpw(*text, path);
  if (head.rfind("Latitude", 0) == 0) return energy::ParsePvgisTmy(*text, path);
  // A plain time-series CSV: a header naming ghi or cloud_cover, rows starting with an ISO time.
  const std::vector<std::string_view> lines =
      energy::SplitLines(std::string_view(*text).substr(0, 2000));
  if (lines.size() >= 2) {
    const std::vector<std::string> header = energy::SplitCsvLine(lines[0]);
    const std::vector<std::string> row = energy::SplitCsvLine(lines[1]);
    const bool has_sky =
        energy::FindColumn(header, "ghi") > 0 || energy::FindColumn(header, "cloud_cover") > 0;
    if (has_sky && !row.empty() && energy::ParseIsoTime(row[0], {path, 2, header[0]}).ok()) {
      if (std::isnan(latitude_deg) || std::isnan(longitude_deg)) {
        return Status::Error(path +
                             ": a plain time-series CSV does not say where it is: give --lat and "
                             "--lon");
      }
      Result<energy::TimeSeriesTable> table = energy::ParseTimeSeriesCsv(*text, path);
      if (!table.ok()) return table.status();
      return energy::WeatherFromTable(*table, latitude_deg, longitude_deg);
    }
  }
  if (head.find("Year,Month,Day,Hour,Minute") != std::string::npos ||
      head.find("Time Zone") != std::string::npos) {
    return energy::ParseNsrdbPsm3(*text, path, utc_offset_hours);
  }
  if (head.find("Date (MM/DD/YYYY)") != std::string::npos) return energy::ParseTmy3(*text, path);
  return Status::Error(path +
                       ": not a weather format greenshift reads (Open-Meteo JSON, EPW, TMY3, "
                       "NSRDB PSM3, PVGIS TMY, or a time-series CSV with ghi or cloud_cover)");
}

void AddSiteOptions(CLI::App* command, const std::shared_ptr<SiteOptions>& o) {
  command->add_option("--site-name", o->name, "the site's name")->capture_default_str();
  command->add_option("--lat", o->latitude_deg, "latitude (default: the weather file's)");
  command->add_option("--lon", o->longitude_deg, "longitude, east positive (default: the file's)");
  command->add_option("--pv-kw", o->pv_kw, "PV DC rating, kW (0: no PV)")->capture_default_str();
  command->add_option("--tilt", o->tilt_deg, "PV tilt, degrees from horizontal")
      ->capture_default_str();
  command->add_option("--azimuth", o->azimuth_deg, "PV azimuth, degrees clockwise from north")
      ->capture_default_str();
  command->add_option("--inverter-kw", o->inverter_kw, "PV inverter AC limit, kW (0: none)")
      ->capture_default_str();
  command->add_option("--turbine", o->turbine, "wind turbine type (from --curves)");
  command->add_option("--turbines", o->turbines, "how many of them")->capture_default_str();
  command->add_option("--hub-height", o->hub_height_m, "hub height, m")->capture_default_str();
  command->add_option("--roughness", o->roughness_m, "terrain roughness length, m")
      ->capture_default_str();
  command->add_option("--curves", o->curves, "power_curves.csv (Open Energy Database layout)");
}

Result<energy::SiteModel> BuildSite(const SiteOptions& o, const energy::WeatherSeries& weather) {
  energy::SiteModel site;
  site.name = o.name;
  if (o.pv_kw < 0 || o.inverter_kw < 0)
    return Status::Error("--pv-kw and --inverter-kw must be >= 0");
  if (o.pv_kw > 0) {
    energy::PvSystem pv;
    pv.latitude_deg = std::isnan(o.latitude_deg) ? weather.latitude_deg : o.latitude_deg;
    pv.longitude_deg = std::isnan(o.longitude_deg) ? weather.longitude_deg : o.longitude_deg;
    if (!(o.tilt_deg >= 0 && o.tilt_deg <= 90)) return Status::Error("--tilt must be in 0..90");
    if (!(o.azimuth_deg >= 0 && o.azimuth_deg < 360))
      return Status::Error("--azimuth must be in 0..360");
    pv.tilt_deg = o.tilt_deg;
    pv.azimuth_deg = o.azimuth_deg;
    pv.capacity_w = o.pv_kw * 1000;
    pv.inverter_limit_w = o.inverter_kw * 1000;
    site.pv.push_back(pv);
  }
  if (!o.turbine.empty()) {
    if (o.curves.empty()) return Status::Error("--turbine needs --curves (power_curves.csv)");
    if (o.turbines < 1) return Status::Error("--turbines must be at least 1");
    if (!(o.hub_height_m > 10)) return Status::Error("--hub-height must be above 10 m");
    if (!(o.roughness_m > 0)) return Status::Error("--roughness must be positive");
    Result<std::string> text = ReadFile(o.curves);
    if (!text.ok()) return text.status();
    Result<std::vector<energy::PowerCurve>> curves = energy::ParsePowerCurves(*text, o.curves);
    if (!curves.ok()) return curves.status();
    Result<energy::PowerCurve> curve = energy::FindPowerCurve(*curves, o.turbine);
    if (!curve.ok()) return curve.status();
    site.wind.push_back({*curve, o.hub_height_m, o.roughness_m, o.turbines});
  }
  if (site.pv.empty() && site.wind.empty()) {
    return Status::Error("the site has no installation: give --pv-kw and/or --turbine");
  }
  return site;
}

Result<MeasuredPower> ReadMeasuredPower(const std::string& path, const std::string& column,
                                        const std::string& site, double capacity_w) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  Result<energy::TimeSeriesTable> table = energy::ParseTimeSeriesCsv(*text, path);
  if (!table.ok()) return table.status();
  energy::SensorLimits limits;
  limits.capacity_w = capacity_w;
  limits.negative_tolerance_w = 0.01 * capacity_w;  // inverters draw a little at night
  Result<energy::ReplayResult> replay = energy::ReplayCsv(*table, column, site, path, limits);
  if (!replay.ok()) return replay.status();
  MeasuredPower measured;
  measured.accepted = replay->validator.accepted();
  measured.rejected = replay->validator.rejected_total();
  if (!replay->validator.recent_rejections().empty())
    measured.first_rejection = replay->validator.recent_rejections().front();
  energy::TimeSeriesTable accepted;
  accepted.file = path;
  accepted.names = {column};
  accepted.columns.resize(1);
  for (const energy::Reading& r : replay->accepted) {
    accepted.time_utc_s.push_back(r.time_utc_ms / 1000);
    accepted.columns[0].push_back(r.power_w);
  }
  if (accepted.time_utc_s.empty()) {
    return Status::Error(
        path + ": no reading of column '" + column + "' passed validation" +
        (measured.first_rejection.empty() ? "" : " (" + measured.first_rejection + ")"));
  }
  Result<energy::PowerSeries> series = energy::PowerSeriesFromTable(accepted, column);
  if (!series.ok()) return series.status();
  // The spacing of the file, not of what survived validation.
  measured.series = *series;
  Result<energy::PowerSeries> all = energy::PowerSeriesFromTable(*table, column);
  if (all.ok()) measured.series.step_s = all->step_s;
  return measured;
}

}  // namespace greenshift::cli
