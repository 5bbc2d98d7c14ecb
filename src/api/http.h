// What the HTTP server hands the API and gets back: plain values, so the API's routes are
// tested (and fuzzed) without a socket, and the server knows nothing of the routes.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace greenshift::api {

struct Request {
  std::string method;  // GET, POST, ...
  std::string path;    // percent-decoded; may hold any bytes (it is never trusted)
  std::map<std::string, std::string> query;  // decoded; the first of a repeated name
  std::vector<std::pair<std::string, std::string>> query_pairs;  // all of them, in order
  std::string authorization;                                     // the Authorization header
  std::string content_type;
  std::string body;
  std::string peer;  // the client's address, for logs
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Splits "path?query" and percent-decodes both ('+' is a space in the query). Malformed escapes
// are kept as they are.
void ParseTarget(const std::string& target, std::string* path,
                 std::map<std::string, std::string>* query,
                 std::vector<std::pair<std::string, std::string>>* pairs = nullptr);

}  // namespace greenshift::api
