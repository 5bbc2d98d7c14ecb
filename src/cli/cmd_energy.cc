// greenshift energy wind: the energy a real turbine yields from measured weather.
#include <cmath>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/context.h"
#include "cli/inputs.h"
#include "core/clock.h"
#include "core/files.h"
#include "energy/forecast.h"
#include "energy/solar.h"
#include "energy/weather.h"
#include "energy/wind.h"

namespace greenshift::cli {

void AddEnergyCommands(CLI::App& app, Context& context) {
  CLI::App* energy_cmd = app.add_subcommand("energy", "green power models on real data");
  energy_cmd->require_subcommand(1);

  struct WindOptions {
    std::string weather, curves, turbine = "E-126/4200";
    double hub_height_m = 135;
    bool json = false;
  };
  auto wind = std::make_shared<WindOptions>();
  CLI::App* wind_cmd = energy_cmd->add_subcommand(
      "wind", "yearly energy and capacity factor of a turbine from windpowerlib-style weather");
  wind_cmd->add_option("--weather", wind->weather, "weather CSV (windpowerlib layout)")->required();
  wind_cmd->add_option("--curves", wind->curves, "power_curves.csv (Open Energy Database)")
      ->required();
  wind_cmd->add_option("--turbine", wind->turbine, "turbine type")->capture_default_str();
  wind_cmd->add_option("--hub-height", wind->hub_height_m, "hub height, m")->capture_default_str();
  wind_cmd->add_flag("--json", wind->json, "print as JSON");
  wind_cmd->callback([&context, wind]() {
    Result<std::string> curves_text = ReadFile(wind->curves);
    if (!curves_text.ok()) return context.Fail(curves_text.error());
    Result<std::vector<energy::PowerCurve>> curves =
        energy::ParsePowerCurves(*curves_text, wind->curves);
    if (!curves.ok()) return context.Fail(curves.error());
    Result<energy::PowerCurve> curve = energy::FindPowerCurve(*curves, wind->turbine);
    if (!curve.ok()) return context.Fail(curve.error());
    Result<std::string> weather_text = ReadFile(wind->weather);
    if (!weather_text.ok()) return context.Fail(weather_text.error());
    Result<energy::WindWeather> weather =
        energy::ParseWindpowerlibWeather(*weather_text, wind->weather);
    if (!weather.ok()) return context.Fail(weather.error());
    Result<energy::WindYield> yield =
        energy::ComputeWindYield(*curve, *weather, wind->hub_height_m);
    if (!yield.ok()) return context.Fail(yield.error());
    if (wind->json) {
      std::cout << nlohmann::json{{"turbine", curve->turbine_type},
                                  {"rated_power_w", curve->RatedPowerW()},
                                  {"hub_height_m", wind->hub_height_m},
                                  {"measured_height_m", yield->measured_height_m},
                                  {"hours", yield->hours},
                                  {"mean_hub_speed_m_s", yield->mean_hub_speed_m_s},
                                  {"energy_kwh", yield->energy_kwh},
                                  {"capacity_factor", yield->capacity_factor}}
                       .dump(2)
                << "\n";
      return;
    }
    std::printf("turbine          %s (%.0f kW rated, cut-in %.1f m/s, cut-out %.1f m/s)\n",
                curve->turbine_type.c_str(), curve->RatedPowerW() / 1000, curve->CutInSpeedMs(),
                curve->CutOutSpeedMs());
    std::printf("hub height       %.0f m (wind measured at %.0f m, log profile)\n",
                wind->hub_height_m, yield->measured_height_m);
    std::printf("period           %.0f hours\n", yield->hours);
    std::printf("mean hub speed   %.2f m/s\n", yield->mean_hub_speed_m_s);
    std::printf("energy           %.1f MWh\n", yield->energy_kwh / 1000);
    std::printf("capacity factor  %.1f %%\n", yield->capacity_factor * 100);
  });

  struct PvOptions {
    std::string weather;
    double capacity_kw = 10, tilt_deg = 30, azimuth_deg = 180, utc_offset_hours = NAN;
    bool json = false;
    std::string series_csv;
  };
  auto pv = std::make_shared<PvOptions>();
  CLI::App* pv_cmd = energy_cmd->add_subcommand(
      "pv", "energy of a PV system from a weather file (irradiance, or cloud cover via clear sky)");
  pv_cmd->add_option("--weather", pv->weather, "Open-Meteo JSON, EPW, TMY3, PSM3 or PVGIS file")
      ->required();
  pv_cmd->add_option("--capacity-kw", pv->capacity_kw, "DC rating")->capture_default_str();
  pv_cmd->add_option("--tilt", pv->tilt_deg, "degrees from horizontal")->capture_default_str();
  pv_cmd->add_option("--azimuth", pv->azimuth_deg, "degrees clockwise from north")
      ->capture_default_str();
  pv_cmd->add_option("--utc-offset-hours", pv->utc_offset_hours,
                     "for PSM3 files without time-zone metadata");
  pv_cmd->add_flag("--json", pv->json, "print as JSON");
  pv_cmd->add_option("--series-csv", pv->series_csv,
                     "also write the power of every weather step as CSV (time,power_w)");
  pv_cmd->callback([&context, pv]() {
    Result<energy::WeatherSeries> weather =
        energy::ReadWeatherFile(pv->weather, pv->utc_offset_hours);
    if (!weather.ok()) return context.Fail(weather.error());
    energy::PvSystem system;
    system.latitude_deg = weather->latitude_deg;
    system.longitude_deg = weather->longitude_deg;
    system.tilt_deg = pv->tilt_deg;
    system.azimuth_deg = pv->azimuth_deg;
    system.capacity_w = pv->capacity_kw * 1000;
    const bool from_clouds = !weather->HasIrradiance();
    energy::SiteModel site;
    site.pv.push_back(system);
    const std::vector<double> power_w = energy::ModelPowerW(site, *weather);
    const size_t n = weather->size();
    const double step_h = n > 1 ? (weather->time_utc_s[1] - weather->time_utc_s[0]) / 3600.0 : 1;
    double energy_kwh = 0;
    for (double w : power_w) {
      if (!std::isnan(w)) energy_kwh += w * step_h / 1000;
    }
    if (!pv->series_csv.empty()) {
      std::string csv = "time,power_w\n";
      for (size_t i = 0; i < n; ++i) {
        if (std::isnan(power_w[i])) continue;  // no weather for that step: no value
        char watts[32];
        std::snprintf(watts, sizeof watts, ",%.1f\n", power_w[i]);
        csv += FormatUtcSeconds(weather->time_utc_s[i]) + watts;
      }
      if (Status written = WriteFileAtomic(pv->series_csv, csv); !written.ok())
        return context.Fail(written.message());
    }
    const double hours = n * step_h;
    const double capacity_factor = energy_kwh / (pv->capacity_kw * hours);
    if (pv->json) {
      std::cout << nlohmann::json{{"weather", pv->weather},
                                  {"latitude_deg", system.latitude_deg},
                                  {"longitude_deg", system.longitude_deg},
                                  {"irradiance_from", from_clouds ? "cloud cover" : "the file"},
                                  {"hours", hours},
                                  {"energy_kwh", energy_kwh},
                                  {"capacity_factor", capacity_factor}}
                       .dump(2)
                << "\n";
      return;
    }
    std::printf("site             %.3f, %.3f\n", system.latitude_deg, system.longitude_deg);
    std::printf("system           %.1f kW, tilt %.0f, azimuth %.0f\n", pv->capacity_kw,
                pv->tilt_deg, pv->azimuth_deg);
    std::printf("irradiance from  %s\n",
                from_clouds ? "cloud cover (Haurwitz clear sky, Kasten-Czeplak)" : "the file");
    std::printf("period           %.0f hours\n", hours);
    std::printf("energy           %.0f kWh (%.0f kWh/kWp)\n", energy_kwh,
                energy_kwh / pv->capacity_kw);
    std::printf("capacity factor  %.1f %%\n", capacity_factor * 100);
  });
}

}  // namespace greenshift::cli
