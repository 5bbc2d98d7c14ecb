// greenshift forecast: a site's green power for the next hours from a weather forecast, corrected
// by its sensors and calibrated on their history; and `forecast evaluate`, the accuracy of each
// forecast method on weather and measured production.
#include <cmath>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/chart.h"
#include "cli/context.h"
#include "cli/inputs.h"
#include "core/clock.h"
#include "core/files.h"
#include "energy/clock_check.h"
#include "energy/csv.h"
#include "energy/forecast.h"

namespace greenshift::cli {

namespace {

struct ForecastOptions {
  std::string weather, sensor, sensor_column = "ac_power", start, svg, tz;
  double utc_offset_hours = NAN;
  double hours = 48, step_minutes = 60, calibrate_days = 0;
  bool json = false, no_clock_check = false;
};

struct EvaluateOptions {
  std::string weather, measured, column = "ac_power", tz;
  double utc_offset_hours = NAN;
  double hours = 48, step_minutes = 60, issue_every_hours = 24, train_days = 28;
  bool json = false, no_clock_check = false;
};

// A measured file whose clock is an hour off for a stretch: refused with the evidence and the
// ways on.
std::string ClockShiftError(const std::string& file, const energy::ClockCheck& clock) {
  return file + ": " + clock.evidence +
         ". If the logger kept local time, read the file with --tz <its IANA zone> (the offsets "
         "written in it are then ignored); to use it as it is, --no-clock-check";
}

std::string FormatKw(double watts) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f kW", watts / 1000);
  return text;
}

Result<int64_t> StepSeconds(double minutes) {
  if (!(minutes >= 1 && minutes <= 1440) || minutes != std::floor(minutes))
    return Status::Error("--step-minutes must be a whole number in 1..1440");
  return static_cast<int64_t>(minutes) * 60;
}

Result<size_t> SlotCount(double hours, int64_t step_s) {
  if (!(hours > 0 && hours <= 24 * 14)) return Status::Error("--hours must be in (0, 336]");
  const size_t slots = static_cast<size_t>(std::llround(hours * 3600 / step_s));
  if (slots == 0) return Status::Error("--hours is shorter than one step");
  return slots;
}

void RunForecast(Context& context, const ForecastOptions& o, const SiteOptions& site_options) {
  if (o.weather.empty()) return context.Fail("forecast needs --weather FILE");
  Result<int64_t> step = StepSeconds(o.step_minutes);
  if (!step.ok()) return context.Fail(step.error());
  Result<size_t> slots = SlotCount(o.hours, *step);
  if (!slots.ok()) return context.Fail(slots.error());
  Result<energy::WeatherSeries> weather = energy::ReadWeatherFile(
      o.weather, o.utc_offset_hours, site_options.latitude_deg, site_options.longitude_deg);
  if (!weather.ok()) return context.Fail(weather.error());
  Result<energy::SiteModel> site = BuildSite(site_options, *weather);
  if (!site.ok()) return context.Fail(site.error());

  MeasuredPower measured;
  energy::ClockCheck clock;
  clock.evidence = "no sensor file";
  if (!o.sensor.empty()) {
    Result<MeasuredPower> read =
        ReadMeasuredPower(o.sensor, o.sensor_column, site->name, site->CapacityW(), o.tz);
    if (!read.ok()) return context.Fail(read.error());
    measured = *read;
    clock = energy::CheckClock(*site, *weather, measured.series);
    if (clock.shifted && !o.no_clock_check) return context.Fail(ClockShiftError(o.sensor, clock));
  }
  // Start: as given, else right after the last measurement, else the weather's first whole step.
  int64_t start = 0;
  if (!o.start.empty()) {
    Result<int64_t> t = energy::ParseIsoTime(o.start, {"--start", 0, ""});
    if (!t.ok()) return context.Fail(t.error());
    start = *t;
  } else if (!measured.series.time_utc_s.empty()) {
    start = measured.series.time_utc_s.back() + measured.series.step_s;
  } else {
    start = weather->time_utc_s.front();
  }
  start = (start + *step - 1) / *step * *step;

  energy::SiteModel model = *site;
  double pv_scale = 1;
  size_t calibration_samples = 0;
  if (o.calibrate_days > 0) {
    if (o.sensor.empty()) return context.Fail("--calibrate-days needs --sensor");
    energy::PowerSeries history;
    history.step_s = measured.series.step_s;
    const int64_t from = start - static_cast<int64_t>(o.calibrate_days * 86400);
    for (size_t i = 0; i < measured.series.time_utc_s.size(); ++i) {
      const int64_t t = measured.series.time_utc_s[i];
      if (t < from || t >= start) continue;
      history.time_utc_s.push_back(t);
      history.power_w.push_back(measured.series.power_w[i]);
    }
    Result<energy::Calibration> calibration = energy::CalibrateSite(*site, *weather, history);
    if (!calibration.ok()) return context.Fail(calibration.error());
    model = calibration->site;
    pv_scale = calibration->pv_scale;
    calibration_samples = calibration->samples;
  }
  energy::ForecastOptions options;
  options.step_s = *step;
  options.slots = *slots;
  Result<energy::SiteForecast> forecast =
      energy::ForecastSite(model, *weather, measured.series, start, options);
  if (!forecast.ok()) return context.Fail(forecast.error());

  if (!o.svg.empty()) {
    TimeChart chart;
    chart.title =
        "greenshift forecast: " + site->name + " (" + FormatKw(site->CapacityW()) + " green)";
    chart.y_label = "kW";
    chart.y_scale = 1000;
    // Show the measured hours before the start too, when there are any.
    const size_t before = o.sensor.empty() ? 0 : std::min<size_t>(*slots, 24);
    const int64_t chart_start = start - static_cast<int64_t>(before) * *step;
    const std::vector<double> history =
        energy::AverageIntoSlots(measured.series, chart_start, *step, before + *slots);
    ChartSeries measured_line{"measured", {}, "#333333"};
    ChartSeries model_line{"physical model", {}, "#ff7f0e", true};
    ChartSeries forecast_line{"forecast", {}, kGreenColor, false, true};
    for (size_t s = 0; s < before + *slots; ++s) {
      chart.time_utc_s.push_back(chart_start + static_cast<int64_t>(s) * *step);
      measured_line.values.push_back(history[s]);
      model_line.values.push_back(s < before ? NAN : forecast->model_w[s - before]);
      forecast_line.values.push_back(s < before ? NAN : forecast->green_w[s - before]);
    }
    chart.series = {forecast_line, model_line};
    if (before > 0) chart.series.push_back(measured_line);
    Status written = WriteFileAtomic(o.svg, RenderSvg(chart));
    if (!written.ok()) return context.Fail(written.message());
  }

  if (o.json) {
    nlohmann::json slots_json = nlohmann::json::array();
    for (size_t s = 0; s < *slots; ++s) {
      slots_json.push_back({{"start", FormatUtcMinutes(start + static_cast<int64_t>(s) * *step)},
                            {"model_w", forecast->model_w[s]},
                            {"green_w", forecast->green_w[s]}});
    }
    std::cout << nlohmann::json{{"site", site->name},
                                {"capacity_w", site->CapacityW()},
                                {"weather", o.weather},
                                {"start", FormatUtcMinutes(start)},
                                {"step_s", *step},
                                {"pv_scale", pv_scale},
                                {"calibration_slots", calibration_samples},
                                {"sensor_ratio", forecast->sensor_ratio},
                                {"sensor_slots", forecast->sensor_slots},
                                {"readings_accepted", measured.accepted},
                                {"readings_rejected", measured.rejected},
                                {"readings_missing", measured.missing},
                                {"clock_check", clock.evidence},
                                {"slots", slots_json}}
                     .dump(2)
              << "\n";
    return;
  }
  std::printf("site %s: %.1f kW of green capacity (%zu PV, %zu wind); weather %s\n",
              site->name.c_str(), site->CapacityW() / 1000, site->pv.size(), site->wind.size(),
              o.weather.c_str());
  if (!o.sensor.empty()) {
    std::printf("sensor %s: %lld readings accepted, %lld rejected, %lld missing (gaps)%s%s\n",
                o.sensor.c_str(), static_cast<long long>(measured.accepted),
                static_cast<long long>(measured.rejected), static_cast<long long>(measured.missing),
                measured.first_rejection.empty() ? "" : "; first rejection: ",
                measured.first_rejection.c_str());
    std::printf("clock: %s\n", clock.evidence.c_str());
  }
  if (o.calibrate_days > 0) {
    std::printf("calibrated on %zu slots of the last %.0f days: PV scale %.3f\n",
                calibration_samples, o.calibrate_days, pv_scale);
  }
  std::printf(
      "sensor correction: %s\n\n",
      forecast->sensor_slots == 0
          ? "none (no lit slot measured in the 3 h before the start)"
          : ("measured/model " + std::to_string(forecast->sensor_ratio).substr(0, 5) + " over " +
             std::to_string(forecast->sensor_slots) + " slots, fading over the horizon")
                .c_str());
  std::printf("%-18s %10s %12s\n", "slot (UTC)", "model kW", "forecast kW");
  for (size_t s = 0; s < *slots; ++s) {
    std::printf("%-18s %10.2f %12.2f\n",
                FormatUtcMinutes(start + static_cast<int64_t>(s) * *step).c_str(),
                forecast->model_w[s] / 1000, forecast->green_w[s] / 1000);
  }
  double energy_kwh = 0;
  for (double w : forecast->green_w) energy_kwh += w * *step / 3600.0 / 1000;
  std::printf("\ntotal %.1f kWh over %.0f h%s%s\n", energy_kwh, o.hours,
              o.svg.empty() ? "" : "; chart written to ", o.svg.c_str());
}

void RunEvaluate(Context& context, const EvaluateOptions& o, const SiteOptions& site_options) {
  Result<int64_t> step = StepSeconds(o.step_minutes);
  if (!step.ok()) return context.Fail(step.error());
  Result<size_t> slots = SlotCount(o.hours, *step);
  if (!slots.ok()) return context.Fail(slots.error());
  if (!(o.issue_every_hours >= 1) || o.issue_every_hours != std::floor(o.issue_every_hours))
    return context.Fail("--issue-every-hours must be a whole number >= 1");
  if (!(o.train_days >= 1) || o.train_days != std::floor(o.train_days))
    return context.Fail("--train-days must be a whole number >= 1");
  Result<energy::WeatherSeries> weather = energy::ReadWeatherFile(
      o.weather, o.utc_offset_hours, site_options.latitude_deg, site_options.longitude_deg);
  if (!weather.ok()) return context.Fail(weather.error());
  Result<energy::SiteModel> site = BuildSite(site_options, *weather);
  if (!site.ok()) return context.Fail(site.error());
  Result<MeasuredPower> measured =
      ReadMeasuredPower(o.measured, o.column, site->name, site->CapacityW(), o.tz);
  if (!measured.ok()) return context.Fail(measured.error());
  const energy::ClockCheck clock = energy::CheckClock(*site, *weather, measured->series);
  if (clock.shifted && !o.no_clock_check) return context.Fail(ClockShiftError(o.measured, clock));
  energy::EvaluationOptions options;
  options.step_s = *step;
  options.horizon_slots = *slots;
  options.issue_every_s = static_cast<int64_t>(o.issue_every_hours * 3600);
  options.train_days = static_cast<int64_t>(o.train_days);
  Result<energy::Evaluation> eval =
      energy::EvaluateForecasts(*site, *weather, measured->series, options);
  if (!eval.ok()) return context.Fail(eval.error());
  if (o.json) {
    nlohmann::json methods = nlohmann::json::array();
    for (const energy::MethodAccuracy& m : eval->methods) {
      methods.push_back({{"method", m.method},
                         {"description", m.description},
                         {"nmae", m.accuracy.nmae},
                         {"nbias", m.accuracy.nbias},
                         {"nrmse", m.accuracy.nrmse},
                         {"slots", m.accuracy.slots}});
    }
    std::cout << nlohmann::json{{"site", site->name},
                                {"capacity_w", eval->capacity_w},
                                {"weather", o.weather},
                                {"measured", o.measured},
                                {"readings_accepted", measured->accepted},
                                {"readings_rejected", measured->rejected},
                                {"readings_missing", measured->missing},
                                {"clock_check", clock.evidence},
                                {"train_start", FormatUtcMinutes(eval->train_start_utc_s)},
                                {"test_start", FormatUtcMinutes(eval->test_start_utc_s)},
                                {"test_end", FormatUtcMinutes(eval->test_end_utc_s)},
                                {"step_s", *step},
                                {"horizon_slots", *slots},
                                {"issues", eval->issues},
                                {"pv_scale", eval->pv_scale},
                                {"talk_scale", eval->talk_scale},
                                {"methods", methods}}
                     .dump(2)
              << "\n";
    return;
  }
  std::printf(
      "site %s (%.1f kW): calibrated on %s..%s (PV scale %.3f), %zu forecasts of %zu "
      "slots issued until %s\nmeasured %s: %lld readings accepted, %lld rejected, %lld missing "
      "(gaps: their slots are left out, never filled in)\nclock: %s\n\n",
      site->name.c_str(), eval->capacity_w / 1000,
      FormatUtcMinutes(eval->train_start_utc_s).c_str(),
      FormatUtcMinutes(eval->test_start_utc_s).c_str(), eval->pv_scale, eval->issues, *slots,
      FormatUtcMinutes(eval->test_end_utc_s).c_str(), o.measured.c_str(),
      static_cast<long long>(measured->accepted), static_cast<long long>(measured->rejected),
      static_cast<long long>(measured->missing), clock.evidence.c_str());
  std::printf("%-18s %8s %8s %8s %7s\n", "method", "nMAE", "bias", "nRMSE", "slots");
  for (const energy::MethodAccuracy& m : eval->methods) {
    std::printf("%-18s %7.2f%% %+7.2f%% %7.2f%% %7zu\n", m.method.c_str(), 100 * m.accuracy.nmae,
                100 * m.accuracy.nbias, 100 * m.accuracy.nrmse, m.accuracy.slots);
  }
}

}  // namespace

