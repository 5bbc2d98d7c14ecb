#include "energy/solar.h"

#include <algorithm>
#include <cmath>
#include <ctime>

namespace greenshift::energy {

namespace {

constexpr double kPi = 3.14159265358979323846;
double Rad(double deg) {
  return deg * kPi / 180.0;
}
double Deg(double rad) {
  return rad * 180.0 / kPi;
}

}  // namespace

SunPosition SolarPosition(int64_t time_utc_s, double latitude_deg, double longitude_deg) {
  const int64_t days = time_utc_s >= 0 ? time_utc_s / 86400 : (time_utc_s - 86399) / 86400;
  const double hour_utc = static_cast<double>(time_utc_s - days * 86400) / 3600.0;
  // Day of the year from the civil date.
  const time_t t = static_cast<time_t>(time_utc_s);
  std::tm parts{};
  gmtime_r(&t, &parts);
  const int day_of_year = parts.tm_yday + 1;
  const int year = parts.tm_year + 1900;
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  const double gamma = 2 * kPi / (leap ? 366 : 365) * (day_of_year - 1 + (hour_utc - 12) / 24);
  const double equation_of_time_min =
      229.18 * (0.000075 + 0.001868 * std::cos(gamma) - 0.032077 * std::sin(gamma) -
                0.014615 * std::cos(2 * gamma) - 0.040849 * std::sin(2 * gamma));
  const double declination = 0.006918 - 0.399912 * std::cos(gamma) + 0.070257 * std::sin(gamma) -
                             0.006758 * std::cos(2 * gamma) + 0.000907 * std::sin(2 * gamma) -
                             0.002697 * std::cos(3 * gamma) + 0.00148 * std::sin(3 * gamma);
  const double true_solar_min = hour_utc * 60 + equation_of_time_min + 4 * longitude_deg;
  const double hour_angle = Rad(true_solar_min / 4 - 180);
  const double lat = Rad(latitude_deg);
  const double cos_zenith =
      std::clamp(std::sin(lat) * std::sin(declination) +
                     std::cos(lat) * std::cos(declination) * std::cos(hour_angle),
                 -1.0, 1.0);
  SunPosition sun;
  sun.zenith_deg = Deg(std::acos(cos_zenith));
  const double azimuth =
      Deg(std::atan2(std::sin(hour_angle),
                     std::cos(hour_angle) * std::sin(lat) - std::tan(declination) * std::cos(lat)));
  sun.azimuth_deg = std::fmod(azimuth + 180.0 + 360.0, 360.0);
  return sun;
}

double PlaneOfArrayW(const PvSystem& system, const SunPosition& sun, const Irradiance& irr) {
  if (sun.zenith_deg >= 90)
    return std::max(0.0, irr.dhi_w_m2 * (1 + std::cos(Rad(system.tilt_deg))) / 2);
  const double tilt = Rad(system.tilt_deg);
  const double zenith = Rad(sun.zenith_deg);
  const double cos_incidence =
      std::cos(zenith) * std::cos(tilt) +
      std::sin(zenith) * std::sin(tilt) * std::cos(Rad(sun.azimuth_deg - system.azimuth_deg));
  const double beam = irr.dni_w_m2 * std::max(0.0, cos_incidence);
  const double sky = irr.dhi_w_m2 * (1 + std::cos(tilt)) / 2;
  const double ground = irr.ghi_w_m2 * system.albedo * (1 - std::cos(tilt)) / 2;
  return std::max(0.0, beam + sky + ground);
}

double PvAcPowerW(const PvSystem& system, double poa, double air_c) {
  if (!(poa > 0)) return 0;
  const double cell_c = air_c + system.cell_heating_c_per_w_m2 * poa;
  double power = system.capacity_w * poa / 1000.0 *
                 (1 + system.temperature_coefficient * (cell_c - 25)) * system.derate;
  power = std::max(0.0, power);
  if (system.inverter_limit_w > 0) power = std::min(power, system.inverter_limit_w);
  return power;
}

Irradiance FromClearSkyIndex(double ghi, const Irradiance& clear) {
  Irradiance irr;
  irr.ghi_w_m2 = std::max(0.0, ghi);
  if (!(clear.ghi_w_m2 > 1)) return irr;  // night or dawn: nothing to scale
  // Clouds cut the beam first: beam scales with the index squared, diffuse takes the rest.
  const double index = std::clamp(ghi / clear.ghi_w_m2, 0.0, 1.2);
  irr.dni_w_m2 = clear.dni_w_m2 * index * index;
  const double beam_horizontal = clear.ghi_w_m2 - clear.dhi_w_m2;  // of the clear sky
  irr.dhi_w_m2 = std::max(0.0, irr.ghi_w_m2 - beam_horizontal * index * index);
  return irr;
}

double ClearSkyGhiHaurwitz(double zenith_deg) {
  if (!(zenith_deg < 90)) return 0;
  const double cos_z = std::cos(Rad(zenith_deg));
  return 1098.0 * cos_z * std::exp(-0.057 / cos_z);
}

double GhiFromCloudCover(double clear_sky_ghi, double cloud_cover) {
  const double c = std::clamp(std::isnan(cloud_cover) ? 0.0 : cloud_cover, 0.0, 1.0);
  return std::max(0.0, clear_sky_ghi) * (1 - 0.75 * std::pow(c, 3.4));
}

Irradiance ErbsDecomposition(double ghi, double zenith_deg, int64_t time_utc_s) {
  Irradiance irr;
  irr.ghi_w_m2 = std::max(0.0, ghi);
  if (!(zenith_deg < 87) || irr.ghi_w_m2 <= 0) {
    irr.dhi_w_m2 = irr.ghi_w_m2;
    return irr;
  }
  const double cos_z = std::cos(Rad(zenith_deg));
  const double day = static_cast<double>((time_utc_s / 86400) % 365);
  const double extraterrestrial = 1367.0 * (1 + 0.033 * std::cos(2 * kPi * day / 365.0));
  const double kt = std::clamp(irr.ghi_w_m2 / (extraterrestrial * cos_z), 0.0, 1.0);
  double diffuse_fraction;
  if (kt <= 0.22) {
    diffuse_fraction = 1 - 0.09 * kt;
  } else if (kt <= 0.8) {
    diffuse_fraction = 0.9511 - 0.1604 * kt + 4.388 * kt * kt - 16.638 * std::pow(kt, 3) +
                       12.336 * std::pow(kt, 4);
  } else {
    diffuse_fraction = 0.165;
  }
  irr.dhi_w_m2 = irr.ghi_w_m2 * diffuse_fraction;
  irr.dni_w_m2 = (irr.ghi_w_m2 - irr.dhi_w_m2) / cos_z;
  return irr;
}

double TalkFormulaW(double scale, double ghi, double wind, double air_c) {
  return std::max(0.0, scale * std::max(0.0, ghi) * wind * air_c);
}

Result<double> FitTalkFormula(const std::vector<double>& ghi, const std::vector<double>& wind,
                              const std::vector<double>& air_c,
                              const std::vector<double>& measured) {
  if (ghi.size() != air_c.size() || ghi.size() != measured.size() ||
      (!wind.empty() && wind.size() != ghi.size())) {
    return Status::Error("talk formula fit: series of different lengths");
  }
  double xy = 0, xx = 0;
  for (size_t i = 0; i < ghi.size(); ++i) {
    const double x = std::max(0.0, ghi[i]) * (wind.empty() ? 1.0 : wind[i]) * air_c[i];
    if (!std::isfinite(x) || !std::isfinite(measured[i])) continue;
    xy += x * measured[i];
    xx += x * x;
  }
  if (xx <= 0) return Status::Error("talk formula fit: no sunlit samples");
  return xy / xx;
}

double EquatorAzimuthDeg(double latitude_deg) {
  return latitude_deg < 0 ? 0 : 180;
}

bool PvFacesThePole(double azimuth_deg, double latitude_deg) {
  if (latitude_deg == 0) return false;
  const double off = std::fmod(std::fabs(azimuth_deg - EquatorAzimuthDeg(latitude_deg)), 360.0);
  return std::min(off, 360 - off) > 90;
}

}  // namespace greenshift::energy
