// The REST API, the dashboard and /metrics, over the engine and the store. Reads are open; every
// change (readings pushed by sensors, plan approvals and rejections, manual moves) needs the
// bearer token. Errors are JSON {"error": "..."} with the status that fits the error's kind:
// 400 malformed, 401 no or wrong token, 404 unknown site/sensor/VM/plan, 409 conflicts with the
// state, 413 too large, 422 a value that cannot be, 503 a dependency (the store) is down.
//
// Transport-free: the HTTP server (server.h) calls Admit with the request's head, before it
// reads a body, then Handle. No input makes Handle throw or end the process; a request that
// would is a 500 with a JSON body.
//
// Thread safety: Admit, Handle and Metrics may run on many threads at once.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "api/http.h"
#include "control/config.h"
#include "control/engine.h"
#include "control/feeds.h"
#include "control/store_recorder.h"
#include "store/store.h"

namespace greenshift::api {

class Api {
 public:
  Api(const control::ServiceConfig& config, store::Store& store, control::StoreRecorder& recorder,
      control::Engine& engine);

  // Before the body is read: the answer when the request must be refused on its head alone (an
  // unknown route or method, a missing or wrong token, a body larger than the route takes), or
  // nothing when the server may read the body and call Handle.
  std::optional<Response> Admit(const std::string& method, const std::string& path,
                                const std::string& authorization, uint64_t content_length);
  Response Handle(const Request& request);
  // The live feeds the health page and the metrics show (none until set); `feeds` outlives
  // the Api.
  void SetFeeds(const control::FeedRunner* feeds) { feeds_ = feeds; }
  // The metrics page (Prometheus text format 0.0.4).
  std::string Metrics();
  // Counts a response the server made itself (a timeout, a malformed request, too many
  // connections), so that /metrics shows it.
  void CountServerResponse(int status);

 private:
  Response Route(const Request& request, std::string* route);
  void Count(const std::string& route, int status);

  const control::ServiceConfig& config_;
  store::Store& store_;
  control::StoreRecorder& recorder_;
  control::Engine& engine_;
  const control::FeedRunner* feeds_ = nullptr;
  std::mutex mutex_;
  std::map<std::pair<std::string, int>, int64_t> requests_;  // (route, status) -> count
};

// The most bytes of body a route takes: readings may come in batches, the rest is small.
uint64_t MaxBodyBytes(const std::string& method, const std::string& path);

}  // namespace greenshift::api
