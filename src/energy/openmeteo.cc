// Open-Meteo's forecast and archive API responses, in every shape its documentation describes.
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "energy/csv.h"
#include "energy/weather.h"
#include "energy/weather_parts.h"

namespace greenshift::energy {

namespace {

using nlohmann::json;

// The location of a response of several (an array, one object per location) nearest to the
// site; a response of one is that one.
Result<const json*> PickLocation(const json& root, const std::string& file, double lat,
                                 double lon) {
  if (root.is_object()) return &root;
  if (!root.is_array()) return FileError(file, 0, "is neither an object nor an array of them");
  if (root.empty()) return FileError(file, 0, "is an empty array of locations");
  for (size_t i = 0; i < root.size(); ++i) {
    if (!root[i].is_object() || !root[i].contains("latitude") || !root[i]["latitude"].is_number() ||
        !root[i].contains("longitude") || !root[i]["longitude"].is_number()) {
      return FileError(file, 0,
                       "location [" + std::to_string(i) +
                           "] of the array is not an object with a numeric latitude and longitude");
    }
  }
  if (root.size() == 1) return &root[0];
  if (std::isnan(lat) || std::isnan(lon)) {
    return FileError(file, 0,
                     "holds " + std::to_string(root.size()) +
                         " locations (several in one request): give the site's latitude and "
                         "longitude to pick the nearest");
  }
  const json* nearest = nullptr;
  double best = INFINITY;
  for (const json& location : root) {
    // Degrees of longitude shrink with the cosine of the latitude.
    const double dlat = location["latitude"].get<double>() - lat;
    const double dlon = (location["longitude"].get<double>() - lon) * std::cos(lat * M_PI / 180);
    const double d = dlat * dlat + dlon * dlon;
    if (d < best) {
      best = d;
      nearest = &location;
    }
  }
  return nearest;
}

// A variable's array in SI units (by `units[name]`, or Open-Meteo's default unit for it when
// the response gives none), or all NaN when the response does not have it under any of `names`.
Result<std::vector<double>> Variable(const json& block, const json& units, const std::string& where,
                                     const std::vector<std::string>& names, const std::string& want,
                                     size_t n, const std::string& file) {
  for (const std::string& name : names) {
    if (!block.contains(name)) continue;
    std::string unit = units.is_object() && units.contains(name) && units[name].is_string()
                           ? units[name].get<std::string>()
                           : std::string();
    if (unit.empty()) unit = want == "m/s" ? "km/h" : want;  // Open-Meteo's defaults
    double scale = 1, shift = 0;
    const std::string unit_key = where + "_units." + name;
    if (want == "m/s") {
      if (unit == "km/h")
        scale = 1 / 3.6;
      else if (unit == "mph")
        scale = 0.44704;
      else if (unit == "kn")
        scale = 0.514444;
      else if (unit != "m/s")
        return FileError(file, 0, unit_key + " '" + unit + "' is not a speed unit");
    } else if (want == "°C") {
      if (unit == "°F")
        scale = 5.0 / 9.0, shift = -32;
      else if (unit != "°C")
        return FileError(file, 0, unit_key + " '" + unit + "' is not °C or °F");
    } else if (want == "%") {
      if (unit != "%") return FileError(file, 0, unit_key + " '" + unit + "' is not %");
      scale = 0.01;
    } else if (want == "W/m²") {
      if (unit != "W/m²") return FileError(file, 0, unit_key + " '" + unit + "' is not W/m²");
    }
    const json& values = block[name];
    if (!values.is_array()) return FileError(file, 0, where + "." + name + " is not an array");
    if (values.size() != n) {
      return FileError(file, 0,
                       where + "." + name + " has " + std::to_string(values.size()) +
                           " values for " + std::to_string(n) + " times");
    }
    std::vector<double> out;
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      if (values[i].is_null()) {
        out.push_back(kNaN);  // Open-Meteo's "no data"
      } else if (!values[i].is_number()) {
        return FileError(file, 0,
                         where + "." + name + "[" + std::to_string(i) + "] is not a number");
      } else {
        out.push_back((values[i].get<double>() + shift) * scale);
      }
    }
    return out;
  }
  return std::vector<double>(n, kNaN);
}

}  // namespace

