#include "lab/http_load.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>

#include "core/clock.h"
#include "core/socket.h"
#include "core/stats.h"

namespace greenshift::lab {

namespace {

enum class Outcome { kOk, kConnect, kTimeout, kStatus, kLength };

struct Attempt {
  Outcome outcome = Outcome::kOk;
  size_t body_length = 0;
  std::string error;
};

Attempt OneRequest(const sockaddr_in& address, const std::string& request,
                   std::chrono::milliseconds timeout, std::string* body = nullptr) {
  Attempt attempt;
  const SteadyTime deadline = SteadyNow() + timeout;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return {Outcome::kConnect, 0, std::string("socket: ") + std::strerror(errno)};
  auto finish = [&](Outcome outcome, std::string error) {
    close(fd);
    attempt.outcome = outcome;
    attempt.error = std::move(error);
    return attempt;
  };
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 &&
      errno != EINPROGRESS) {
    return finish(Outcome::kConnect, std::string("connect: ") + std::strerror(errno));
  }
  if (!WaitForFd(fd, POLLOUT, deadline)) return finish(Outcome::kTimeout, "connect timed out");
  int so_error = 0;
  socklen_t length = sizeof so_error;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &length);
  if (so_error != 0)
    return finish(Outcome::kConnect, std::string("connect: ") + std::strerror(so_error));
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!WaitForFd(fd, POLLOUT, deadline)) return finish(Outcome::kTimeout, "send timed out");
    } else {
      return finish(Outcome::kConnect, std::string("send: ") + std::strerror(errno));
    }
  }
  std::string response;
  char buffer[8192];
  while (true) {
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n > 0) {
      response.append(buffer, static_cast<size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno == EAGAIN || errno == EINTR) {
      if (!WaitForFd(fd, POLLIN, deadline)) return finish(Outcome::kTimeout, "response timed out");
    } else {
      return finish(Outcome::kConnect, std::string("recv: ") + std::strerror(errno));
    }
  }
  close(fd);
  const size_t head_end = response.find("\r\n\r\n");
  if (response.compare(0, 5, "HTTP/") != 0 || head_end == std::string::npos) {
    return {Outcome::kStatus, 0, "malformed response"};
  }
  const size_t space = response.find(' ');
  const int status = std::atoi(response.c_str() + space + 1);
  if (status < 200 || status > 299) {
    return {Outcome::kStatus, 0, "HTTP status " + std::to_string(status)};
  }
  attempt.body_length = response.size() - head_end - 4;
  if (body) *body = response.substr(head_end + 4);
  return attempt;
}

}  // namespace

Result<ParsedUrl> ParseHttpUrl(const std::string& url) {
  const std::string scheme = "http://";
  if (url.compare(0, scheme.size(), scheme) != 0) {
    return Status::Error("URL '" + url + "' must start with http://");
  }
  ParsedUrl parsed;
  std::string rest = url.substr(scheme.size());
  const size_t slash = rest.find('/');
  if (slash != std::string::npos) {
    parsed.path = rest.substr(slash);
    rest = rest.substr(0, slash);
  }
  const size_t colon = rest.find(':');
  if (colon != std::string::npos) {
    parsed.port = std::atoi(rest.c_str() + colon + 1);
    rest = rest.substr(0, colon);
    if (parsed.port <= 0 || parsed.port > 65535)
      return Status::Error("URL '" + url + "' has a bad port");
  }
  in_addr probe{};
  if (inet_pton(AF_INET, rest.c_str(), &probe) != 1) {
    return Status::Error("URL '" + url + "': host must be an IPv4 address");
  }
  parsed.host = rest;
  return parsed;
}

namespace {

sockaddr_in AddressOf(const ParsedUrl& url) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(url.port));
  inet_pton(AF_INET, url.host.c_str(), &address.sin_addr);
  return address;
}

std::string RequestFor(const ParsedUrl& url) {
  return "GET " + url.path + " HTTP/1.0\r\nHost: " + url.host +
         "\r\nUser-Agent: greenshift-probe\r\nAccept: */*\r\n\r\n";
}

}  // namespace

