// /metrics in the Prometheus text format (0.0.4): what the engine, the observer, the store's
// recorder and the API know, as gauges, counters and histograms. Labels come from the config
// (sites, sensors) and a fixed set of routes and outcomes: nothing a client sends becomes a
// label, so no client can grow the page without bound.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "control/engine.h"
#include "control/feeds.h"
#include "control/store_recorder.h"

namespace greenshift::api {

// A label value, escaped: backslash, double quote and newline.
std::string MetricLabel(const std::string& value);

struct MetricsInput {
  const control::EngineStatus* status = nullptr;
  const std::vector<control::SiteView>* sites = nullptr;
  const std::vector<control::SensorView>* sensors = nullptr;
  const control::ObserverCounters* readings = nullptr;
  const std::vector<std::pair<std::string, bool>>* sources = nullptr;
  const control::StoreHealth* store = nullptr;
  bool store_up = true;
  const std::map<std::pair<std::string, int>, int64_t>* requests = nullptr;
  const std::vector<control::FeedView>* feeds = nullptr;  // none when null
};

std::string RenderMetrics(const MetricsInput& in);

}  // namespace greenshift::api
