// The lab guest's HTTP server (port 80). Every response has the same length, so that Apache
// Bench does not count responses as "failed (length)": the status line's numbers are zero-padded.
//   GET /        an HTML page with the status line
//   GET /status  just the status line: name, uptime in seconds, requests served so far, and the
//                last disk record the disk workload has on the disk and its run (0 without one)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace {

unsigned long long requests_served = 0;

std::string StatusLine(const std::string& name) {
  timespec now{};
  clock_gettime(CLOCK_BOOTTIME, &now);
  const double uptime = static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
  unsigned long long disk_acked = 0, disk_run = 0;
  if (FILE* acked = std::fopen("/tmp/gs-disk.acked", "r")) {
    if (std::fscanf(acked, "%llu %llx", &disk_acked, &disk_run) != 2) disk_acked = disk_run = 0;
    std::fclose(acked);
  }
  char line[240];
  std::snprintf(line, sizeof line,
                "name=%s uptime_s=%012.3f requests=%012llu disk_acked=%012llu disk_run=%016llx\n",
                name.c_str(), uptime, requests_served, disk_acked, disk_run);
  return line;
}

void Respond(int fd, const std::string& name) {
  // Read the request head (bounded in size and time); only the path matters.
  char request[2048];
  size_t used = 0;
  while (used < sizeof request - 1) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0) return;
    const ssize_t n = read(fd, request + used, sizeof request - 1 - used);
    if (n <= 0) return;
    used += static_cast<size_t>(n);
    request[used] = '\0';
    if (std::strstr(request, "\r\n\r\n") || std::strstr(request, "\n\n")) break;
  }
  ++requests_served;
  const bool status_only = std::strncmp(request, "GET /status", 11) == 0;
  std::string body;
  if (status_only) {
    body = StatusLine(name);
  } else {
    body = "<!doctype html>\n<html><head><title>greenshift guest " + name +
           "</title></head>\n<body><h1>greenshift guest " + name +
           "</h1>\n<p>This page is served by a virtual machine that greenshift moves to the site "
           "with the most green power.</p>\n<pre>" +
           StatusLine(name) + "</pre>\n</body></html>\n";
  }
  const std::string head =
      "HTTP/1.0 200 OK\r\nContent-Type: " + std::string(status_only ? "text/plain" : "text/html") +
      "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  const std::string response = head + body;
  size_t sent = 0;
  while (sent < response.size()) {
    const ssize_t n = write(fd, response.data() + sent, response.size() - sent);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string name = argc > 1 ? argv[1] : "guest";
  signal(SIGPIPE, SIG_IGN);
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(80);
  address.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      listen(listener, 256) != 0) {
    std::perror("gs-httpd: bind/listen on port 80");
    return 1;
  }
  while (true) {
    const int fd = accept(listener, nullptr, nullptr);
    if (fd < 0) continue;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    Respond(fd, name);
    close(fd);
  }
}
