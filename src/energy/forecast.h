// Predicted green power per site: the site's installations (PV arrays, wind turbines) run through
// their physical models on a weather series, averaged into fixed slots, corrected by what the
// site's sensors measured just before, and calibrated from the site's history. Also the
// baselines (the talk's formula, persistence) and the accuracy metrics that compare them.
// Pure functions on values; files are read at the edge (parsers, the CLI).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "energy/csv.h"
#include "energy/solar.h"
#include "energy/weather.h"
#include "energy/wind.h"

namespace greenshift::energy {

struct WindInstallation {
  PowerCurve curve;
  double hub_height_m = 100;
  double roughness_m = 0.1;  // terrain roughness length for the log wind profile
  int count = 1;             // turbines of this type
};

struct SiteModel {
  std::string name;
  std::vector<PvSystem> pv;
  std::vector<WindInstallation> wind;
  // Most green power the site can make: PV at its inverter limit (or DC rating), wind at rated.
  double CapacityW() const;
};

// Green power (W) the site makes under each step of `weather`, one value per weather row. PV
// sees the sun at the middle of the step; irradiance comes from GHI (split into beam and diffuse
// by the clear-sky index when the source gives clear-sky components, by Erbs otherwise), or from
// cloud cover through the Haurwitz clear sky when the source has no irradiance; air temperature
// defaults to 20 °C where missing. Wind: the 10 m speed carried to hub height. A row whose
// weather is missing (NaN) gives NaN.
std::vector<double> ModelPowerW(const SiteModel& site, const WeatherSeries& weather);

// The same weather under a clear sky: no clouds, and no measured irradiance (the model takes the
// clear-sky irradiance instead); temperature and wind stay. PV modelled on it is the most the
// array makes at each time, the reference a clear-sky index is taken against.
WeatherSeries ClearSkyWeather(const WeatherSeries& weather);

// A power series with irregular or regular timestamps (measured production, model output).
struct PowerSeries {
  std::vector<int64_t> time_utc_s;  // the start of each step, increasing
  std::vector<double> power_w;
  int64_t step_s = 0;  // the length each value stands for
};

// The site's model output (ModelPowerW) on the weather's times, each value standing for the
// weather's typical step.
PowerSeries ModelSeries(const SiteModel& site, const WeatherSeries& weather);

// A measured column of a time-series CSV (in W) as a power series; each value stands for the
// table's typical spacing.
Result<PowerSeries> PowerSeriesFromTable(const TimeSeriesTable& table, const std::string& column);

// Averages `series` into `slots` slots of `step_s` starting at `start_utc_s`, weighting each
// value by how much of its step overlaps the slot. A slot that no value covers at least half of
// is NaN.
std::vector<double> AverageIntoSlots(const PowerSeries& series, int64_t start_utc_s, int64_t step_s,
                                     size_t slots);

struct ForecastOptions {
  int64_t step_s = 3600;
  size_t slots = 48;
  // Sensor correction: the ratio measured / modelled over this window before the start...
  int64_t correction_window_s = 3 * 3600;
  // ...applied in full to the first slot and fading to none with this time constant.
  double correction_decay_s = 4 * 3600;
};

struct SiteForecast {
  std::string site;
  int64_t start_utc_s = 0;
  int64_t step_s = 0;
  std::vector<double> model_w;  // the physical model on the weather forecast
  std::vector<double> green_w;  // after the sensor correction: the forecast
  double sensor_ratio = 1;      // measured / modelled before the start (1: no correction)
  size_t sensor_slots = 0;      // lit slots the ratio was taken over (0: none, e.g. at night)
};

// The forecast for the `options.slots` slots from `start_utc_s`. `recent` holds the site's
// sensor readings (may be empty, then no correction); only readings before the start are used.
// Errors when the weather does not cover every slot.
Result<SiteForecast> ForecastSite(const SiteModel& site, const WeatherSeries& weather,
                                  const PowerSeries& recent, int64_t start_utc_s,
                                  const ForecastOptions& options);

// Calibration from history: one scale of all PV derates, fitted by least squares so the model
// matches `measured` over the weather's span (lit, unclipped slots; wind's share subtracted
// first). Returns the calibrated site and the scale. Errors when too little overlaps.
struct Calibration {
  SiteModel site;
  double pv_scale = 1;
  size_t samples = 0;
};
Result<Calibration> CalibrateSite(const SiteModel& site, const WeatherSeries& weather,
                                  const PowerSeries& measured);

// Accuracy of a predicted series against a measured one (slots where both are known), normalized
// by `capacity_w`.
struct Accuracy {
  double nmae = 0;   // mean absolute error / capacity
  double nbias = 0;  // mean error / capacity (positive: over-predicts)
  double nrmse = 0;
  size_t slots = 0;
};
Accuracy Score(const std::vector<double>& predicted, const std::vector<double>& measured,
               double capacity_w);

// Compares the forecast methods on weather + measured production: the model is calibrated on
// the first `train_days`, then from the day after, a forecast is issued every `issue_every_s`
// for `horizon_slots` slots and every method is scored on the same slots.
struct EvaluationOptions {
  int64_t train_days = 28;
  int64_t step_s = 3600;
  size_t horizon_slots = 48;
  int64_t issue_every_s = 86400;
  ForecastOptions forecast;  // its step and slots are taken from here
};
struct MethodAccuracy {
  std::string method;
  std::string description;
  Accuracy accuracy;
};
struct Evaluation {
  int64_t train_start_utc_s = 0, test_start_utc_s = 0, test_end_utc_s = 0;
  size_t issues = 0;
  double capacity_w = 0;
  double pv_scale = 1, talk_scale = 0;
  std::vector<MethodAccuracy> methods;  // calibrated model first
};
Result<Evaluation> EvaluateForecasts(const SiteModel& site, const WeatherSeries& weather,
                                     const PowerSeries& measured, const EvaluationOptions& options);

}  // namespace greenshift::energy
