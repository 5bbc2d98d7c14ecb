// An HTTP(S) GET for the live feeds (weather forecasts, grid carbon intensity), on libcurl.
//
// Contract: one call is one request, with its own connection; calls from several threads at
// once are safe. A transport failure (the name does not resolve, the connection is refused or
// times out, the body is cut short or larger than allowed, TLS fails) is an error of kind
// unavailable whose message names the URL (without its query, which may hold a key) and what
// happened. An HTTP status is not an error here: the caller reads `status` (a 401 and a 503 mean
// different things to it).
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace greenshift {

struct HttpRequest {
  std::string url;  // http:// or https:// only
  std::vector<std::pair<std::string, std::string>> headers;
  // HTTP basic authentication when `basic_user` is set (WattTime's login).
  std::string basic_user, basic_password;
  double timeout_s = 20;          // the whole request, body included
  double connect_timeout_s = 10;  // of that, connecting (name, TCP, TLS)
  size_t max_body_bytes = 32u << 20;
  int max_redirects = 3;  // followed to http(s) only
};

struct HttpResponse {
  long status = 0;
  std::string body;
  std::string content_type;
};

// One GET. See the contract above.
Result<HttpResponse> HttpGet(const HttpRequest& request);

// How a feed fetches: HttpGet, or another function with its contract (the tests' counting one).
using HttpGetFn = std::function<Result<HttpResponse>(const HttpRequest&)>;

// `url` as logs and errors may show it: scheme, host, port and path, without user, password,
// query or fragment ("https://api.electricitymap.org/v3/carbon-intensity/latest").
std::string UrlForLog(const std::string& url);

// At most `max` characters of a response body for an error message, on one line, with bytes
// that are not printable ASCII shown as '?'.
std::string BodyExcerpt(const std::string& body, size_t max = 200);

}  // namespace greenshift
