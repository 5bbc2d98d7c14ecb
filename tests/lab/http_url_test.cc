#include <gtest/gtest.h>

#include "lab/http_load.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

namespace greenshift::lab {
namespace {

TEST(HttpUrlTest, ParsesHostPortAndPath) {
  Result<ParsedUrl> url = ParseHttpUrl("http://198.18.128.10:8080/status");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->host, "198.18.128.10");
  EXPECT_EQ(url->port, 8080);
  EXPECT_EQ(url->path, "/status");
  Result<ParsedUrl> plain = ParseHttpUrl("http://198.18.128.10");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->port, 80);
  EXPECT_EQ(plain->path, "/");
}

TEST(HttpUrlTest, RejectsWhatItCannotLoad) {
  EXPECT_NE(ParseHttpUrl("https://198.18.0.1/").error().find("http://"), std::string::npos);
  EXPECT_NE(ParseHttpUrl("http://example.org/").error().find("IPv4"), std::string::npos);
  EXPECT_NE(ParseHttpUrl("http://198.18.0.1:99999/").error().find("port"), std::string::npos);
}

// A loopback server that answers `count` connections; every third body is longer when `vary`.
class LoopbackServer {
 public:
  LoopbackServer(int count, bool vary) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    listen(fd_, 64);
    socklen_t length = sizeof address;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this, count, vary]() {
      for (int i = 0; i < count; ++i) {
        const int client = accept(fd_, nullptr, nullptr);
        if (client < 0) return;
        char buffer[1024];
        (void)!read(client, buffer, sizeof buffer);
        const std::string body = (vary && i % 3 == 2) ? "hello, longer\n" : "hello\n";
        const std::string response =
            "HTTP/1.0 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
        (void)!write(client, response.data(), response.size());
        close(client);
      }
    });
  }
  ~LoopbackServer() {
    thread_.join();
    close(fd_);
  }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

TEST(HttpLoadTest, CountsCompletedRequestsAndLatencies) {
  LoopbackServer server(60, false);
  HttpLoadOptions options;
  options.url = server.Url();
  options.concurrency = 3;
  options.requests = 60;
  Result<HttpLoadResult> result = RunHttpLoad(options);
  ASSERT_TRUE(result.ok()) << result.error();
  EXPECT_EQ(result->completed, 60);
  EXPECT_EQ(result->failed, 0);
  EXPECT_GT(result->latency_p99_ms, 0);
  EXPECT_GE(result->latency_max_ms, result->latency_p50_ms);
}

TEST(HttpLoadTest, ABodyOfAnotherLengthFailsLikeAb) {
  LoopbackServer server(30, true);
  HttpLoadOptions options;
  options.url = server.Url();
  options.concurrency = 1;  // sequential, so the first body is the short one
  options.requests = 30;
  Result<HttpLoadResult> result = RunHttpLoad(options);
  ASSERT_TRUE(result.ok()) << result.error();
  EXPECT_EQ(result->failed_length, 10);
  EXPECT_EQ(result->completed, 20);
  EXPECT_NE(result->first_error.find("first was 6"), std::string::npos) << result->first_error;
}

TEST(HttpLoadTest, RefusedConnectionsFail) {
  HttpLoadOptions options;
  options.url = "http://127.0.0.1:1/";  // nothing listens on port 1
  options.requests = 4;
  Result<HttpLoadResult> result = RunHttpLoad(options);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->failed_connect, 4);
  EXPECT_EQ(result->completed, 0);
}

}  // namespace
}  // namespace greenshift::lab
