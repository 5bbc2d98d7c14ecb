#include "api/carbon_aware.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/clock.h"

namespace greenshift::api {

namespace {

using nlohmann::json;

// At most this many locations per request, and data points per answer: a request for every
// hour of a decade at a hundred sites must be refused, not built.
constexpr size_t kMaxLocations = 100;
constexpr size_t kMaxPoints = 20000;

// The SDK's 400: ASP.NET's ValidationProblemDetails.
CarbonAwareAnswer Invalid(const std::string& parameter, const std::string& why) {
  const json body = {{"type", "https://tools.ietf.org/html/rfc7231#section-6.5.1"},
                     {"title", "One or more validation errors occurred."},
                     {"status", 400},
                     {"errors", {{parameter, {why}}}}};
  return {400, body.dump()};
}

std::string Time(int64_t utc_s) {
  return FormatUtcSeconds(utc_s);
}

// A .NET TimeSpan as System.Text.Json writes it: "01:00:00".
std::string TimeSpan(int64_t seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%02lld:%02lld:%02lld", static_cast<long long>(seconds / 3600),
                static_cast<long long>(seconds % 3600 / 60), static_cast<long long>(seconds % 60));
  return text;
}

struct Parsed {
  std::vector<size_t> sites;
  std::map<std::string, std::string> single;  // the other parameters (the first of each)
};

// The locations (sites, by name; at least one) and the other parameters; `known` are the
// parameter names the endpoint takes (ASP.NET ignores others; so does this).
Result<Parsed> ParseQuery(const CarbonAwareData& data, const QueryPairs& query,
                          CarbonAwareAnswer* invalid) {
  Parsed out;
  for (const auto& [name, value] : query) {
    if (name == "location") {
      if (out.sites.size() == kMaxLocations) {
        *invalid = Invalid(
            "location", "at most " + std::to_string(kMaxLocations) + " locations in one request");
        return Status::Invalid("");
      }
      const auto& sites = data.config.sites;
      const std::string& wanted = value;  // a structured binding no lambda may capture (C++17)
      auto it = std::find_if(sites.begin(), sites.end(),
                             [&](const control::SiteConfig& s) { return s.name == wanted; });
      if (it == sites.end()) {
        std::string known;
        for (const control::SiteConfig& s : sites) known += (known.empty() ? "" : ", ") + s.name;
        *invalid = Invalid("location",
                           "'" + value.substr(0, 100) +
                               "' is not a location greenshift knows (its sites: " + known + ")");
        return Status::Invalid("");
      }
      out.sites.push_back(static_cast<size_t>(it - sites.begin()));
    } else {
      out.single.emplace(name, value);
    }
  }
  if (out.sites.empty()) {
    *invalid = Invalid("location", "at least one location is required");
    return Status::Invalid("");
  }
  return out;
}

// An optional RFC 3339 time parameter, in seconds.
Result<std::optional<int64_t>> TimeParameter(const Parsed& p, const char* name,
                                             CarbonAwareAnswer* invalid) {
  auto it = p.single.find(name);
  if (it == p.single.end()) return std::optional<int64_t>();
  Result<int64_t> ms = ParseRfc3339Ms(it->second);
  if (!ms.ok()) {
    *invalid = Invalid(name, "'" + it->second.substr(0, 100) + "' " + ms.error());
    return Status::Invalid("");
  }
  return std::optional<int64_t>(SecondsOfMs(*ms));
}

// The data points whose `key` is the lowest of them all (every one of a tie): the SDK's
// "best" and "optimal".
json Lowest(const json& points, const char* key) {
  double lowest = std::numeric_limits<double>::infinity();
  for (const json& p : points) lowest = std::min(lowest, p[key].get<double>());
  json out = json::array();
  for (const json& p : points) {
    if (p[key].get<double>() == lowest) out.push_back(p);
  }
  return out;
}

// One site's carbon intensity as points: its series' steps, or for a site with a constant,
// the engine's slots.
struct Point {
  int64_t start_s, duration_s;
  double g_per_kwh;
};
std::vector<Point> PointsOf(const control::SiteInputs& site, int64_t slot_s, int64_t from_s,
                            int64_t to_s, size_t most) {
  std::vector<Point> out;
  if (!site.has_carbon) {
    for (int64_t t = from_s / slot_s * slot_s; t <= to_s && out.size() <= most; t += slot_s) {
      if (t + slot_s <= from_s) continue;
      out.push_back({t, slot_s, site.carbon_constant});
    }
    return out;
  }
  const std::vector<int64_t>& times = site.carbon.time_utc_s;
  for (size_t i = 0; i < times.size() && out.size() <= most; ++i) {
    const int64_t end = i + 1 < times.size() ? times[i + 1] : times[i] + 3600;
    // The point that holds `from`, and every point that starts by `to`.
    if (end <= from_s || times[i] > to_s) continue;
    out.push_back({times[i], end - times[i], site.carbon.g_per_kwh[i]});
  }
  return out;
}

}  // namespace

