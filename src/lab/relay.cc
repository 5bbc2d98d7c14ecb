#include "lab/relay.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/files.h"
#include "core/socket.h"

namespace greenshift::lab {

namespace {

// struct virtio_net_hdr (linux/virtio_net.h, which does not compile as C++): flags, gso_type,
// hdr_len, gso_size, csum_start, csum_offset.
constexpr size_t kVnetHeaderBytes = 10;
// A segmentation-offload frame is at most 64 KiB of IP plus its Ethernet and virtio headers.
constexpr size_t kMaxFrameBytes = 65536 + 256;
constexpr int64_t kNsPerMs = 1000 * 1000;
// The longest a direction sleeps with nothing due: how soon it notices the stop flag.
constexpr int64_t kIdleWaitNs = 100 * kNsPerMs;

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 * kNsPerMs + ts.tv_nsec;
}

std::string Errno(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

struct Endpoint {
  std::string name;
  unsigned index = 0;
  UniqueFd fd;
};

// A raw socket on one interface: every frame it receives (promiscuous, not the ones it sends
// itself), with its virtio-net header.
Result<Endpoint> OpenEndpoint(const std::string& name) {
  Endpoint endpoint;
  endpoint.name = name;
  endpoint.index = if_nametoindex(name.c_str());
  if (endpoint.index == 0) return Status::Error("relay: no interface " + name + " here");
  // Protocol 0 until bound: an ETH_P_ALL socket would take every interface's frames meanwhile.
  UniqueFd fd(socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return Status::Error(Errno("relay: packet socket for " + name));
  const int one = 1;
  if (setsockopt(fd.get(), SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) != 0)
    return Status::Error(Errno("relay: PACKET_VNET_HDR on " + name));
  if (setsockopt(fd.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) != 0)
    return Status::Error(Errno("relay: PACKET_IGNORE_OUTGOING on " + name));
  // Room for a burst while the thread is not scheduled (the lab's guests keep both CPUs busy).
  const int buffer = 16 << 20;
  (void)setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &buffer, sizeof buffer);
  (void)setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUFFORCE, &buffer, sizeof buffer);
  packet_mreq promiscuous{};
  promiscuous.mr_ifindex = static_cast<int>(endpoint.index);
  promiscuous.mr_type = PACKET_MR_PROMISC;
  if (setsockopt(fd.get(), SOL_PACKET, PACKET_ADD_MEMBERSHIP, &promiscuous, sizeof promiscuous) !=
      0)
    return Status::Error(Errno("relay: promiscuous mode on " + name));
  sockaddr_ll address{};
  address.sll_family = AF_PACKET;
  address.sll_protocol = htons(ETH_P_ALL);
  address.sll_ifindex = static_cast<int>(endpoint.index);
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
    return Status::Error(Errno("relay: bind to " + name));
  endpoint.fd = std::move(fd);
  return endpoint;
}

struct Counters {
  std::atomic<int64_t> frames{0}, bytes{0}, dropped_queue{0}, dropped_send{0}, max_queued_bytes{0};
  RelayDirectionStats Read() const {
    return {frames.load(), bytes.load(), dropped_queue.load(), dropped_send.load(),
            max_queued_bytes.load()};
  }
};

struct Shared {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> delay_ns{0};
  std::mutex mutex;
  std::string error;  // the first direction that ended on an error
  void Fail(const std::string& why) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (error.empty()) error = why;
    }
    stop = true;
  }
};

struct Frame {
  int64_t release_ns;
  std::vector<uint8_t> data;
};

// True when the interface still exists with the index the socket was bound to.
bool StillThere(const Endpoint& endpoint) {
  return if_nametoindex(endpoint.name.c_str()) == endpoint.index;
}

