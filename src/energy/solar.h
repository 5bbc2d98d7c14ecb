// Photovoltaic power: where the sun is, how much of it reaches a tilted array, and the AC power
// the array makes of it. Pure functions. Angles in degrees at the interfaces.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace greenshift::energy {

struct SunPosition {
  double zenith_deg = 90;  // 0 = overhead, above 90 = below the horizon
  double azimuth_deg = 0;  // clockwise from north
};

// The sun seen from latitude/longitude (degrees, east positive) at `time_utc_s`: NOAA's
// general solar position equations (about 0.5 degree accurate, enough for hourly energy).
SunPosition SolarPosition(int64_t time_utc_s, double latitude_deg, double longitude_deg);

struct PvSystem {
  double latitude_deg = 0, longitude_deg = 0;
  double tilt_deg = 0, azimuth_deg = 180;   // array orientation; azimuth clockwise from north
  double capacity_w = 0;                    // DC rating at 1000 W/m² and 25 °C
  double inverter_limit_w = 0;              // AC clipping (0 = none)
  double temperature_coefficient = -0.004;  // per °C of cell temperature above 25 °C
  double cell_heating_c_per_w_m2 = 0.03;    // cell temperature = air + this x irradiance
  double albedo = 0.2;
  double derate = 0.86;  // everything else: wiring, soiling, inverter efficiency, mismatch
};

// The azimuth an array should face at `latitude_deg`: the equator's, south (180) in the northern
// hemisphere, north (0) in the southern.
double EquatorAzimuthDeg(double latitude_deg);
// Whether an array at `azimuth_deg` faces the pole rather than the equator (more than 90 degrees
// from the equator's azimuth): allowed, but usually a mistaken hemisphere. Never on the equator.
bool PvFacesThePole(double azimuth_deg, double latitude_deg);

struct Irradiance {
  double ghi_w_m2 = 0;  // global horizontal
  double dni_w_m2 = 0;  // direct normal
  double dhi_w_m2 = 0;  // diffuse horizontal
};

// Irradiance on the tilted array: beam by the angle of incidence, isotropic sky diffuse, ground
// reflection.
double PlaneOfArrayW(const PvSystem& system, const SunPosition& sun, const Irradiance& irradiance);

// AC power from plane-of-array irradiance and air temperature.
double PvAcPowerW(const PvSystem& system, double poa_w_m2, double air_temperature_c);

// When a source gives only GHI: take the clear-sky irradiance components (from the same source
// or a clear-sky model) and scale them by the clear-sky index GHI / GHI_clear.
Irradiance FromClearSkyIndex(double ghi_w_m2, const Irradiance& clear_sky);

// Clear-sky global horizontal irradiance by the Haurwitz model (W/m², 0 with the sun down).
double ClearSkyGhiHaurwitz(double zenith_deg);

// GHI under a cloud cover fraction (0..1), by Kasten and Czeplak: clear x (1 - 0.75 c^3.4).
double GhiFromCloudCover(double clear_sky_ghi_w_m2, double cloud_cover);

// Splits GHI into beam and diffuse by the Erbs correlation of the clearness index.
Irradiance ErbsDecomposition(double ghi_w_m2, double zenith_deg, int64_t time_utc_s);

// The talk's formula, "sunlight x wind x temperature = energy", as a baseline: power = scale x
// GHI x wind speed x air temperature (°C). Where a source has no wind, wind speed counts as 1.
double TalkFormulaW(double scale, double ghi_w_m2, double wind_m_s, double air_temperature_c);

// Least-squares scale of the talk's formula on measured power.
Result<double> FitTalkFormula(const std::vector<double>& ghi_w_m2, const std::vector<double>& wind,
                              const std::vector<double>& air_temperature_c,
                              const std::vector<double>& measured_w);

}  // namespace greenshift::energy
