#include "energy/wind.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>

#include "energy/csv.h"

namespace greenshift::energy {

double PowerCurve::RatedPowerW() const {
  return power_w.empty() ? 0 : *std::max_element(power_w.begin(), power_w.end());
}

double PowerCurve::CutInSpeedMs() const {
  for (size_t i = 0; i < power_w.size(); ++i) {
    if (power_w[i] > 0) return i == 0 ? speed_m_s[0] : speed_m_s[i - 1];
  }
  return std::numeric_limits<double>::infinity();
}

double PowerCurve::CutOutSpeedMs() const {
  return speed_m_s.empty() ? 0 : speed_m_s.back();
}

double PowerAtW(const PowerCurve& curve, double speed) {
  const auto& v = curve.speed_m_s;
  if (v.empty() || !(speed >= v.front()) || speed > v.back()) return 0;
  const size_t upper = std::upper_bound(v.begin(), v.end(), speed) - v.begin();
  if (upper == v.size()) return curve.power_w.back();  // exactly the last point
  const size_t lower = upper - 1;
  const double fraction = (speed - v[lower]) / (v[upper] - v[lower]);
  return curve.power_w[lower] + fraction * (curve.power_w[upper] - curve.power_w[lower]);
}

Result<std::vector<PowerCurve>> ParsePowerCurves(std::string_view text, const std::string& file) {
  const std::vector<std::string_view> lines = SplitLines(text);
  if (lines.empty()) return Status::Error(file + ": empty, expected a power curve table");
  const std::vector<std::string> header = SplitCsvLine(lines[0]);
  if (header.size() < 3 || header[0] != "turbine_type") {
    return Status::Error(file + " line 1: expected 'turbine_type,<speed m/s>,...' as the header");
  }
  std::vector<double> speeds;
  for (size_t i = 1; i < header.size(); ++i) {
    Result<double> speed = ParseNumber(header[i], {file, 1, "speed column " + std::to_string(i)});
    if (!speed.ok()) return speed.status();
    if (!speeds.empty() && *speed <= speeds.back()) {
      return Status::Error(file + " line 1: speeds must increase, " + header[i] + " follows " +
                           std::to_string(speeds.back()));
    }
    speeds.push_back(*speed);
  }
  std::vector<PowerCurve> curves;
  for (size_t n = 1; n < lines.size(); ++n) {
    if (lines[n].empty() || lines[n] == "\r") continue;
    const std::vector<std::string> cells = SplitCsvLine(lines[n]);
    if (cells.size() > header.size()) {
      return Status::Error(file + " line " + std::to_string(n + 1) + ": " +
                           std::to_string(cells.size()) + " fields, the header has " +
                           std::to_string(header.size()));
    }
    PowerCurve curve;
    curve.turbine_type = cells[0];
    if (curve.turbine_type.empty()) {
      return Status::Error(file + " line " + std::to_string(n + 1) + ": no turbine_type");
    }
    for (size_t i = 1; i < cells.size(); ++i) {
      if (cells[i].empty()) continue;
      Result<double> power =
          ParseNumber(cells[i], {file, n + 1, curve.turbine_type + " at " + header[i] + " m/s"});
      if (!power.ok()) return power.status();
      if (*power < 0) {
        return Status::Error(file + " line " + std::to_string(n + 1) + ": negative power " +
                             cells[i] + " W for " + curve.turbine_type);
      }
      curve.speed_m_s.push_back(speeds[i - 1]);
      curve.power_w.push_back(*power);
    }
    if (curve.speed_m_s.size() < 2) {
      return Status::Error(file + " line " + std::to_string(n + 1) + ": the curve of " +
                           curve.turbine_type + " has fewer than 2 points");
    }
    curves.push_back(std::move(curve));
  }
  if (curves.empty()) return Status::Error(file + ": no turbine rows");
  return curves;
}

Result<PowerCurve> FindPowerCurve(const std::vector<PowerCurve>& curves,
                                  const std::string& turbine_type) {
  for (const PowerCurve& curve : curves) {
    if (curve.turbine_type == turbine_type) return curve;
  }
  std::string known;
  for (size_t i = 0; i < curves.size() && i < 8; ++i) {
    known += (i ? ", " : "") + curves[i].turbine_type;
  }
  return Status::Error("no power curve for turbine '" + turbine_type + "' (known: " + known +
                       (curves.size() > 8 ? ", ..." : "") + ")");
}

std::vector<double> WindWeather::HeightsOf(const std::string& variable) const {
  std::vector<double> heights;
  for (const auto& [key, values] : series) {
    if (key.first == variable) heights.push_back(key.second);
  }
  return heights;  // std::map keeps them ascending
}

Result<WindWeather> ParseWindpowerlibWeather(std::string_view text, const std::string& file) {
  const std::vector<std::string_view> lines = SplitLines(text);
  if (lines.size() < 3) {
    return Status::Error(file + ": expected two header rows (names, heights) and data rows");
  }
  const std::vector<std::string> names = SplitCsvLine(lines[0]);
  const std::vector<std::string> heights_text = SplitCsvLine(lines[1]);
  if (names.size() < 2 || names.size() != heights_text.size()) {
    return Status::Error(file + " line 2: " + std::to_string(heights_text.size()) +
                         " heights for " + std::to_string(names.size()) +
                         " variables (windpowerlib layout: a row of names, a row of heights)");
  }
  if (heights_text[0] != "height") {
    return Status::Error(file + " line 2: the second header row must start with 'height'");
  }
  WindWeather weather;
  std::vector<double> heights;
  for (size_t i = 1; i < names.size(); ++i) {
    Result<double> height = ParseNumber(heights_text[i], {file, 2, names[i]});
    if (!height.ok()) return height.status();
    if (weather.series.count({names[i], *height})) {
      return Status::Error(file + " line 2: " + names[i] + " at " + heights_text[i] +
                           " m appears twice");
    }
    weather.series[{names[i], *height}] = {};
    heights.push_back(*height);
  }
  Result<TimeSeriesTable> table = ParseTimeSeriesRows(lines, 2, names, file);
  if (!table.ok()) return table.status();
  weather.time_utc_s = table->time_utc_s;
  for (size_t c = 0; c < table->names.size(); ++c) {
    const std::string& name = table->names[c];
    std::vector<double>& series = weather.series[{name, heights[c]}];
    series = table->columns[c];
    for (size_t r = 0; r < series.size(); ++r) {
      char value[32];
      std::snprintf(value, sizeof value, "%g", series[r]);
      const std::string where = file + " line " + std::to_string(table->line[r]) + ": ";
      if (name == "temperature") {
        if (series[r] < 150 || series[r] > 350) {
          return Status::Error(where + "temperature " + value +
                               " is not a plausible air temperature in kelvin");
        }
        series[r] -= 273.15;
      }
      if (name == "wind_speed" && (series[r] < 0 || series[r] > 100)) {
        return Status::Error(where + "wind_speed " + value + " m/s is impossible");
      }
    }
  }
  return weather;
}

double HubHeightSpeedMs(double speed, double measured_height, double hub_height, double roughness) {
  if (measured_height == hub_height) return speed;
  return speed * std::log(hub_height / roughness) / std::log(measured_height / roughness);
}

Result<WindYield> ComputeWindYield(const PowerCurve& curve, const WindWeather& weather,
                                   double hub_height_m) {
  if (!(hub_height_m > 0 && hub_height_m < 300)) {
    return Status::Error("hub height must be between 0 and 300 m");
  }
  const std::vector<double> heights = weather.HeightsOf("wind_speed");
  if (heights.empty()) return Status::Error("the weather has no wind_speed");
  const std::vector<double> roughness_heights = weather.HeightsOf("roughness_length");
  if (roughness_heights.empty()) return Status::Error("the weather has no roughness_length");
  double nearest = heights[0];
  for (double h : heights) {
    if (std::abs(h - hub_height_m) < std::abs(nearest - hub_height_m)) nearest = h;
  }
  const std::vector<double>& speeds = weather.series.at({"wind_speed", nearest});
  const std::vector<double>& roughness =
      weather.series.at({"roughness_length", roughness_heights[0]});
  const size_t n = weather.time_utc_s.size();
  if (n < 2) return Status::Error("the weather needs at least two time steps");
  const int64_t step_s = weather.time_utc_s[1] - weather.time_utc_s[0];
  WindYield yield;
  yield.measured_height_m = nearest;
  double speed_sum = 0;
  for (size_t i = 0; i < n; ++i) {
    if (i > 0 && weather.time_utc_s[i] - weather.time_utc_s[i - 1] != step_s) {
      return Status::Error("the weather steps irregularly at row " + std::to_string(i + 1));
    }
    if (!(roughness[i] > 0)) {
      return Status::Error("roughness_length must be positive (row " + std::to_string(i + 1) + ")");
    }
    const double hub_speed = HubHeightSpeedMs(speeds[i], nearest, hub_height_m, roughness[i]);
    const double power = PowerAtW(curve, hub_speed);
    yield.power_w.push_back(power);
    yield.energy_kwh += power * step_s / 3600.0 / 1000.0;
    speed_sum += hub_speed;
  }
  yield.hours = static_cast<double>(n) * step_s / 3600.0;
  yield.mean_hub_speed_m_s = speed_sum / static_cast<double>(n);
  yield.capacity_factor = yield.energy_kwh / (curve.RatedPowerW() / 1000.0 * yield.hours);
  return yield;
}

}  // namespace greenshift::energy
