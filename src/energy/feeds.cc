#include "energy/feeds.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <vector>

#include "core/json_text.h"

namespace greenshift::energy {

namespace {

// What an error response says, from whichever field its service puts it in: Open-Meteo's
// `reason`, Electricity Maps' `error` or `message`, WattTime's `message` or `error`, a problem
// document's `detail`; else the start of the body.
std::string WhyOfBody(const std::string& body) {
  if (JsonNestsDeeperThan(body, kMaxInputJsonDepth)) return BodyExcerpt(body);
  const nlohmann::json root = nlohmann::json::parse(body, nullptr, false);
  if (root.is_object()) {
    for (const char* key : {"reason", "message", "detail", "error"}) {
      if (root.contains(key) && root[key].is_string())
        return BodyExcerpt(root[key].get<std::string>());
    }
  }
  return body.empty() ? "an empty body" : BodyExcerpt(body);
}

// scheme://host[:port] of a URL.
std::string Origin(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const size_t path = url.find_first_of("/?#", scheme + 3);
  return path == std::string::npos ? url : url.substr(0, path);
}

// The status of a response that is not 200, for `what` ("GET https://...").
Status StatusOf(const HttpResponse& response, const std::string& what) {
  const std::string why =
      what + ": HTTP " + std::to_string(response.status) + ": " + WhyOfBody(response.body);
  if (response.status == 429 || response.status >= 500) return Status::Unavailable(why);
  if (response.status == 401 || response.status == 403)
    return Status::Invalid(why + " (the token or the login was refused)");
  return Status::Invalid(why);
}

// Every per-step column of a weather series (time aside).
std::vector<std::vector<double> WeatherSeries::*> WeatherColumns() {
  return {&WeatherSeries::ghi_w_m2,          &WeatherSeries::dni_w_m2,
          &WeatherSeries::dhi_w_m2,          &WeatherSeries::air_temperature_c,
          &WeatherSeries::wind_speed_m_s,    &WeatherSeries::cloud_cover,
          &WeatherSeries::relative_humidity, &WeatherSeries::ghi_clear_w_m2,
          &WeatherSeries::dni_clear_w_m2,    &WeatherSeries::dhi_clear_w_m2};
}

int64_t StepOf(const std::vector<int64_t>& time) {
  return time.size() > 1 ? time[1] - time[0] : 0;
}

// How many of old's steps come before `fresh_start` and within `keep_s` of it: [first, end).
std::pair<size_t, size_t> KeptBefore(const std::vector<int64_t>& time, int64_t fresh_start,
                                     int64_t keep_s) {
  const size_t end =
      static_cast<size_t>(std::lower_bound(time.begin(), time.end(), fresh_start) - time.begin());
  const size_t first = static_cast<size_t>(
      std::lower_bound(time.begin(), time.begin() + static_cast<std::ptrdiff_t>(end),
                       fresh_start - keep_s) -
      time.begin());
  return {first, end};
}

}  // namespace

const char* FeedKindName(FeedKind kind) {
  switch (kind) {
    case FeedKind::kOpenMeteo:
      return "open-meteo";
    case FeedKind::kElectricityMaps:
      return "electricity-maps";
    case FeedKind::kWattTime:
      return "watttime";
    case FeedKind::kCarbonCsv:
      return "csv";
  }
  return "?";
}

Result<FeedKind> FeedKindNamed(const std::string& name) {
  for (FeedKind kind : {FeedKind::kOpenMeteo, FeedKind::kElectricityMaps, FeedKind::kWattTime,
                        FeedKind::kCarbonCsv}) {
    if (name == FeedKindName(kind)) return kind;
  }
  return Status::Invalid("'" + name.substr(0, 40) +
                         "' is not a feed kind (open-meteo, electricity-maps, watttime, csv)");
}

Result<FeedData> ParseFeedBody(const FeedSpec& spec, std::string_view body,
                               const std::string& source) {
  FeedData data;
  switch (spec.kind) {
    case FeedKind::kOpenMeteo: {
      Result<WeatherSeries> weather =
          ParseOpenMeteoJson(body, source, spec.near_latitude_deg, spec.near_longitude_deg);
      if (!weather.ok()) return weather.status();
      data.weather = std::move(*weather);
      return data;
    }
    case FeedKind::kElectricityMaps:
    case FeedKind::kWattTime:
    case FeedKind::kCarbonCsv: {
      Result<CarbonSeries> carbon =
          spec.kind == FeedKind::kElectricityMaps ? ParseElectricityMapsJson(body, source)
          : spec.kind == FeedKind::kWattTime      ? ParseWattTimeJson(body, source)
                                                  : ParseCarbonCsv(body, source);
      if (!carbon.ok()) return carbon.status();
      data.carbon = std::move(*carbon);
      return data;
    }
  }
  return Status::Invalid(source + ": unknown feed kind");
}

FeedClient::FeedClient(FeedSpec spec, HttpGetFn get)
    : spec_(std::move(spec)), get_(std::move(get)) {
  if (spec_.kind == FeedKind::kWattTime && spec_.login_url.empty())
    spec_.login_url = Origin(spec_.url) + "/login";
}

Status FeedClient::Login() {
  HttpRequest request;
  request.url = spec_.login_url;
  request.basic_user = spec_.user;
  request.basic_password = spec_.password;
  request.timeout_s = spec_.timeout_s;
  request.max_redirects = 0;
  const std::string what = "WattTime login at " + UrlForLog(spec_.login_url);
  Result<HttpResponse> response = get_(request);
  if (!response.ok()) return response.status();
  if (response->status != 200) return StatusOf(*response, what + " as '" + spec_.user + "'");
  const nlohmann::json root = JsonNestsDeeperThan(response->body, kMaxInputJsonDepth)
                                  ? nlohmann::json()
                                  : nlohmann::json::parse(response->body, nullptr, false);
  if (!root.is_object() || !root.contains("token") || !root["token"].is_string() ||
      root["token"].get<std::string>().empty())
    return Status::Error(what + ": the answer has no 'token': " + BodyExcerpt(response->body));
  bearer_ = root["token"].get<std::string>();
  return Status::Ok();
}

Result<FeedClient::Fetched> FeedClient::Fetch() {
  const std::string what = "GET " + UrlForLog(spec_.url);
  HttpRequest request;
  request.url = spec_.url;
  request.timeout_s = spec_.timeout_s;
  if (spec_.kind == FeedKind::kElectricityMaps && !spec_.token.empty())
    request.headers.push_back({"auth-token", spec_.token});
  // A secret in a header goes to the URL's host only: libcurl would send a custom header on
  // to wherever a redirect points.
  if (!request.headers.empty() || spec_.kind == FeedKind::kWattTime) request.max_redirects = 0;
  Result<HttpResponse> response = Status::Error("not fetched");
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (spec_.kind == FeedKind::kWattTime) {
      if (bearer_.empty()) GS_RETURN_IF_ERROR(Login());
      request.headers = {{"Authorization", "Bearer " + bearer_}};
    }
    response = get_(request);
    if (!response.ok()) return response.status();
    // A WattTime token expires after 30 minutes: refused once, log in again.
    if (spec_.kind == FeedKind::kWattTime && response->status == 401 && attempt == 0) {
      bearer_.clear();
      continue;
    }
    break;
  }
  if (response->status != 200) return StatusOf(*response, what);
  Result<FeedData> data = ParseFeedBody(spec_, response->body, UrlForLog(spec_.url));
  if (!data.ok()) return Status::Error(data.error());
  return Fetched{std::move(response->body), std::move(*data)};
}