// One direction: frames received on `in` are sent on `out` once their release time has come.
void RunDirection(const Endpoint& in, const Endpoint& out, int64_t queue_limit_bytes,
                  Shared& shared, Counters& counters) {
  std::deque<Frame> queue;
  int64_t queued_bytes = 0;
  int64_t last_release_ns = 0;
  std::vector<uint8_t> buffer(kMaxFrameBytes);
  while (!shared.stop.load(std::memory_order_relaxed)) {
    int64_t now = NowNs();
    bool send_blocked = false;
    while (!queue.empty() && queue.front().release_ns <= now) {
      const Frame& frame = queue.front();
      const ssize_t sent = send(out.fd.get(), frame.data.data(), frame.data.size(), MSG_DONTWAIT);
      if (sent < 0 && errno == EINTR) continue;
      if (sent < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
        send_blocked = true;  // the far end's queue is full: try again in a moment
        break;
      }
      if (sent < 0) {
        // ENETDOWN and the like: the far end is down (lab link --down); the frame is lost as on
        // a cut cable. Gone altogether: the lab is being taken down.
        if (!StillThere(out)) return shared.Fail("relay: interface " + out.name + " is gone");
        counters.dropped_send.fetch_add(1, std::memory_order_relaxed);
      } else {
        counters.frames.fetch_add(1, std::memory_order_relaxed);
        counters.bytes.fetch_add(static_cast<int64_t>(frame.data.size() - kVnetHeaderBytes),
                                 std::memory_order_relaxed);
      }
      queued_bytes -= static_cast<int64_t>(frame.data.size());
      queue.pop_front();
    }

    int64_t wait_ns = kIdleWaitNs;
    if (send_blocked) {
      wait_ns = kNsPerMs / 10;
    } else if (!queue.empty()) {
      wait_ns = std::clamp<int64_t>(queue.front().release_ns - now, 0, kIdleWaitNs);
    }
    pollfd poll_fd{in.fd.get(), POLLIN, 0};
    const timespec timeout{static_cast<time_t>(wait_ns / (1000 * kNsPerMs)),
                           static_cast<long>(wait_ns % (1000 * kNsPerMs))};
    if (ppoll(&poll_fd, 1, &timeout, nullptr) < 0) {
      if (errno == EINTR) continue;
      return shared.Fail(Errno("relay: poll on " + in.name));
    }
    if (poll_fd.revents & POLLERR) {
      int error = 0;
      socklen_t length = sizeof error;
      (void)getsockopt(in.fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
      // ENETDOWN when the interface went down: it comes back with lab link --up.
      if (!StillThere(in)) return shared.Fail("relay: interface " + in.name + " is gone");
    }
    if (!(poll_fd.revents & POLLIN)) continue;
    // Take what is waiting (bounded, so releases due meanwhile are not held up).
    const int64_t delay_ns = shared.delay_ns.load(std::memory_order_relaxed);
    for (int i = 0; i < 256; ++i) {
      const ssize_t received = recv(in.fd.get(), buffer.data(), buffer.size(), MSG_TRUNC);
      if (received < 0) {
        if (errno == EAGAIN || errno == EINTR || errno == ENETDOWN) break;
        return shared.Fail(Errno("relay: receive on " + in.name));
      }
      now = NowNs();
      if (static_cast<size_t>(received) > buffer.size() ||
          static_cast<size_t>(received) <= kVnetHeaderBytes ||
          queued_bytes + received > queue_limit_bytes) {
        counters.dropped_queue.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      // Order is kept: a lowered delay never lets a frame overtake the one before it.
      const int64_t release_ns = std::max(now + delay_ns, last_release_ns);
      last_release_ns = release_ns;
      queue.push_back(
          {release_ns, std::vector<uint8_t>(buffer.begin(), buffer.begin() + received)});
      queued_bytes += received;
      if (queued_bytes > counters.max_queued_bytes.load(std::memory_order_relaxed))
        counters.max_queued_bytes.store(queued_bytes, std::memory_order_relaxed);
    }
  }
}

nlohmann::json ToJson(const RelayDirectionStats& s) {
  return {{"frames", s.frames},
          {"bytes", s.bytes},
          {"dropped_queue", s.dropped_queue},
          {"dropped_send", s.dropped_send},
          {"max_queued_bytes", s.max_queued_bytes}};
}

}  // namespace

Result<double> ParseRelayDelay(const std::string& text) {
  // Plain decimal only: strtod alone would take hex, exponents, "inf" and "nan" too.
  const size_t first = text.find_first_not_of(" \t\r\n");
  const size_t last = text.find_last_not_of(" \t\r\n");
  const std::string number = first == std::string::npos ? "" : text.substr(first, last - first + 1);
  const bool decimal = !number.empty() &&
                       number.find_first_not_of("0123456789.") == std::string::npos &&
                       std::count(number.begin(), number.end(), '.') <= 1 && number != ".";
  const double value = decimal ? std::strtod(number.c_str(), nullptr) : -1;
  if (!decimal || value > 10000) {
    return Status::Invalid("relay delay must be a number of milliseconds from 0 to 10000, got '" +
                           text + "'");
  }
  return value;
}

Status RunRelay(const RelayConfig& config, const std::function<Status()>& ready) {
  if (config.interface_a == config.interface_b)
    return Status::Invalid("relay: the two interfaces must differ");
  if (config.queue_limit_bytes < static_cast<int64_t>(kMaxFrameBytes))
    return Status::Invalid("relay: the queue limit must hold at least one 64 KiB frame");
  GS_RETURN_IF_ERROR(ParseRelayDelay(std::to_string(config.delay_ms)).status());
  Result<Endpoint> a = OpenEndpoint(config.interface_a);
  if (!a.ok()) return a.status();
  Result<Endpoint> b = OpenEndpoint(config.interface_b);
  if (!b.ok()) return b.status();
  // Blocked before `ready` (a fork keeps the mask): a SIGHUP sent the moment the pid file
  // exists must not end the relay. The directions inherit the mask; this thread takes them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  if (ready) GS_RETURN_IF_ERROR(ready());

  Shared shared;
  shared.delay_ns = std::llround(config.delay_ms * kNsPerMs);
  Counters a_to_b, b_to_a;
  std::thread forward([&] { RunDirection(*a, *b, config.queue_limit_bytes, shared, a_to_b); });
  std::thread backward([&] { RunDirection(*b, *a, config.queue_limit_bytes, shared, b_to_a); });

  auto write_stats = [&] {
    if (config.stats_file.empty()) return;
    const nlohmann::json stats = {
        {"interfaces", {config.interface_a, config.interface_b}},
        {"delay_ms", static_cast<double>(shared.delay_ns.load()) / kNsPerMs},
        {"queue_limit_bytes", config.queue_limit_bytes},
        {"a_to_b", ToJson(a_to_b.Read())},
        {"b_to_a", ToJson(b_to_a.Read())}};
    (void)WriteFileAtomic(config.stats_file, stats.dump() + "\n");
  };
  write_stats();
  const timespec second{1, 0};
  while (!shared.stop) {
    const int signal = sigtimedwait(&signals, nullptr, &second);
    if (signal == SIGTERM || signal == SIGINT) break;
    if (signal == SIGHUP && !config.delay_file.empty()) {
      Result<std::string> text = ReadFile(config.delay_file);
      Result<double> delay = text.ok() ? ParseRelayDelay(*text) : Result<double>(text.status());
      if (delay.ok()) {
        shared.delay_ns = std::llround(*delay * kNsPerMs);
      } else {
        std::fprintf(stderr, "greenshift relay: keeping the delay: %s\n",
                     delay.status().message().c_str());
      }
    }
    write_stats();
  }
  shared.stop = true;
  forward.join();
  backward.join();
  write_stats();
  std::lock_guard<std::mutex> lock(shared.mutex);
  if (!shared.error.empty()) return Status::Error(shared.error);
  return Status::Ok();
}

}  // namespace greenshift::lab
