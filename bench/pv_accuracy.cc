// bench/pv_accuracy: how well each forecast method predicts the measured AC power of a real PV
// system (NREL SERF East, Golden CO) from its weather, in one run, through the same code as
// `greenshift forecast evaluate`: the calibrated physical model (with and without the correction
// by the last hours measured), the same model uncalibrated, the talk's formula (sunlight x wind x
// temperature, its scale fitted on the same training days), and persistence (the same slot on the
// last measured day). Calibrated on the first 28 days, scored on the rest. Two set-ups: 15-minute
// slots issued daily for the next 24 h, and hourly slots issued daily for the next 48 h.
// Prints normalized MAE (MAE / 5.4 kW) and bias. The weather is satellite-derived actuals, not an
// issued weather forecast: the figures are the models' error with perfect weather.
#include <cstdio>
#include <string>

#include "core/clock.h"
#include "core/files.h"
#include "energy/csv.h"
#include "energy/forecast.h"
#include "energy/weather.h"

using namespace greenshift;
using namespace greenshift::energy;

namespace {

constexpr double kCapacityW = 5400;

Result<TimeSeriesTable> Load(const std::string& path) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseTimeSeriesCsv(*text, path);
}

bool PrintEvaluation(const char* title, const Evaluation& eval) {
  std::printf("%s: %zu forecasts issued, scored on %zu slots, %s to %s\n", title, eval.issues,
              eval.methods.front().accuracy.slots, FormatUtcMinutes(eval.test_start_utc_s).c_str(),
              FormatUtcMinutes(eval.test_end_utc_s).c_str());
  std::printf(
      "calibration: PV scale %.3f (derate %.3f); talk formula scale %.3g W per (W/m² °C)\n\n",
      eval.pv_scale, 0.86 * eval.pv_scale, eval.talk_scale);
  std::printf("| %-18s | %-70s | %8s | %8s | %8s |\n", "method", "what", "nMAE", "bias", "nRMSE");
  std::printf("|%s|%s|%s|%s|%s|\n", std::string(20, '-').c_str(), std::string(72, '-').c_str(),
              std::string(10, '-').c_str(), std::string(10, '-').c_str(),
              std::string(10, '-').c_str());
  for (const MethodAccuracy& m : eval.methods) {
    std::printf("| %-18s | %-70s | %7.2f%% | %+7.2f%% | %7.2f%% |\n", m.method.c_str(),
                m.description.c_str(), 100 * m.accuracy.nmae, 100 * m.accuracy.nbias,
                100 * m.accuracy.nrmse);
  }
  double talk = 0, persistence = 0, calibrated = 0;
  for (const MethodAccuracy& m : eval.methods) {
    if (m.method == "calibrated") calibrated = m.accuracy.nmae;
    if (m.method == "talk-formula") talk = m.accuracy.nmae;
    if (m.method == "persistence") persistence = m.accuracy.nmae;
  }
  const bool beats = calibrated < talk && calibrated < persistence;
  std::printf("\nthe calibrated physical model %s both baselines\n\n",
              beats ? "beats" : "does NOT beat");
  return beats;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : GREENSHIFT_SOURCE_DIR "/data/pv";
  Result<TimeSeriesTable> power = Load(dir + "/serf_east_15min_ac_power.csv");
  Result<TimeSeriesTable> weather_table = Load(dir + "/serf_east_psm3_data.csv");
  if (!power.ok() || !weather_table.ok()) {
    std::fprintf(stderr, "bench/pv_accuracy: %s\n",
                 (!power.ok() ? power.error() : weather_table.error()).c_str());
    return 1;
  }
  SiteModel site;
  site.name = "SERF East";
  PvSystem system;
  system.latitude_deg = 39.742;
  system.longitude_deg = -105.179;
  system.tilt_deg = 45;
  system.azimuth_deg = 158;
  system.capacity_w = kCapacityW;
  system.inverter_limit_w = kCapacityW;
  site.pv.push_back(system);
  Result<WeatherSeries> weather =
      WeatherFromTable(*weather_table, system.latitude_deg, system.longitude_deg);
  Result<PowerSeries> measured = PowerSeriesFromTable(*power, "ac_power");
  if (!weather.ok() || !measured.ok()) {
    std::fprintf(stderr, "bench/pv_accuracy: %s\n",
                 (!weather.ok() ? weather.error() : measured.error()).c_str());
    return 1;
  }
  std::printf(
      "bench/pv_accuracy: NREL SERF East (5.4 kW, tilt 45, azimuth 158), %zu weather rows, "
      "%zu measurements; calibrated on the first 28 days\n\n",
      weather->size(), measured->time_utc_s.size());
  EvaluationOptions quarter;
  quarter.step_s = 900;
  quarter.horizon_slots = 96;
  EvaluationOptions hourly;  // defaults: hourly, 48 h
  hourly.issue_every_s = 3 * 3600;
  bool beats = true;
  for (const auto& [title, options] : {std::pair{"15-min slots, 24 h ahead", quarter},
                                       std::pair{"hourly slots, 48 h ahead", hourly}}) {
    Result<Evaluation> eval = EvaluateForecasts(site, *weather, *measured, options);
    if (!eval.ok()) {
      std::fprintf(stderr, "bench/pv_accuracy: %s\n", eval.error().c_str());
      return 1;
    }
    beats = PrintEvaluation(title, *eval) && beats;
  }
  return beats ? 0 : 1;
}
