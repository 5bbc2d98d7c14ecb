// The HTTP server in front of the API, built for clients that are slow, broken or hostile
// (Boost.Beast on Boost.Asio, from Debian; TLS through OpenSSL when a certificate is configured):
//   - connections are handled asynchronously: a slow client holds a connection, never a thread;
//   - the head of each request must arrive within `header_timeout`, the whole request within
//     `request_timeout`, a keep-alive connection may idle for `idle_timeout`;
//   - at most `max_connections` at once: when full, the connection that has waited longest for
//     a request head is closed to make room (a flood of idle connections cannot lock others out);
//   - heads larger than `max_header_bytes` are refused (431); a body is read only once the API
//     admitted the request on its head (route, method, token, Content-Length within the route's
//     limit), and never beyond that limit (413);
//   - no Range support, so no multi-range amplification: every answer is the whole body;
//   - it binds without SO_REUSEPORT: a second server on the same port fails to start.
// The API's handlers run on a pool of worker threads, not on the network threads.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "api/api.h"
#include "core/status.h"

namespace greenshift::api {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port
  int max_connections = 256;
  int network_threads = 2;
  int worker_threads = 16;
  std::chrono::milliseconds header_timeout{5000};
  std::chrono::milliseconds request_timeout{15000};
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds write_timeout{15000};
  size_t max_header_bytes = 16 * 1024;
  std::string tls_cert, tls_key;  // PEM files; HTTPS when both are set
};

class HttpServer {
 public:
  HttpServer(ServerOptions options, Api& api);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving. Errors (the port is taken, not an address of this machine, a
  // certificate that cannot be loaded) name what was wrong.
  Status Start();
  int port() const;
  bool tls() const;
  // Closes the listener and every connection, and waits for the threads.
  void Stop();

  struct Impl;  // the connections' state, in server.cc (public only so its sessions see it)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace greenshift::api