Result<std::string> HttpGet(const std::string& url_text, std::chrono::milliseconds timeout) {
  Result<ParsedUrl> url = ParseHttpUrl(url_text);
  if (!url.ok()) return url.status();
  std::string body;
  Attempt attempt = OneRequest(AddressOf(*url), RequestFor(*url), timeout, &body);
  if (attempt.outcome != Outcome::kOk)
    return Status::Error("GET " + url_text + ": " + attempt.error);
  return body;
}

Result<HttpLoadResult> RunHttpLoad(const HttpLoadOptions& options) {
  Result<ParsedUrl> url = ParseHttpUrl(options.url);
  if (!url.ok()) return url.status();
  if (options.concurrency < 1 || options.requests < 1) {
    return Status::Error("http load: concurrency and requests must be at least 1");
  }
  const sockaddr_in address = AddressOf(*url);
  const std::string request = RequestFor(*url);

  HttpLoadResult result;
  result.requests = options.requests;
  std::atomic<int> next{0};
  std::mutex mutex;
  std::vector<double> latencies;
  latencies.reserve(static_cast<size_t>(options.requests));
  long first_length = -1;
  const SteadyTime start = SteadyNow();
  const SteadyTime give_up = start + options.max_duration;

  auto worker = [&]() {
    while (next.fetch_add(1) < options.requests) {
      if ((options.stop && options.stop->load()) || SteadyNow() >= give_up) break;
      const SteadyTime sent = SteadyNow();
      Attempt attempt = OneRequest(address, request, options.timeout);
      const double latency = MillisBetween(sent, SteadyNow());
      std::lock_guard<std::mutex> lock(mutex);
      if (attempt.outcome == Outcome::kOk) {
        if (first_length < 0) first_length = static_cast<long>(attempt.body_length);
        if (static_cast<long>(attempt.body_length) != first_length) {
          attempt.outcome = Outcome::kLength;
          attempt.error = "body of " + std::to_string(attempt.body_length) + " bytes, first was " +
                          std::to_string(first_length);
        }
      }
      switch (attempt.outcome) {
        case Outcome::kOk:
          ++result.completed;
          latencies.push_back(latency);
          continue;
        case Outcome::kConnect:
          ++result.failed_connect;
          break;
        case Outcome::kTimeout:
          ++result.failed_timeout;
          break;
        case Outcome::kStatus:
          ++result.failed_status;
          break;
        case Outcome::kLength:
          ++result.failed_length;
          break;
      }
      ++result.failed;
      if (result.first_error.empty()) result.first_error = attempt.error;
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < options.concurrency; ++i) threads.emplace_back(worker);
  for (std::thread& thread : threads) thread.join();

  result.duration_ms = MillisBetween(start, SteadyNow());
  result.requests_per_s =
      result.duration_ms > 0 ? result.completed * 1000.0 / result.duration_ms : 0;
  result.latency_p50_ms = Percentile(latencies, 50);
  result.latency_p90_ms = Percentile(latencies, 90);
  result.latency_p99_ms = Percentile(latencies, 99);
  result.latency_max_ms = Percentile(latencies, 100);
  result.latency_mean_ms = Mean(latencies);
  return result;
}

nlohmann::json ToJson(const HttpLoadResult& result) {
  return {{"requests", result.requests},
          {"completed", result.completed},
          {"failed", result.failed},
          {"failed_connect", result.failed_connect},
          {"failed_timeout", result.failed_timeout},
          {"failed_status", result.failed_status},
          {"failed_length", result.failed_length},
          {"duration_ms", result.duration_ms},
          {"requests_per_s", result.requests_per_s},
          {"latency_ms",
           {{"p50", result.latency_p50_ms},
            {"p90", result.latency_p90_ms},
            {"p99", result.latency_p99_ms},
            {"max", result.latency_max_ms},
            {"mean", result.latency_mean_ms}}},
          {"first_error", result.first_error.empty() ? nlohmann::json(nullptr)
                                                     : nlohmann::json(result.first_error)}};
}

}  // namespace greenshift::lab
