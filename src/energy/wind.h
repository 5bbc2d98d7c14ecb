// Wind power: real turbine power curves, wind speed at hub height, and the energy a turbine
// yields from measured weather. Parsers turn files into values here, at the edge, with units
// converted once (temperatures to °C); the model functions are pure.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace greenshift::energy {

// A turbine's power curve: electrical power at wind speeds (m/s), as the manufacturer gives it.
// Between two points the power is interpolated linearly; below the first point and above the
// last one (the cut-out speed) the turbine produces nothing.
struct PowerCurve {
  std::string turbine_type;
  std::vector<double> speed_m_s;  // strictly increasing
  std::vector<double> power_w;
  double RatedPowerW() const;    // the highest power on the curve
  double CutInSpeedMs() const;   // the lowest speed at which it produces power
  double CutOutSpeedMs() const;  // the last speed on the curve; above it: 0 W
};

// Power at `speed_m_s` (0 for speeds off the curve, NaN or negative input).
double PowerAtW(const PowerCurve& curve, double speed_m_s);

// Parses power_curves.csv (the Open Energy Database layout windpowerlib ships): a header row
// `turbine_type,<speed>,<speed>,...` and one row per turbine; empty cells are speeds the curve
// does not list. `file` names the source in errors.
Result<std::vector<PowerCurve>> ParsePowerCurves(std::string_view text, const std::string& file);

// The curve of `turbine_type`, or an error naming it and some that exist.
Result<PowerCurve> FindPowerCurve(const std::vector<PowerCurve>& curves,
                                  const std::string& turbine_type);

// Weather from the windpowerlib CSV layout: a header row of variable names, a second row of
// measurement heights (m), then one row per time step with an ISO time and UTC offset.
struct WindWeather {
  std::vector<int64_t> time_utc_s;  // seconds since the epoch, UTC
  // Series by (variable, height in m). Wind speed in m/s, pressure in Pa, temperature in °C
  // (converted from the file's kelvin), roughness length in m.
  std::map<std::pair<std::string, double>, std::vector<double>> series;
  // The heights at which `variable` was measured, ascending.
  std::vector<double> HeightsOf(const std::string& variable) const;
};

Result<WindWeather> ParseWindpowerlibWeather(std::string_view text, const std::string& file);

// Wind speed at `hub_height_m` from a speed measured at `measured_height_m`, by the
// logarithmic wind profile over terrain of roughness length `roughness_m`.
double HubHeightSpeedMs(double speed_m_s, double measured_height_m, double hub_height_m,
                        double roughness_m);

struct WindYield {
  double energy_kwh = 0;
  double capacity_factor = 0;  // energy / (rated power x hours)
  double hours = 0;
  double mean_hub_speed_m_s = 0;
  double measured_height_m = 0;  // the measurement height used (the one nearest the hub)
  std::vector<double> power_w;   // per time step
};

// The energy `curve` yields at `hub_height_m` over the weather's time span. Uses the wind speed
// measured nearest the hub height, carried to the hub by the logarithmic profile with the file's
// roughness length. Errors when the weather lacks wind speed or roughness, or steps irregularly.
Result<WindYield> ComputeWindYield(const PowerCurve& curve, const WindWeather& weather,
                                   double hub_height_m);

}  // namespace greenshift::energy
