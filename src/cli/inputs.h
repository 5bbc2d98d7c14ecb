// Reading the input files subcommands share: weather in any format greenshift parses, the site's
// installations from command-line options, measured power through the sensor validator.
#pragma once

#include <cmath>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "core/status.h"
#include "energy/forecast.h"
#include "energy/sensor.h"
#include "energy/weather.h"

namespace greenshift::cli {

// A site's installations, as options: --pv-kw, --tilt, --azimuth, --inverter-kw, --turbine,
// --turbines, --hub-height, --roughness, --curves, --lat, --lon.
struct SiteOptions {
  std::string name = "site";
  double latitude_deg = NAN, longitude_deg = NAN;
  // azimuth NaN: towards the equator (energy::EquatorAzimuthDeg of the site's latitude)
  double pv_kw = 0, tilt_deg = 30, azimuth_deg = NAN, inverter_kw = 0;
  std::string turbine, curves;
  int turbines = 1;
  double hub_height_m = 100, roughness_m = 0.1;
};
void AddSiteOptions(CLI::App* command, const std::shared_ptr<SiteOptions>& options);

// The site the options describe, located where the weather is unless --lat/--lon say otherwise.
Result<energy::SiteModel> BuildSite(const SiteOptions& options,
                                    const energy::WeatherSeries& weather);

// Measured power (W) from column `column` of a time-series CSV, every row through the sensor
// validator (`capacity_w` bounds it); `rejected` receives the validator's counts.
struct MeasuredPower {
  energy::PowerSeries series;
  int64_t accepted = 0, rejected = 0;
  int64_t missing = 0;  // gaps in the file: rows without a value (not rejections)
  std::string first_rejection;
};
// `clock_tz`: empty when the file's times carry their UTC offsets; else the IANA zone whose
// local clock they are (any offset written beside them ignored).
Result<MeasuredPower> ReadMeasuredPower(const std::string& path, const std::string& column,
                                        const std::string& site, double capacity_w,
                                        const std::string& clock_tz = "");

}  // namespace greenshift::cli
