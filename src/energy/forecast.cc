#include "energy/forecast.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/clock.h"
#include "energy/csv.h"

namespace greenshift::energy {

namespace {

// The typical spacing of a series: the most common difference between neighbouring times.
int64_t TypicalStep(const std::vector<int64_t>& times) {
  if (times.size() < 2) return 3600;
  std::vector<int64_t> steps;
  steps.reserve(times.size() - 1);
  for (size_t i = 1; i < times.size(); ++i) steps.push_back(times[i] - times[i - 1]);
  std::nth_element(steps.begin(), steps.begin() + steps.size() / 2, steps.end());
  return std::max<int64_t>(1, steps[steps.size() / 2]);
}

// Global horizontal irradiance of weather row `i` for the sun `sun`: the source's, or from its
// cloud cover under the Haurwitz clear sky. NaN when the source has neither.
double EffectiveGhi(const WeatherSeries& weather, size_t i, const SunPosition& sun) {
  const double ghi = weather.ghi_w_m2[i];
  if (!std::isnan(ghi)) return ghi;
  if (std::isnan(weather.cloud_cover[i])) return kNaN;
  return GhiFromCloudCover(ClearSkyGhiHaurwitz(sun.zenith_deg), weather.cloud_cover[i]);
}

double PvPowerW(const PvSystem& system, const WeatherSeries& weather, size_t i, int64_t mid_s) {
  const SunPosition sun = SolarPosition(mid_s, system.latitude_deg, system.longitude_deg);
  const double ghi = EffectiveGhi(weather, i, sun);
  if (std::isnan(ghi)) return kNaN;
  Irradiance irradiance{ghi, weather.dni_w_m2[i], weather.dhi_w_m2[i]};
  if (std::isnan(irradiance.dni_w_m2) || std::isnan(irradiance.dhi_w_m2)) {
    const bool has_clear =
        !weather.ghi_clear_w_m2.empty() && !std::isnan(weather.ghi_clear_w_m2[i]) &&
        !std::isnan(weather.dni_clear_w_m2[i]) && !std::isnan(weather.dhi_clear_w_m2[i]);
    irradiance = has_clear
                     ? FromClearSkyIndex(ghi, {weather.ghi_clear_w_m2[i], weather.dni_clear_w_m2[i],
                                               weather.dhi_clear_w_m2[i]})
                     : ErbsDecomposition(ghi, sun.zenith_deg, mid_s);
  }
  const double air = std::isnan(weather.air_temperature_c[i]) ? 20 : weather.air_temperature_c[i];
  return PvAcPowerW(system, PlaneOfArrayW(system, sun, irradiance), air);
}

double WindPowerW(const WindInstallation& wind, double speed_10m) {
  if (std::isnan(speed_10m)) return kNaN;
  const double hub = HubHeightSpeedMs(speed_10m, 10, wind.hub_height_m, wind.roughness_m);
  return wind.count * PowerAtW(wind.curve, hub);
}

std::string Utc(int64_t t) {
  return FormatUtcMinutes(t);
}

double PvLimitW(const SiteModel& site) {
  double limit = 0;
  for (const PvSystem& pv : site.pv) {
    limit += pv.inverter_limit_w > 0 ? std::min(pv.inverter_limit_w, pv.capacity_w) : pv.capacity_w;
  }
  return limit;
}

}  // namespace

PowerSeries ModelSeries(const SiteModel& site, const WeatherSeries& weather) {
  PowerSeries series;
  series.time_utc_s = weather.time_utc_s;
  series.power_w = ModelPowerW(site, weather);
  series.step_s = TypicalStep(weather.time_utc_s);
  return series;
}

double SiteModel::CapacityW() const {
  double capacity = PvLimitW(*this);
  for (const WindInstallation& w : wind) capacity += w.count * w.curve.RatedPowerW();
  return capacity;
}

std::vector<double> ModelPowerW(const SiteModel& site, const WeatherSeries& weather) {
  const size_t n = weather.size();
  std::vector<double> power(n, 0.0);
  const int64_t typical = TypicalStep(weather.time_utc_s);
  for (size_t i = 0; i < n; ++i) {
    const int64_t step = i + 1 < n ? weather.time_utc_s[i + 1] - weather.time_utc_s[i] : typical;
    const int64_t mid = weather.time_utc_s[i] + std::min(step, typical) / 2;
    for (const PvSystem& pv : site.pv) power[i] += PvPowerW(pv, weather, i, mid);
    for (const WindInstallation& wind : site.wind)
      power[i] += WindPowerW(wind, weather.wind_speed_m_s[i]);
  }
  return power;
}

Result<PowerSeries> PowerSeriesFromTable(const TimeSeriesTable& table, const std::string& column) {
  Result<const std::vector<double>*> values = table.Column(column);
  if (!values.ok()) return values.status();
  PowerSeries series;
  series.time_utc_s = table.time_utc_s;
  series.power_w = **values;
  series.step_s = TypicalStep(table.time_utc_s);
  return series;
}

std::vector<double> AverageIntoSlots(const PowerSeries& series, int64_t start_utc_s, int64_t step_s,
                                     size_t slots) {
  std::vector<double> out(slots, kNaN);
  const size_t n = series.time_utc_s.size();
  if (n == 0 || step_s <= 0) return out;
  const int64_t value_step = series.step_s > 0 ? series.step_s : TypicalStep(series.time_utc_s);
  // Each value covers [t, t + value_step), cut short by the next value.
  auto end_of = [&](size_t j) {
    const int64_t end = series.time_utc_s[j] + value_step;
    return j + 1 < n ? std::min(end, series.time_utc_s[j + 1]) : end;
  };
  // First value that could overlap the first slot.
  size_t j = std::lower_bound(series.time_utc_s.begin(), series.time_utc_s.end(),
                              start_utc_s - value_step) -
             series.time_utc_s.begin();
  for (size_t s = 0; s < slots; ++s) {
    const int64_t a = start_utc_s + static_cast<int64_t>(s) * step_s, b = a + step_s;
    while (j < n && end_of(j) <= a) ++j;
    double weighted = 0;
    int64_t covered = 0;
    for (size_t k = j; k < n && series.time_utc_s[k] < b; ++k) {
      if (std::isnan(series.power_w[k])) continue;
      const int64_t overlap = std::min(b, end_of(k)) - std::max(a, series.time_utc_s[k]);
      if (overlap <= 0) continue;
      weighted += series.power_w[k] * static_cast<double>(overlap);
      covered += overlap;
    }
    if (covered * 2 >= step_s) out[s] = weighted / static_cast<double>(covered);
  }
  return out;
}

namespace {

// ForecastSite on the site's model output `model` (ModelSeries of the site on the weather), so a
// caller forecasting many times from the same weather runs the models once.
Result<SiteForecast> ForecastFromModel(const SiteModel& site, const WeatherSeries& weather,
                                       const PowerSeries& model, const PowerSeries& recent,
                                       int64_t start_utc_s, const ForecastOptions& options) {
  if (options.step_s <= 0 || options.slots == 0) {
    return Status::Error("forecast for site '" + site.name + "': step and slots must be positive");
  }
  if (site.pv.empty() && site.wind.empty()) {
    return Status::Error("forecast for site '" + site.name + "': the site has no PV or wind");
  }
  SiteForecast forecast;
  forecast.site = site.name;
  forecast.start_utc_s = start_utc_s;
  forecast.step_s = options.step_s;
  forecast.model_w = AverageIntoSlots(model, start_utc_s, options.step_s, options.slots);
  for (size_t s = 0; s < options.slots; ++s) {
    if (std::isnan(forecast.model_w[s])) {
      return Status::Error("forecast for site '" + site.name + "': the weather (" + weather.source +
                           ") does not cover the slot at " +
                           Utc(start_utc_s + static_cast<int64_t>(s) * options.step_s));
    }
  }
  // Sensor correction: how far off the model was over the last few lit slots before the start.
  const size_t window = static_cast<size_t>(options.correction_window_s / options.step_s);
  const int64_t window_start = start_utc_s - static_cast<int64_t>(window) * options.step_s;
  PowerSeries before;
  for (size_t i = 0; i < recent.time_utc_s.size() && recent.time_utc_s[i] < start_utc_s; ++i) {
    before.time_utc_s.push_back(recent.time_utc_s[i]);
    before.power_w.push_back(recent.power_w[i]);
  }
  before.step_s = recent.step_s;
  const std::vector<double> model_window =
      AverageIntoSlots(model, window_start, options.step_s, window);
  const std::vector<double> measured_window =
      AverageIntoSlots(before, window_start, options.step_s, window);
  const double lit = 0.05 * site.CapacityW();
  double sum_measured = 0, sum_model = 0;
  for (size_t s = 0; s < window; ++s) {
    if (std::isnan(model_window[s]) || std::isnan(measured_window[s]) || model_window[s] < lit)
      continue;
    sum_measured += std::max(0.0, measured_window[s]);
    sum_model += model_window[s];
    ++forecast.sensor_slots;
  }
  if (forecast.sensor_slots > 0)
    forecast.sensor_ratio = std::clamp(sum_measured / sum_model, 0.0, 2.0);
  const double capacity = site.CapacityW();
  forecast.green_w.resize(options.slots);
  for (size_t s = 0; s < options.slots; ++s) {
    const double lead_s = static_cast<double>(s) * static_cast<double>(options.step_s);
    const double factor =
        1 + (forecast.sensor_ratio - 1) * std::exp(-lead_s / options.correction_decay_s);
    forecast.green_w[s] = std::clamp(forecast.model_w[s] * factor, 0.0, capacity);
  }
  return forecast;
}

}  // namespace

WeatherSeries ClearSkyWeather(const WeatherSeries& weather) {
  WeatherSeries clear = weather;
  std::fill(clear.cloud_cover.begin(), clear.cloud_cover.end(), 0.0);
  std::fill(clear.ghi_w_m2.begin(), clear.ghi_w_m2.end(), NAN);
  return clear;
}

Result<SiteForecast> ForecastSite(const SiteModel& site, const WeatherSeries& weather,
                                  const PowerSeries& recent, int64_t start_utc_s,
                                  const ForecastOptions& options) {
  return ForecastFromModel(site, weather, ModelSeries(site, weather), recent, start_utc_s, options);
}

Result<Calibration> CalibrateSite(const SiteModel& site, const WeatherSeries& weather,
                                  const PowerSeries& measured) {
  if (site.pv.empty()) {
    return Status::Error("calibrating site '" + site.name + "': it has no PV to calibrate");
  }
  if (weather.size() < 2 || measured.time_utc_s.empty()) {
    return Status::Error("calibrating site '" + site.name + "': no weather or no measurements");
  }
  SiteModel pv_only = site, wind_only = site;
  pv_only.wind.clear();
  wind_only.pv.clear();
  const int64_t step = TypicalStep(weather.time_utc_s);
  const int64_t start = std::max(weather.time_utc_s.front(), measured.time_utc_s.front());
  const int64_t end = std::min(weather.time_utc_s.back() + step,
                               measured.time_utc_s.back() + std::max<int64_t>(measured.step_s, 1));
  if (end - start < step) {
    return Status::Error("calibrating site '" + site.name +
                         "': the weather and the measurements do not overlap");
  }
  const size_t slots = static_cast<size_t>((end - start) / step);
  const std::vector<double> pv =
      AverageIntoSlots(ModelSeries(pv_only, weather), start, step, slots);
  std::vector<double> wind(slots, 0.0);
  if (!site.wind.empty())
    wind = AverageIntoSlots(ModelSeries(wind_only, weather), start, step, slots);
  const std::vector<double> meas = AverageIntoSlots(measured, start, step, slots);
  const double pv_limit = PvLimitW(site);
  double num = 0, den = 0;
  Calibration result;
  for (size_t s = 0; s < slots; ++s) {
    // Lit and below the inverter limit: there the model's scale is what the data says.
    if (std::isnan(pv[s]) || std::isnan(meas[s]) || std::isnan(wind[s])) continue;
    if (pv[s] < 0.02 * pv_limit || pv[s] > 0.95 * pv_limit) continue;
    num += pv[s] * (meas[s] - wind[s]);
    den += pv[s] * pv[s];
    ++result.samples;
  }
  if (result.samples < 12 || !(den > 0)) {
    return Status::Error("calibrating site '" + site.name + "': only " +
                         std::to_string(result.samples) +
                         " lit slots where weather and measurements overlap (need 12)");
  }
  result.pv_scale = num / den;
  if (!(result.pv_scale > 0.05 && result.pv_scale < 3)) {
    return Status::Error("calibrating site '" + site.name + "': the fitted PV scale " +
                         std::to_string(result.pv_scale) +
                         " is implausible: do the measurements belong to this site and unit (W)?");
  }
  result.site = site;
  for (PvSystem& system : result.site.pv) system.derate *= result.pv_scale;
  return result;
}

Accuracy Score(const std::vector<double>& predicted, const std::vector<double>& measured,
               double capacity_w) {
  Accuracy accuracy;
  double abs_sum = 0, sum = 0, square_sum = 0;
  for (size_t i = 0; i < std::min(predicted.size(), measured.size()); ++i) {
    if (std::isnan(predicted[i]) || std::isnan(measured[i])) continue;
    const double error = predicted[i] - measured[i];
    abs_sum += std::abs(error);
    sum += error;
    square_sum += error * error;
    ++accuracy.slots;
  }
  if (accuracy.slots == 0 || !(capacity_w > 0)) return accuracy;
  const double n = static_cast<double>(accuracy.slots);
  accuracy.nmae = abs_sum / n / capacity_w;
  accuracy.nbias = sum / n / capacity_w;
  accuracy.nrmse = std::sqrt(square_sum / n) / capacity_w;
  return accuracy;
}

Result<Evaluation> EvaluateForecasts(const SiteModel& site, const WeatherSeries& weather,
                                     const PowerSeries& measured,
                                     const EvaluationOptions& options) {
  const int64_t step = options.step_s;
  if (step <= 0 || options.horizon_slots == 0 || options.issue_every_s <= 0 ||
      options.train_days <= 0) {
    return Status::Error(
        "forecast evaluation: step, horizon, issue interval and training days "
        "must be positive");
  }
  if (weather.size() < 2 || measured.time_utc_s.empty()) {
    return Status::Error("forecast evaluation: no weather or no measurements");
  }
  Evaluation eval;
  eval.capacity_w = site.CapacityW();
  // Slot grid: from the first whole step both cover to the last.
  int64_t begin = std::max(weather.time_utc_s.front(), measured.time_utc_s.front());
  begin = (begin + step - 1) / step * step;
  const int64_t end = std::min(weather.time_utc_s.back(), measured.time_utc_s.back());
  eval.train_start_utc_s = begin;
  eval.test_start_utc_s = begin + options.train_days * 86400;
  const int64_t horizon_s = static_cast<int64_t>(options.horizon_slots) * step;
  if (eval.test_start_utc_s + horizon_s > end) {
    return Status::Error("forecast evaluation: the data (" + Utc(begin) + " to " + Utc(end) +
                         ") is shorter than " + std::to_string(options.train_days) +
                         " training days and one " + std::to_string(horizon_s / 3600) +
                         " h horizon");
  }
  const size_t grid = static_cast<size_t>((end - begin) / step);
  const std::vector<double> meas = AverageIntoSlots(measured, begin, step, grid);

  // Calibration and the talk's scale, on the training days only.
  PowerSeries train;
  train.step_s = measured.step_s;
  for (size_t i = 0; i < measured.time_utc_s.size(); ++i) {
    if (measured.time_utc_s[i] >= eval.test_start_utc_s) break;
    train.time_utc_s.push_back(measured.time_utc_s[i]);
    train.power_w.push_back(measured.power_w[i]);
  }
  Result<Calibration> calibration = CalibrateSite(site, weather, train);
  if (!calibration.ok()) return calibration.status().Context("forecast evaluation");
  eval.pv_scale = calibration->pv_scale;

  // The talk's inputs per slot: sunlight (GHI, or from cloud cover), wind, temperature.
  PowerSeries ghi_series, wind_series, temp_series;
  for (PowerSeries* s : {&ghi_series, &wind_series, &temp_series}) {
    s->time_utc_s = weather.time_utc_s;
    s->step_s = TypicalStep(weather.time_utc_s);
  }
  const double lat = site.pv.empty() ? weather.latitude_deg : site.pv.front().latitude_deg;
  const double lon = site.pv.empty() ? weather.longitude_deg : site.pv.front().longitude_deg;
  for (size_t i = 0; i < weather.size(); ++i) {
    const SunPosition sun = SolarPosition(weather.time_utc_s[i] + ghi_series.step_s / 2, lat, lon);
    ghi_series.power_w.push_back(EffectiveGhi(weather, i, sun));
    wind_series.power_w.push_back(
        std::isnan(weather.wind_speed_m_s[i]) ? 1.0 : weather.wind_speed_m_s[i]);
    temp_series.power_w.push_back(weather.air_temperature_c[i]);
  }
  const std::vector<double> ghi = AverageIntoSlots(ghi_series, begin, step, grid);
  const std::vector<double> wind = AverageIntoSlots(wind_series, begin, step, grid);
  const std::vector<double> temp = AverageIntoSlots(temp_series, begin, step, grid);
  std::vector<double> fit_ghi, fit_wind, fit_temp, fit_meas;
  const size_t test_slot = static_cast<size_t>((eval.test_start_utc_s - begin) / step);
  for (size_t s = 0; s < test_slot; ++s) {
    if (std::isnan(ghi[s]) || std::isnan(wind[s]) || std::isnan(temp[s]) || std::isnan(meas[s]))
      continue;
    fit_ghi.push_back(ghi[s]);
    fit_wind.push_back(wind[s]);
    fit_temp.push_back(temp[s]);
    fit_meas.push_back(meas[s]);
  }
  Result<double> talk_scale = FitTalkFormula(fit_ghi, fit_wind, fit_temp, fit_meas);
  if (!talk_scale.ok()) return talk_scale.status().Context("forecast evaluation");
  eval.talk_scale = *talk_scale;

  ForecastOptions forecast_options = options.forecast;
  forecast_options.step_s = step;
  forecast_options.slots = options.horizon_slots;
  // The models run once on the whole weather; every issued forecast reads its slots from them.
  const PowerSeries calibrated_model = ModelSeries(calibration->site, weather);
  const PowerSeries nominal_model = ModelSeries(site, weather);
  enum { kCorrected, kCalibrated, kUncalibrated, kTalk, kPersistence, kMethods };
  std::vector<std::vector<double>> predicted(kMethods);
  std::vector<double> actual;
  for (int64_t issue = eval.test_start_utc_s; issue + horizon_s <= end;
       issue += options.issue_every_s) {
    Result<SiteForecast> calibrated = ForecastFromModel(
        calibration->site, weather, calibrated_model, measured, issue, forecast_options);
    Result<SiteForecast> uncalibrated =
        ForecastFromModel(site, weather, nominal_model, {}, issue, forecast_options);
    if (!calibrated.ok()) return calibrated.status().Context("forecast evaluation");
    if (!uncalibrated.ok()) return uncalibrated.status().Context("forecast evaluation");
    ++eval.issues;
    eval.test_end_utc_s = issue + horizon_s;
    const size_t first = static_cast<size_t>((issue - begin) / step);
    for (size_t k = 0; k < options.horizon_slots; ++k) {
      const size_t slot = first + k;
      // Persistence: the same time of day on the last day measured before the issue.
      const int64_t lead_end_s = static_cast<int64_t>(k + 1) * step;
      const size_t days_back = static_cast<size_t>((lead_end_s + 86399) / 86400);
      const size_t back = days_back * static_cast<size_t>(86400 / step);
      if (slot >= grid || slot < back) continue;
      const double talk = TalkFormulaW(eval.talk_scale, ghi[slot], wind[slot], temp[slot]);
      const double values[kMethods] = {calibrated->green_w[k], calibrated->model_w[k],
                                       uncalibrated->model_w[k], talk, meas[slot - back]};
      bool all = !std::isnan(meas[slot]);
      for (double v : values) all = all && !std::isnan(v);
      if (!all) continue;  // every method is scored on the same slots
      for (int m = 0; m < kMethods; ++m) predicted[m].push_back(values[m]);
      actual.push_back(meas[slot]);
    }
  }
  if (actual.empty()) {
    return Status::Error("forecast evaluation: no slot of the test period has measurements");
  }
  const char* names[kMethods][2] = {
      {"calibrated+sensor", "physical model, calibrated, corrected by the last 3 h measured"},
      {"calibrated", "physical model, calibrated on the training days"},
      {"uncalibrated", "physical model with nominal parameters"},
      {"talk-formula", "the talk's sunlight x wind x temperature, scale fitted on training days"},
      {"persistence", "the same time on the last measured day"}};
  for (int m = 0; m < kMethods; ++m) {
    eval.methods.push_back(
        {names[m][0], names[m][1], Score(predicted[m], actual, eval.capacity_w)});
  }
  return eval;
}

}  // namespace greenshift::energy
