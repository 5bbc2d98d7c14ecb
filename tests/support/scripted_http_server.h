// A local HTTP/1.1 server for tests of greenshift's HTTP clients (the live feeds): each path
// answers as the test scripts it (a body, a status, a delay, a body cut short, a connection
// closed without an answer), in order when several answers are given (the last one repeats);
// every request is recorded with its headers. Listens on 127.0.0.1 only, one thread per
// connection, all joined when it is destroyed.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace greenshift::testing {

class ScriptedHttpServer {
 public:
  struct Answer {
    int status = 200;
    std::string body;
    std::string content_type = "application/json";
    int delay_ms = 0;                      // before the answer (a slow or hung service)
    size_t cut_after = std::string::npos;  // send only this much of the body, then close
    bool close_at_once = false;            // close the connection without answering
    std::string location = {};             // a Location header (a redirect)
  };
  struct Seen {
    std::string target;                          // path and query
    std::map<std::string, std::string> headers;  // names in lower case
  };

  ScriptedHttpServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 16);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    accept_ = std::thread([this] { AcceptLoop(); });
  }
  ~ScriptedHttpServer() {
    stop_ = true;
    accept_.join();
    std::vector<std::thread> connections;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      connections.swap(connections_);
    }
    for (std::thread& t : connections) t.join();
    ::close(fd_);
  }
  ScriptedHttpServer(const ScriptedHttpServer&) = delete;
  ScriptedHttpServer& operator=(const ScriptedHttpServer&) = delete;

  int port() const { return port_; }
  std::string Url(const std::string& target) const {
    return "http://127.0.0.1:" + std::to_string(port_) + target;
  }
  // `key`: a path with its query (matched first) or without one.
  void Set(const std::string& key, Answer answer) { Script(key, {std::move(answer)}); }
  void Script(const std::string& key, std::vector<Answer> answers) {
    std::lock_guard<std::mutex> lock(mutex_);
    scripts_[key] = std::move(answers);
    served_[key] = 0;
  }
  std::vector<Seen> Requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return seen_;
  }
  size_t Count(const std::string& path) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<size_t>(std::count_if(seen_.begin(), seen_.end(), [&](const Seen& s) {
      return s.target.substr(0, s.target.find('?')) == path;
    }));
  }

 private:
  void AcceptLoop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      std::lock_guard<std::mutex> lock(mutex_);
      connections_.emplace_back([this, client] { Serve(client); });
    }
  }

  bool Pause(int ms) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!stop_ && std::chrono::steady_clock::now() < end)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return !stop_;
  }

  void Serve(int client) {
    std::string request;
    char buffer[4096];
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536 && !stop_) {
      pollfd p{client, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const ssize_t n = ::recv(client, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      request.append(buffer, static_cast<size_t>(n));
    }
    Seen seen;
    const size_t line_end = request.find("\r\n");
    const std::string line = request.substr(0, line_end);
    const size_t a = line.find(' '), b = line.rfind(' ');
    if (a != std::string::npos && b > a) seen.target = line.substr(a + 1, b - a - 1);
    for (size_t at = line_end; at != std::string::npos && at + 2 < request.size();) {
      const size_t next = request.find("\r\n", at + 2);
      const std::string header = request.substr(at + 2, next - at - 2);
      const size_t colon = header.find(':');
      if (colon != std::string::npos) {
        std::string name = header.substr(0, colon);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string value = header.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        seen.headers[name] = value;
      }
      at = next;
    }
    Answer answer{404, "{\"error\":\"no such path in this test\"}"};
    {
      std::lock_guard<std::mutex> lock(mutex_);
      seen_.push_back(seen);
      std::string key = seen.target;
      if (!scripts_.count(key)) key = key.substr(0, key.find('?'));
      auto it = scripts_.find(key);
      if (it != scripts_.end() && !it->second.empty()) {
        size_t& served = served_[key];
        answer = it->second[std::min(served, it->second.size() - 1)];
        ++served;
      }
    }
    if (answer.delay_ms > 0 && !Pause(answer.delay_ms)) {
      ::close(client);
      return;
    }
    if (!answer.close_at_once) {
      std::string head = "HTTP/1.1 " + std::to_string(answer.status) +
                         " X\r\nContent-Type: " + answer.content_type +
                         "\r\nContent-Length: " + std::to_string(answer.body.size()) +
                         "\r\nConnection: close\r\n" +
                         (answer.location.empty() ? "" : "Location: " + answer.location + "\r\n") +
                         "\r\n";
      const std::string out = head + answer.body.substr(0, answer.cut_after);
      size_t sent = 0;
      while (sent < out.size()) {
        const ssize_t n = ::send(client, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<size_t>(n);
      }
    }
    ::shutdown(client, SHUT_RDWR);
    ::close(client);
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread accept_;
  mutable std::mutex mutex_;
  std::vector<std::thread> connections_;
  std::map<std::string, std::vector<Answer>> scripts_;
  std::map<std::string, size_t> served_;
  std::vector<Seen> seen_;
};

}  // namespace greenshift::testing
