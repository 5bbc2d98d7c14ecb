#include "energy/carbon.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "energy/csv.h"

namespace greenshift::energy {

double CarbonSeries::At(int64_t t) const {
  if (time_utc_s.empty()) return 0;
  auto it = std::upper_bound(time_utc_s.begin(), time_utc_s.end(), t);
  if (it == time_utc_s.begin()) return g_per_kwh.front();
  return g_per_kwh[static_cast<size_t>(it - time_utc_s.begin()) - 1];
}

namespace {

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The first of `names` that the header has, compared without regard to case; -1 if none.
int FindAnyColumn(const std::vector<std::string>& header,
                  std::initializer_list<const char*> names) {
  for (const char* name : names) {
    for (size_t i = 0; i < header.size(); ++i) {
      if (Lower(header[i]) == Lower(name)) return static_cast<int>(i);
    }
  }
  return -1;
}

}  // namespace

Result<CarbonSeries> ParseCarbonCsv(std::string_view text, const std::string& file, bool lifecycle,
                                    const std::string& zone_if_unnamed) {
  const std::vector<std::string_view> lines = SplitLines(text);
  if (lines.size() < 2) return FileError(file, 0, "expected a header row and data rows");
  const std::vector<std::string> header = SplitCsvLine(lines[0]);
  CarbonSeries series;
  series.source = file;
  int time_column = -1, value_column = -1, zone_column = -1;
  bool utc_without_offset = false;
  if (FindColumn(header, "Datetime (UTC)") == 0) {
    time_column = 0;
    utc_without_offset = true;  // the header says UTC; the cells do not
    zone_column = FindAnyColumn(header, {"Zone Id"});
    value_column = lifecycle ? FindAnyColumn(header, {"Carbon Intensity gCO₂eq/kWh (LCA)",
                                                      "Carbon intensity gCO₂eq/kWh (Life cycle)"})
                             : FindAnyColumn(header, {"Carbon Intensity gCO₂eq/kWh (direct)"});
    if (value_column < 0) {
      return FileError(file, 1,
                       lifecycle ? "no life cycle intensity column ('Carbon intensity gCO₂eq/kWh "
                                   "(Life cycle)' or, in older exports, '... (LCA)')"
                                 : "no column 'Carbon intensity gCO₂eq/kWh (direct)'");
    }
  } else if (FindColumn(header, "timestamp") == 0 && FindColumn(header, "avg_CI") > 0) {
    time_column = 0;
    value_column = FindColumn(header, "avg_CI");
    series.zone = zone_if_unnamed;
  } else {
    return FileError(
        file, 1,
        "not a carbon intensity file greenshift reads (an Electricity Maps export with "
        "'Datetime (UTC)' or an EIA-930 file with 'timestamp' and 'avg_CI')");
  }
  for (size_t n = 1; n < lines.size(); ++n) {
    if (lines[n].empty() || lines[n] == "\r") continue;
    const std::vector<std::string> cells = SplitCsvLine(lines[n]);
    if (cells.size() != header.size()) {
      return FileError(
          file, n + 1,
          std::to_string(cells.size()) + " fields, expected " + std::to_string(header.size()));
    }
    const std::string when = cells[time_column] + (utc_without_offset ? "+00:00" : "");
    Result<int64_t> time = ParseIsoTime(when, {file, n + 1, header[time_column]});
    if (!time.ok()) return time.status();
    if (!series.time_utc_s.empty() && *time <= series.time_utc_s.back()) {
      return FileError(file, n + 1,
                       "time " + cells[time_column] + " does not come after the row before");
    }
    Result<double> value = ParseNumber(cells[value_column], {file, n + 1, header[value_column]});
    if (!value.ok()) return value.status();
    if (*value < 0 || *value > 2000) {
      return FileError(file, n + 1,
                       header[value_column] + " " + cells[value_column] +
                           " is outside 0..2000 gCO2/kWh (wrong unit?)");
    }
    if (zone_column >= 0) {
      if (series.zone.empty()) series.zone = cells[zone_column];
      if (cells[zone_column] != series.zone) {
        return FileError(file, n + 1,
                         "zone " + cells[zone_column] + " in a file of zone " + series.zone);
      }
    }
    series.time_utc_s.push_back(*time);
    series.g_per_kwh.push_back(*value);
  }
  if (series.time_utc_s.empty()) return FileError(file, 0, "no data rows");
  return series;
}

namespace {

// One entry of an API's JSON series, `at` naming it ("forecast[3]"): its time under `time_key`
// (RFC 3339) and its intensity under `value_key`, times `scale` into g/kWh (`unit`: the value's
// unit, for errors). Appended after the entries before it (true), or counted missing when null
// (false).
Result<bool> AddJsonEntry(const nlohmann::json& e, const std::string& at, const char* time_key,
                          const char* value_key, double scale, const std::string& unit,
                          const std::string& file, CarbonSeries* series) {
  const std::string time_at = at + "." + time_key, value_at = at + "." + value_key;
  if (!e.contains(time_key) || !e[time_key].is_string())
    return FileError(file, 0, at + " has no '" + time_key + "' string");
  const std::string when = e[time_key].get<std::string>();
  Result<int64_t> ms = ParseRfc3339Ms(when);
  if (!ms.ok()) return FileError(file, 0, time_at + " '" + when + "' " + ms.error());
  if (!e.contains(value_key)) return FileError(file, 0, at + " has no '" + value_key + "'");
  if (e[value_key].is_null()) {
    ++series->missing;
    return false;
  }
  if (!e[value_key].is_number()) return FileError(file, 0, value_at + " is not a number");
  const double value = e[value_key].get<double>() * scale;
  if (!(value >= 0 && value <= 2000)) {
    return FileError(file, 0,
                     value_at + " " + e[value_key].dump() + (unit.empty() ? "" : " " + unit) +
                         " is outside 0..2000 gCO2/kWh");
  }
  const int64_t t = SecondsOfMs(*ms);
  if (!series->time_utc_s.empty() && t <= series->time_utc_s.back())
    return FileError(file, 0, time_at + " " + when + " does not come after the entry before");
  series->time_utc_s.push_back(t);
  series->g_per_kwh.push_back(value);
  return true;
}

}  // namespace

Result<CarbonSeries> ParseElectricityMapsJson(std::string_view text, const std::string& file) {
  using nlohmann::json;
  GS_RETURN_IF_ERROR(CheckJsonDepth(text, file));
  const json root = json::parse(text, nullptr, false);
  if (root.is_discarded()) return FileError(file, 0, "not valid JSON");
  if (!root.is_object()) return FileError(file, 0, "is not a JSON object");
  auto text_of = [&](const char* key) {
    return root.contains(key) && root[key].is_string() ? root[key].get<std::string>() : "";
  };
  if (root.contains("error") || text_of("status") == "error") {
    std::string why =
        root.contains("error") && root["error"].is_string() ? text_of("error") : text_of("message");
    return FileError(file, 0, "an Electricity Maps error response: " + (why.empty() ? "?" : why));
  }
  CarbonSeries series;
  series.source = file;
  series.zone = text_of("zone");
  // The entries: an array under one of these keys, or the object itself (latest).
  json entries = json::array();
  std::string where = "the response";
  for (const char* key : {"history", "forecast", "data"}) {
    if (!root.contains(key)) continue;
    if (!root[key].is_array())
      return FileError(file, 0, std::string("'") + key + "' is not an array");
    entries = root[key];
    where = key;
    break;
  }
  if (where == "the response") {
    if (!root.contains("carbonIntensity")) {
      return FileError(file, 0,
                       "has no 'carbonIntensity', 'history', 'forecast' or 'data': not an "
                       "Electricity Maps carbon intensity response");
    }
    entries.push_back(root);
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    const json& e = entries[i];
    const std::string at = where == "the response" ? where : where + "[" + std::to_string(i) + "]";
    if (!e.is_object()) return FileError(file, 0, at + " is not an object");
    Result<bool> added = AddJsonEntry(e, at, "datetime", "carbonIntensity", 1, "", file, &series);
    if (!added.ok()) return added.status();
    if (*added && e.contains("zone") && e["zone"].is_string()) {
      const std::string zone = e["zone"].get<std::string>();
      if (series.zone.empty()) series.zone = zone;
      if (zone != series.zone)
        return FileError(file, 0, at + ": zone " + zone + " in a response for zone " + series.zone);
    }
  }
  if (series.time_utc_s.empty()) {
    return FileError(
        file, 0, series.missing > 0 ? "has no intensity: every entry is null" : "has no entries");
  }
  return series;
}

Result<CarbonSeries> ParseWattTimeJson(std::string_view text, const std::string& file) {
  using nlohmann::json;
  GS_RETURN_IF_ERROR(CheckJsonDepth(text, file));
  const json root = json::parse(text, nullptr, false);
  if (root.is_discarded()) return FileError(file, 0, "not valid JSON");
  if (!root.is_object()) return FileError(file, 0, "is not a JSON object");
  if (!root.contains("data") || !root["data"].is_array())
    return FileError(file, 0, "has no 'data' array: not a WattTime response");
  // Units: WattTime gives MOERs in lbs/MWh in the US and g/kWh (co2_moer in some regions, and
  // co2_aoer); 1 lb/MWh = 0.453592 g/kWh.
  double to_g_per_kwh = 0;
  std::string units = "lbs_co2_per_mwh";
  if (root.contains("meta") && root["meta"].is_object() && root["meta"].contains("units")) {
    if (!root["meta"]["units"].is_string()) return FileError(file, 0, "meta.units is not a string");
    units = root["meta"]["units"].get<std::string>();
  }
  if (units == "lbs_co2_per_mwh") to_g_per_kwh = 0.45359237;
  if (units == "g_co2_per_kwh" || units == "kg_co2_per_mwh") to_g_per_kwh = 1;
  if (to_g_per_kwh == 0) {
    return FileError(file, 0,
                     "meta.units '" + units.substr(0, 40) +
                         "' is not lbs_co2_per_mwh, g_co2_per_kwh or kg_co2_per_mwh (greenshift "
                         "reads carbon intensity, not a health-damage or index signal)");
  }
  CarbonSeries series;
  series.source = file;
  if (root.contains("meta") && root["meta"].is_object() && root["meta"].contains("region") &&
      root["meta"]["region"].is_string())
    series.zone = root["meta"]["region"].get<std::string>();
  const json& data = root["data"];
  for (size_t i = 0; i < data.size(); ++i) {
    const json& e = data[i];
    const std::string at = "data[" + std::to_string(i) + "]";
    if (!e.is_object()) return FileError(file, 0, at + " is not an object");
    Result<bool> added =
        AddJsonEntry(e, at, "point_time", "value", to_g_per_kwh, units, file, &series);
    if (!added.ok()) return added.status();
  }
  if (series.time_utc_s.empty()) {
    return FileError(file, 0,
                     series.missing > 0 ? "has no intensity: every value is null" : "has no data");
  }
  return series;
}

Result<CarbonSeries> ParseCarbonFile(std::string_view text, const std::string& file,
                                     bool lifecycle) {
  const size_t first = text.find_first_not_of(" \n\r\t");
  if (first != std::string_view::npos && (text[first] == '{' || text[first] == '[')) {
    // WattTime's responses are the ones with point_time (Electricity Maps' say datetime).
    if (text.find("\"point_time\"") != std::string_view::npos) return ParseWattTimeJson(text, file);
    return ParseElectricityMapsJson(text, file);
  }
  return ParseCarbonCsv(text, file, lifecycle);
}

}  // namespace greenshift::energy
