// Live feeds: a site's weather forecast and its grid's carbon intensity fetched from the services
// that publish them, instead of read from a file an operator downloaded.
//
// A FeedClient fetches and parses one feed, once per call; when and how often, the retries, the
// cache and staleness are its caller's (control/feeds.h). New data is merged into what came
// before (MergeWeather, MergeCarbon), so that a carbon series grows a history from "latest"
// readings and a forecast keeps the hours it has already passed.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/http_client.h"
#include "core/status.h"
#include "energy/carbon.h"
#include "energy/weather.h"

namespace greenshift::energy {

enum class FeedKind {
  kOpenMeteo,        // weather: Open-Meteo's forecast (or archive) API, any documented shape
  kElectricityMaps,  // carbon: Electricity Maps' API (latest, history, past-range, forecast)
  kWattTime,         // carbon: WattTime's v3 API (forecast, historical), after its login
  kCarbonCsv,        // carbon: a CSV export at a URL (Electricity Maps', EIA-930 derived)
};
// "open-meteo", "electricity-maps", "watttime", "csv".
const char* FeedKindName(FeedKind kind);
Result<FeedKind> FeedKindNamed(const std::string& name);
inline bool IsWeatherFeed(FeedKind kind) {
  return kind == FeedKind::kOpenMeteo;
}

struct FeedSpec {
  FeedKind kind = FeedKind::kOpenMeteo;
  std::string url;
  std::string token;           // electricity-maps: sent as the auth-token header
  std::string user, password;  // watttime: the login's basic authentication
  std::string login_url;       // watttime: where the login is (default: the url's origin/login)
  // open-meteo: a response with several locations is read at the one nearest to this.
  double near_latitude_deg = NAN, near_longitude_deg = NAN;
  double timeout_s = 20;  // each request
};

struct FeedData {
  WeatherSeries weather;  // open-meteo
  CarbonSeries carbon;    // the others
};

// A body of `spec.kind`; `source` names it in errors.
Result<FeedData> ParseFeedBody(const FeedSpec& spec, std::string_view body,
                               const std::string& source);

// One feed. Not thread-safe: one thread uses a client (it keeps WattTime's token, which lasts
// 30 minutes, between fetches).
class FeedClient {
 public:
  FeedClient(FeedSpec spec, HttpGetFn get);
  const FeedSpec& spec() const { return spec_; }

  struct Fetched {
    std::string body;  // as received (what a cache keeps)
    FeedData data;
  };
  // One try (and, for WattTime, a login first when there is no token, and once again when the
  // token is refused). Errors name the URL (without its query) and say what went wrong:
  // unavailable for what may pass (no connection, a timeout, a body cut short, HTTP 429 or 5xx);
  // invalid for what will not pass by itself (HTTP 4xx: a wrong URL, zone or token); error for
  // a body that does not parse.
  Result<Fetched> Fetch();

 private:
  Status Login();
  FeedSpec spec_;
  HttpGetFn get_;
  std::string bearer_;  // WattTime's token
};

// `fresh` with the part of `old` that comes before it (at most `keep_s` before fresh's first
// step) in front; `old` after fresh's start is replaced (a newer forecast supersedes). When the
// two have different steps, `fresh` alone.
WeatherSeries MergeWeather(const WeatherSeries& old, const WeatherSeries& fresh, int64_t keep_s);
CarbonSeries MergeCarbon(const CarbonSeries& old, const CarbonSeries& fresh, int64_t keep_s);

}  // namespace greenshift::energy
