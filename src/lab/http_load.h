// HTTP load generator, equivalent to `ab -c C -n N`: C connections at a time, N requests in all,
// a new TCP connection per request (HTTP/1.0, like ab without -k). A request fails when it cannot
// connect, times out, gets a non-2xx status, or a body whose length differs from the first
// response's (ab's "Length" failures).
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace greenshift::lab {

struct HttpLoadOptions {
  std::string url;  // http://IPv4[:port]/path
  int concurrency = 5;
  int requests = 10000;
  std::chrono::milliseconds timeout{10000};                          // per request
  std::chrono::milliseconds max_duration{std::chrono::minutes(10)};  // bound on the whole run
  const std::atomic<bool>* stop = nullptr;
};

struct HttpLoadResult {
  int requests = 0;  // asked for
  int completed = 0;
  int failed = 0;
  int failed_connect = 0, failed_timeout = 0, failed_status = 0, failed_length = 0;
  double duration_ms = 0;
  double requests_per_s = 0;
  double latency_p50_ms = 0, latency_p90_ms = 0, latency_p99_ms = 0, latency_max_ms = 0;
  double latency_mean_ms = 0;
  std::string first_error;  // the first failure's reason, for the operator
};

struct ParsedUrl {
  std::string host;
  int port = 80;
  std::string path = "/";
};
Result<ParsedUrl> ParseHttpUrl(const std::string& url);

Result<HttpLoadResult> RunHttpLoad(const HttpLoadOptions& options);

// One GET; returns the body of a 2xx response.
Result<std::string> HttpGet(const std::string& url, std::chrono::milliseconds timeout);

nlohmann::json ToJson(const HttpLoadResult& result);

}  // namespace greenshift::lab
