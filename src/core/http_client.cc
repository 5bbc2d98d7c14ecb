#include "core/http_client.h"

#include <curl/curl.h>

#include <cmath>
#include <mutex>

namespace greenshift {

namespace {

// curl_global_init is not thread-safe; once, before the first handle.
void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Sink {
  std::string* body;
  size_t max;
  bool too_big = false;
};

size_t Write(char* data, size_t size, size_t count, void* user) {
  Sink* sink = static_cast<Sink*>(user);
  const size_t n = size * count;
  if (sink->body->size() + n > sink->max) {
    sink->too_big = true;
    return 0;  // curl stops with CURLE_WRITE_ERROR
  }
  sink->body->append(data, n);
  return n;
}

long Ms(double s) {
  return static_cast<long>(std::llround(std::max(0.001, s) * 1000));
}

}  // namespace

std::string UrlForLog(const std::string& url) {
  std::string out = url;
  const size_t cut = out.find_first_of("?#");
  if (cut != std::string::npos) out.resize(cut);
  // user:password@ between the scheme and the host
  const size_t scheme = out.find("://");
  const size_t host = scheme == std::string::npos ? 0 : scheme + 3;
  const size_t path = out.find('/', host);
  const size_t at = out.find('@', host);
  if (at != std::string::npos && (path == std::string::npos || at < path))
    out.erase(host, at + 1 - host);
  return out;
}

std::string BodyExcerpt(const std::string& body, size_t max) {
  std::string out;
  for (char c : body) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    const unsigned char u = static_cast<unsigned char>(c);
    if (c == '\n' || c == '\r' || c == '\t') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += (u >= 0x20 && u < 0x7f) ? c : '?';
    }
  }
  return out;
}

Result<HttpResponse> HttpGet(const HttpRequest& request) {
  const std::string where = "GET " + UrlForLog(request.url);
  if (request.url.rfind("http://", 0) != 0 && request.url.rfind("https://", 0) != 0)
    return Status::Invalid(where + ": only http:// and https:// URLs are fetched");
  GlobalInit();
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return Status::Error(where + ": libcurl could not make a handle");
  HttpResponse response;
  Sink sink{&response.body, request.max_body_bytes};
  char error[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  for (const auto& [name, value] : request.headers)
    headers = curl_slist_append(headers, (name + ": " + value).c_str());
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, request.max_redirects > 0 ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, static_cast<long>(request.max_redirects));
  // Threads: no signals for timeouts (the resolver's alarm would hit any thread).
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, Ms(request.timeout_s));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, Ms(request.connect_timeout_s));
  curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");  // whatever libcurl decodes
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "greenshift");
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Write);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  if (headers != nullptr) curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  if (!request.basic_user.empty()) {
    curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(curl, CURLOPT_USERNAME, request.basic_user.c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD, request.basic_password.c_str());
  }
  const CURLcode code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  char* type = nullptr;
  if (curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type) == CURLE_OK && type != nullptr)
    response.content_type = type;
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (code == CURLE_OK) return response;
  std::string why;
  if (sink.too_big) {
    why = "the body is larger than " + std::to_string(request.max_body_bytes) + " bytes";
  } else if (code == CURLE_OPERATION_TIMEDOUT) {
    why = "no complete answer within " + std::to_string(Ms(request.timeout_s)) + " ms (" +
          (error[0] ? error : curl_easy_strerror(code)) + ")";
  } else if (code == CURLE_PARTIAL_FILE || code == CURLE_RECV_ERROR) {
    why = "the body was cut short after " + std::to_string(response.body.size()) + " bytes (" +
          (error[0] ? error : curl_easy_strerror(code)) + ")";
  } else {
    why = error[0] ? error : curl_easy_strerror(code);
  }
  return Status::Unavailable(where + ": " + why);
}

}  // namespace greenshift