WeatherSeries MergeWeather(const WeatherSeries& old, const WeatherSeries& fresh, int64_t keep_s) {
  if (old.size() == 0 || fresh.size() == 0) return fresh;
  const int64_t old_step = StepOf(old.time_utc_s), fresh_step = StepOf(fresh.time_utc_s);
  if (old_step != 0 && fresh_step != 0 && old_step != fresh_step) return fresh;
  // Not a structured binding: clang 14 (the fuzz build) refuses one captured by a lambda.
  const std::pair<size_t, size_t> kept =
      KeptBefore(old.time_utc_s, fresh.time_utc_s.front(), keep_s);
  const size_t first = kept.first, end = kept.second;
  if (first == end) return fresh;
  WeatherSeries merged = fresh;
  auto prefix = [&](const auto& column) {
    return std::vector(column.begin() + static_cast<std::ptrdiff_t>(first),
                       column.begin() + static_cast<std::ptrdiff_t>(end));
  };
  merged.time_utc_s = prefix(old.time_utc_s);
  merged.time_utc_s.insert(merged.time_utc_s.end(), fresh.time_utc_s.begin(),
                           fresh.time_utc_s.end());
  for (std::vector<double> WeatherSeries::*column : WeatherColumns()) {
    const std::vector<double>& a = old.*column;
    const std::vector<double>& b = fresh.*column;
    std::vector<double>& out = merged.*column;
    // A column one of them lacks (clear-sky irradiance only some sources give) is left out.
    if (a.size() != old.size() || b.size() != fresh.size()) {
      out.clear();
      continue;
    }
    out = prefix(a);
    out.insert(out.end(), b.begin(), b.end());
  }
  return merged;
}

CarbonSeries MergeCarbon(const CarbonSeries& old, const CarbonSeries& fresh, int64_t keep_s) {
  if (old.time_utc_s.empty() || fresh.time_utc_s.empty()) return fresh;
  const auto [first, end] = KeptBefore(old.time_utc_s, fresh.time_utc_s.front(), keep_s);
  CarbonSeries merged = fresh;
  const auto from = static_cast<std::ptrdiff_t>(first), to = static_cast<std::ptrdiff_t>(end);
  merged.time_utc_s.assign(old.time_utc_s.begin() + from, old.time_utc_s.begin() + to);
  merged.g_per_kwh.assign(old.g_per_kwh.begin() + from, old.g_per_kwh.begin() + to);
  merged.time_utc_s.insert(merged.time_utc_s.end(), fresh.time_utc_s.begin(),
                           fresh.time_utc_s.end());
  merged.g_per_kwh.insert(merged.g_per_kwh.end(), fresh.g_per_kwh.begin(), fresh.g_per_kwh.end());
  return merged;
}

}  // namespace greenshift::energy
