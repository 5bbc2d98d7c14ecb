#include "cli/inputs.h"

#include <cstdio>

#include <optional>

#include "core/files.h"
#include "core/zone.h"
#include "energy/csv.h"
#include "energy/solar.h"
#include "energy/wind.h"

namespace greenshift::cli {

void AddSiteOptions(CLI::App* command, const std::shared_ptr<SiteOptions>& o) {
  command->add_option("--site-name", o->name, "the site's name")->capture_default_str();
  command->add_option("--lat", o->latitude_deg, "latitude (default: the weather file's)");
  command->add_option("--lon", o->longitude_deg, "longitude, east positive (default: the file's)");
  command->add_option("--pv-kw", o->pv_kw, "PV DC rating, kW (0: no PV)")->capture_default_str();
  command->add_option("--tilt", o->tilt_deg, "PV tilt, degrees from horizontal")
      ->capture_default_str();
  command->add_option("--azimuth", o->azimuth_deg,
                      "PV azimuth, degrees clockwise from north (default: towards the equator, "
                      "180 north of it, 0 south of it)");
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
    const double azimuth_deg =
        std::isnan(o.azimuth_deg) ? energy::EquatorAzimuthDeg(pv.latitude_deg) : o.azimuth_deg;
    if (!(azimuth_deg >= 0 && azimuth_deg < 360))
      return Status::Error("--azimuth must be in 0..360");
    if (energy::PvFacesThePole(azimuth_deg, pv.latitude_deg)) {
      std::fprintf(stderr,
                   "greenshift: warning: --azimuth %g faces the pole at latitude %g (the equator "
                   "is at %g); if the array really faces away from the sun, ignore this\n",
                   azimuth_deg, pv.latitude_deg, energy::EquatorAzimuthDeg(pv.latitude_deg));
    }
    pv.tilt_deg = o.tilt_deg;
    pv.azimuth_deg = azimuth_deg;
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
                                        const std::string& site, double capacity_w,
                                        const std::string& clock_tz) {
  std::optional<TimeZone> zone;
  if (!clock_tz.empty()) {
    Result<TimeZone> found = TimeZone::Find(clock_tz);
    if (!found.ok()) return Status::Invalid("--tz: " + found.error());
    zone = *found;
  }
  const TimeZone* clock_zone = zone ? &*zone : nullptr;
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  Result<energy::TimeSeriesTable> table =
      energy::ParseTimeSeriesCsv(*text, path, {energy::Gaps::kMissing, clock_zone});
  if (!table.ok()) return table.status();
  energy::SensorLimits limits;
  limits.capacity_w = capacity_w;
  limits.negative_tolerance_w = 0.01 * capacity_w;  // inverters draw a little at night
  Result<energy::ReplayResult> replay = energy::ReplayCsv(*table, column, site, path, limits);
  if (!replay.ok()) return replay.status();
  MeasuredPower measured;
  measured.accepted = replay->validator.accepted();
  measured.rejected = replay->validator.rejected_total();
  measured.missing = replay->missing;
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