Result<WeatherSeries> ParseOpenMeteoJson(std::string_view text, const std::string& file,
                                         double near_latitude_deg, double near_longitude_deg) {
  GS_RETURN_IF_ERROR(CheckJsonDepth(text, file));
  const json root = json::parse(text, nullptr, false);
  if (root.is_discarded()) return FileError(file, 0, "not valid JSON");
  if (root.is_object() && root.contains("error") && root["error"].is_boolean() &&
      root["error"].get<bool>()) {
    const std::string reason = root.contains("reason") && root["reason"].is_string()
                                   ? root["reason"].get<std::string>()
                                   : "no reason given";
    return FileError(file, 0, "an Open-Meteo error response: " + reason);
  }
  Result<const json*> picked = PickLocation(root, file, near_latitude_deg, near_longitude_deg);
  if (!picked.ok()) return picked.status();
  const json& j = **picked;
  auto number = [&](const char* key) -> Result<double> {
    if (!j.contains(key) || !j[key].is_number())
      return FileError(file, 0,
                       std::string("has no numeric '") + key + "': not an Open-Meteo response");
    return j[key].get<double>();
  };
  WeatherSeries w;
  w.source = file;
  GS_ASSIGN(w.latitude_deg, number("latitude"));
  GS_ASSIGN(w.longitude_deg, number("longitude"));
  w.elevation_m =
      j.contains("elevation") && j["elevation"].is_number() ? j["elevation"].get<double>() : 0;
  // ISO 8601 times are the location's local time (utc_offset_seconds from UTC); unix times are
  // UTC whatever the offset (timeformat=unixtime).
  int64_t offset = 0;
  if (j.contains("utc_offset_seconds")) {
    if (!j["utc_offset_seconds"].is_number_integer())
      return FileError(file, 0, "utc_offset_seconds is not a whole number of seconds");
    offset = j["utc_offset_seconds"].get<int64_t>();
  }
  // 15-minute data when the response has it, hourly data otherwise.
  std::string where;
  for (const char* name : {"minutely_15", "hourly"}) {
    if (j.contains(name) && j[name].is_object() && j[name].contains("time")) {
      where = name;
      break;
    }
  }
  if (where.empty()) {
    return FileError(file, 0,
                     "has no 'hourly' or 'minutely_15' data with 'time' (ask the API for "
                     "hourly=shortwave_radiation,temperature_2m,wind_speed_10m,cloud_cover)");
  }
  const json& block = j[where];
  const json units = j.contains(where + "_units") ? j[where + "_units"] : json::object();
  const json& times = block["time"];
  if (!times.is_array()) return FileError(file, 0, where + ".time is not an array");
  const size_t n = times.size();
  if (n == 0) return FileError(file, 0, where + ".time is empty");
  Result<std::vector<double>> temp =
      Variable(block, units, where, {"temperature_2m"}, "°C", n, file);
  Result<std::vector<double>> wind =
      Variable(block, units, where, {"wind_speed_10m", "windspeed_10m"}, "m/s", n, file);
  Result<std::vector<double>> cloud =
      Variable(block, units, where, {"cloud_cover", "cloudcover"}, "%", n, file);
  Result<std::vector<double>> humidity =
      Variable(block, units, where, {"relative_humidity_2m", "relativehumidity_2m"}, "%", n, file);
  Result<std::vector<double>> ghi =
      Variable(block, units, where, {"shortwave_radiation"}, "W/m²", n, file);
  Result<std::vector<double>> dni =
      Variable(block, units, where, {"direct_normal_irradiance"}, "W/m²", n, file);
  Result<std::vector<double>> dhi =
      Variable(block, units, where, {"diffuse_radiation"}, "W/m²", n, file);
  for (const auto* r : {&temp, &wind, &cloud, &humidity, &ghi, &dni, &dhi}) {
    if (!r->ok()) return r->status();
  }
  Reserve(w, n);
  for (size_t i = 0; i < n; ++i) {
    int64_t t = 0;
    if (times[i].is_number_integer()) {
      t = times[i].get<int64_t>();
    } else if (times[i].is_string()) {
      const std::string s = times[i].get<std::string>();
      int year, month, day, hour, minute;
      char tail = 0;
      if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d%c", &year, &month, &day, &hour, &minute,
                      &tail) != 5) {
        return FileError(file, 0,
                         where + ".time[" + std::to_string(i) + "] '" + s +
                             "' is not YYYY-MM-DDTHH:MM (or a unix time)");
      }
      t = UtcSeconds(year, month, day, hour, minute) - offset;
    } else {
      return FileError(file, 0,
                       where + ".time[" + std::to_string(i) + "] is neither a time nor a number");
    }
    // Open-Meteo's radiation is the mean of the step before the timestamp; the other variables
    // are instantaneous. Both are kept at the stamped time.
    Push(w, t, (*ghi)[i], (*dni)[i], (*dhi)[i], (*temp)[i], (*wind)[i], (*cloud)[i],
         (*humidity)[i]);
  }
  GS_RETURN_IF_ERROR(CheckRanges(w));
  return w;
}

}  // namespace greenshift::energy