CarbonAwareAnswer EmissionsByLocations(const CarbonAwareData& data, const QueryPairs& query,
                                       bool best) {
  CarbonAwareAnswer invalid;
  Result<Parsed> parsed = ParseQuery(data, query, &invalid);
  if (!parsed.ok()) return invalid;
  Result<std::optional<int64_t>> time = TimeParameter(*parsed, "time", &invalid);
  if (!time.ok()) return invalid;
  Result<std::optional<int64_t>> to_time = TimeParameter(*parsed, "toTime", &invalid);
  if (!to_time.ok()) return invalid;
  if (*to_time && !*time) return Invalid("time", "time is required when toTime is given");
  const int64_t from_s = time->value_or(SecondsOfMs(data.now_ms));
  const int64_t to_s = to_time->value_or(from_s);
  if (to_s < from_s) return Invalid("toTime", "toTime comes before time");
  json points = json::array();
  size_t count = 0;
  for (size_t s : parsed->sites) {
    const std::shared_ptr<const control::SiteInputs> site = data.inputs.Site(s);
    const std::vector<Point> found = PointsOf(*site, data.slot_s, from_s, to_s, kMaxPoints);
    count += found.size();
    if (count > kMaxPoints) {
      return Invalid("toTime", "the period holds more than " + std::to_string(kMaxPoints) +
                                   " data points; ask for a shorter one");
    }
    for (const Point& p : found) {
      points.push_back({{"location", data.config.sites[s].name},
                        {"time", Time(p.start_s)},
                        {"rating", p.g_per_kwh},
                        {"duration", TimeSpan(p.duration_s)}});
    }
  }
  if (best) points = Lowest(points, "rating");
  if (points.empty()) return {204, ""};
  return {200, points.dump()};
}

CarbonAwareAnswer CurrentForecasts(const CarbonAwareData& data, const QueryPairs& query) {
  CarbonAwareAnswer invalid;
  Result<Parsed> parsed = ParseQuery(data, query, &invalid);
  if (!parsed.ok()) return invalid;
  Result<std::optional<int64_t>> start = TimeParameter(*parsed, "dataStartAt", &invalid);
  if (!start.ok()) return invalid;
  Result<std::optional<int64_t>> end = TimeParameter(*parsed, "dataEndAt", &invalid);
  if (!end.ok()) return invalid;
  const control::Forecast* forecast = data.forecast;
  if (forecast == nullptr || forecast->slots == 0) {
    const json body = {{"title", "No forecast yet"},
                       {"status", 503},
                       {"detail", "the service has not made its first forecast"}};
    return {503, body.dump()};
  }
  const int64_t step_s = forecast->slot_s;
  const int64_t first_s = forecast->first_slot * step_s;
  const int64_t last_s = first_s + static_cast<int64_t>(forecast->slots) * step_s;
  const int64_t from_s = start->value_or(first_s), to_s = end->value_or(last_s);
  if (from_s < first_s || from_s >= last_s) {
    return Invalid("dataStartAt",
                   "must be within the forecast, " + Time(first_s) + " to " + Time(last_s));
  }
  if (to_s <= from_s || to_s > last_s) {
    return Invalid("dataEndAt",
                   "must be after dataStartAt and by the forecast's end, " + Time(last_s));
  }
  // The window: whole points (slots); by default one.
  int64_t window_min = step_s / 60;
  if (auto it = parsed->single.find("windowSize"); it != parsed->single.end()) {
    const std::string& text = it->second;
    const bool digits =
        !text.empty() && text.size() <= 6 &&
        std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || std::stoll(text) == 0)
      return Invalid("windowSize", "must be a whole number of minutes, at least 1");
    window_min = std::stoll(text);
  }
  const size_t first_k = static_cast<size_t>((from_s - first_s) / step_s);
  const size_t end_k = static_cast<size_t>((to_s - first_s + step_s - 1) / step_s);
  const size_t span = static_cast<size_t>((window_min * 60 + step_s - 1) / step_s);
  if (span > end_k - first_k) {
    return Invalid("windowSize", std::to_string(window_min) + " minutes is longer than the data (" +
                                     std::to_string((end_k - first_k) * step_s / 60) +
                                     " minutes from dataStartAt to dataEndAt)");
  }
  json answer = json::array();
  for (size_t s : parsed->sites) {
    const std::string& name = data.config.sites[s].name;
    const std::vector<double>& carbon = forecast->sites[s].carbon_g_per_kwh;
    json windows = json::array();
    for (size_t k = first_k; k + span <= end_k; ++k) {
      double sum = 0;
      for (size_t j = k; j < k + span; ++j) sum += carbon[j];
      const double mean = sum / static_cast<double>(span);
      windows.push_back({{"location", name},
                         {"timestamp", Time(first_s + static_cast<int64_t>(k) * step_s)},
                         {"duration", window_min},
                         {"value", mean}});
    }
    const json optimal = Lowest(windows, "value");
    answer.push_back({{"generatedAt", Time(SecondsOfMs(forecast->issued_ms))},
                      {"requestedAt", Time(SecondsOfMs(data.now_ms))},
                      {"location", name},
                      {"dataStartAt", Time(from_s)},
                      {"dataEndAt", Time(to_s)},
                      {"windowSize", window_min},
                      {"optimalDataPoints", optimal},
                      {"forecastData", windows}});
  }
  return {200, answer.dump()};
}

}  // namespace greenshift::api
