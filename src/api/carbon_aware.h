// The Carbon Aware SDK's web API (Green Software Foundation), answered from greenshift's own
// grid carbon data and forecasts, so tools written for that SDK can ask greenshift: its sites
// are the SDK's locations. The same paths, parameters and JSON shapes as the SDK's WebApi:
//   GET /emissions/bylocations?location=a&location=b&time=T&toTime=T2
//       every data point of each site's carbon intensity from `time` (default: now) to `toTime`
//       (default: `time`): [{"location","time","rating","duration":"hh:mm:ss"}]; 204 if none.
//   GET /emissions/bylocations/best   the same parameters: the points with the lowest rating.
//   GET /emissions/forecasts/current?location=a&dataStartAt=&dataEndAt=&windowSize=MINUTES
//       the service's latest forecast per site, scoped to [dataStartAt, dataEndAt), averaged
//       over rolling windows of `windowSize` (default: one point): [{"generatedAt",
//       "requestedAt","location","dataStartAt","dataEndAt","windowSize","optimalDataPoints",
//       "forecastData"}], each data point {"location","timestamp","duration" (minutes),"value"}.
// A bad parameter is 400 with the SDK's ValidationProblemDetails body ({"title","status",
// "errors":{"<parameter>":["why"]}}).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "control/config.h"
#include "control/forecaster.h"
#include "control/inputs.h"

namespace greenshift::api {

// The query as sent, every name=value pair in order (the SDK repeats `location`).
using QueryPairs = std::vector<std::pair<std::string, std::string>>;

struct CarbonAwareData {
  const control::ServiceConfig& config;
  const control::Inputs& inputs;      // each site's carbon series (or constant)
  const control::Forecast* forecast;  // the latest; null before the first tick
  int64_t now_ms = 0;
  int64_t slot_s = 3600;  // the engine's slot (for sites without a series)
};

struct CarbonAwareAnswer {
  int status = 200;  // 200, 204 (no data), 400 (a bad parameter), 503 (no forecast yet)
  std::string body;
};

// `best`: /emissions/bylocations/best rather than /emissions/bylocations.
CarbonAwareAnswer EmissionsByLocations(const CarbonAwareData& data, const QueryPairs& query,
                                       bool best);
CarbonAwareAnswer CurrentForecasts(const CarbonAwareData& data, const QueryPairs& query);

}  // namespace greenshift::api