void AddForecastCommands(CLI::App& app, Context& context) {
  auto options = std::make_shared<ForecastOptions>();
  auto site = std::make_shared<SiteOptions>();
  CLI::App* cmd = app.add_subcommand(
      "forecast", "a site's green power over the next hours, as a table and an SVG chart");
  cmd->require_subcommand(0, 1);
  cmd->add_option("--weather", options->weather,
                  "weather forecast: Open-Meteo JSON, EPW, TMY3, PSM3, PVGIS or time-series CSV");
  cmd->add_option("--utc-offset-hours", options->utc_offset_hours,
                  "for PSM3 files without time-zone metadata");
  AddSiteOptions(cmd, site);
  cmd->add_option("--sensor", options->sensor,
                  "measured power of the site (time-series CSV, W): corrects the forecast");
  cmd->add_option("--sensor-column", options->sensor_column, "its column")->capture_default_str();
  cmd->add_option("--tz", options->tz,
                  "the sensor file's times are this IANA zone's local clock (Europe/Amsterdam); "
                  "offsets written beside them are ignored");
  cmd->add_flag("--no-clock-check", options->no_clock_check,
                "use a sensor file whose clock looks an hour off for a stretch of days");
  cmd->add_option("--calibrate-days", options->calibrate_days,
                  "fit the model to the sensor's last N days before the start (0: no)")
      ->capture_default_str();
  cmd->add_option("--start", options->start,
                  "first slot, ISO time with offset (default: after the last measurement)");
  cmd->add_option("--hours", options->hours, "horizon")->capture_default_str();
  cmd->add_option("--step-minutes", options->step_minutes, "slot length")->capture_default_str();
  cmd->add_option("--svg", options->svg, "also write the forecast as an SVG chart to this file");
  cmd->add_flag("--json", options->json, "print as JSON");

  auto eval_options = std::make_shared<EvaluateOptions>();
  auto eval_site = std::make_shared<SiteOptions>();
  CLI::App* eval_cmd = cmd->add_subcommand(
      "evaluate", "accuracy of each forecast method on weather and measured production");
  eval_cmd->add_option("--weather", eval_options->weather, "weather file (any format above)")
      ->required();
  eval_cmd->add_option("--utc-offset-hours", eval_options->utc_offset_hours,
                       "for PSM3 files without time-zone metadata");
  AddSiteOptions(eval_cmd, eval_site);
  eval_cmd
      ->add_option("--measured", eval_options->measured, "measured production (time-series CSV, W)")
      ->required();
  eval_cmd->add_option("--column", eval_options->column, "its column")->capture_default_str();
  eval_cmd->add_option("--tz", eval_options->tz,
                       "the measured file's times are this IANA zone's local clock "
                       "(Europe/Amsterdam); offsets written beside them are ignored");
  eval_cmd->add_flag("--no-clock-check", eval_options->no_clock_check,
                     "use a measured file whose clock looks an hour off for a stretch of days");
  eval_cmd->add_option("--train-days", eval_options->train_days, "days to calibrate on")
      ->capture_default_str();
  eval_cmd->add_option("--hours", eval_options->hours, "forecast horizon")->capture_default_str();
  eval_cmd->add_option("--step-minutes", eval_options->step_minutes, "slot length")
      ->capture_default_str();
  eval_cmd
      ->add_option("--issue-every-hours", eval_options->issue_every_hours,
                   "a forecast is issued this often")
      ->capture_default_str();
  eval_cmd->add_flag("--json", eval_options->json, "print as JSON");
  eval_cmd->callback(
      [&context, eval_options, eval_site]() { RunEvaluate(context, *eval_options, *eval_site); });
  cmd->callback([&context, eval_cmd, options, site]() {
    if (eval_cmd->parsed()) return;
    RunForecast(context, *options, *site);
  });
}

}  // namespace greenshift::cli
