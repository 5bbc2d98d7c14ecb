#include "lab/ping_probe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/clock.h"
#include "core/stats.h"

namespace greenshift::lab {

namespace {

uint16_t Checksum(const void* data, size_t length) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < length; i += 2)
    sum += static_cast<uint32_t>(bytes[i] << 8 | bytes[i + 1]);
  if (length % 2) sum += static_cast<uint32_t>(bytes[length - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(static_cast<uint16_t>(~sum));
}

}  // namespace

PingResult SummarisePing(const std::string& target, double interval_ms,
                         std::vector<PingSample> timeline) {
  PingResult result;
  result.target = target;
  result.sent = static_cast<int>(timeline.size());
  std::vector<double> rtts;
  double last_answered = -1;
  for (const PingSample& sample : timeline) {
    if (sample.rtt_ms < 0) continue;
    rtts.push_back(sample.rtt_ms);
    if (last_answered >= 0) {
      result.longest_gap_ms = std::max(result.longest_gap_ms, sample.sent_ms - last_answered);
    }
    last_answered = sample.sent_ms;
  }
  std::vector<double> arrivals;
  for (const PingSample& sample : timeline) {
    if (sample.rtt_ms >= 0) arrivals.push_back(sample.sent_ms + sample.rtt_ms);
  }
  std::sort(arrivals.begin(), arrivals.end());
  for (size_t i = 1; i < arrivals.size(); ++i)
    result.longest_silence_ms = std::max(result.longest_silence_ms, arrivals[i] - arrivals[i - 1]);
  // Loss at the very end (or everything lost) counts as a gap too, and as silence.
  if (!timeline.empty()) {
    const double end = timeline.back().sent_ms + interval_ms;
    const double from = last_answered >= 0 ? last_answered : timeline.front().sent_ms - interval_ms;
    if (timeline.back().rtt_ms < 0) {
      result.longest_gap_ms = std::max(result.longest_gap_ms, end - from);
      const double heard = arrivals.empty() ? from : std::max(from, arrivals.back());
      result.longest_silence_ms = std::max(result.longest_silence_ms, end - heard);
    }
  }
  result.received = static_cast<int>(rtts.size());
  result.lost = result.sent - result.received;
  if (!rtts.empty()) {
    result.rtt_min_ms = *std::min_element(rtts.begin(), rtts.end());
    result.rtt_max_ms = *std::max_element(rtts.begin(), rtts.end());
    result.rtt_avg_ms = Mean(rtts);
    result.rtt_p99_ms = Percentile(rtts, 99);
  }
  result.timeline = std::move(timeline);
  return result;
}

Result<PingResult> RunPing(const PingOptions& options) {
  in_addr target{};
  if (inet_pton(AF_INET, options.target.c_str(), &target) != 1) {
    return Status::Error("ping: '" + options.target + "' is not an IPv4 address");
  }
  if (options.interval.count() <= 0) return Status::Error("ping: interval must be positive");
  const int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (fd < 0) {
    return Status::Error(std::string("ping: cannot open a raw ICMP socket (needs root): ") +
                         std::strerror(errno));
  }
  sockaddr_in destination{};
  destination.sin_family = AF_INET;
  destination.sin_addr = target;
  const uint16_t identifier = static_cast<uint16_t>(getpid() & 0xffff);

  std::vector<PingSample> timeline;
  std::vector<SteadyTime> sent_at;
  const SteadyTime start = SteadyNow();
  const SteadyTime send_until = start + options.duration;
  SteadyTime next_send = start;
  SteadyTime receive_until = send_until + options.reply_timeout;
  bool sending = true;
  while (true) {
    const SteadyTime now = SteadyNow();
    if (sending && (now >= send_until || (options.stop && options.stop->load()))) {
      sending = false;
      receive_until = now + options.reply_timeout;
    }
    if (!sending) {
      const bool all_answered = std::none_of(timeline.begin(), timeline.end(),
                                             [](const PingSample& s) { return s.rtt_ms < 0; });
      if (now >= receive_until || all_answered) break;
    }
    if (sending && now >= next_send) {
      const uint16_t sequence = static_cast<uint16_t>(timeline.size() & 0xffff);
      uint8_t packet[64] = {};
      auto* header = reinterpret_cast<icmphdr*>(packet);
      header->type = ICMP_ECHO;
      header->un.echo.id = htons(identifier);
      header->un.echo.sequence = htons(sequence);
      header->checksum = Checksum(packet, sizeof packet);
      (void)sendto(fd, packet, sizeof packet, 0, reinterpret_cast<sockaddr*>(&destination),
                   sizeof destination);
      timeline.push_back({MillisBetween(start, now), -1});
      sent_at.push_back(now);
      next_send += options.interval;
      if (next_send < now) next_send = now + options.interval;  // do not burst after a stall
    }
    const SteadyTime wake = sending ? std::min(next_send, send_until) : receive_until;
    const auto wait_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(wake - SteadyNow()).count();
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(std::max<int64_t>(0, wait_ms))) <= 0) continue;
    uint8_t reply[1500];
    sockaddr_in from{};
    socklen_t from_length = sizeof from;
    const ssize_t n =
        recvfrom(fd, reply, sizeof reply, 0, reinterpret_cast<sockaddr*>(&from), &from_length);
    const SteadyTime received_at = SteadyNow();
    if (n < static_cast<ssize_t>(sizeof(iphdr) + sizeof(icmphdr))) continue;
    if (from.sin_addr.s_addr != target.s_addr) continue;
    const auto* ip = reinterpret_cast<const iphdr*>(reply);
    const size_t ip_length = static_cast<size_t>(ip->ihl) * 4;
    if (static_cast<size_t>(n) < ip_length + sizeof(icmphdr)) continue;
    const auto* header = reinterpret_cast<const icmphdr*>(reply + ip_length);
    if (header->type != ICMP_ECHOREPLY || ntohs(header->un.echo.id) != identifier) continue;
    // Map the 16-bit sequence back to the newest request with that sequence.
    const uint16_t sequence = ntohs(header->un.echo.sequence);
    for (size_t i = timeline.size(); i-- > 0;) {
      if ((i & 0xffff) != sequence) continue;
      const double rtt = MillisBetween(sent_at[i], received_at);
      if (timeline[i].rtt_ms < 0 && rtt <= static_cast<double>(options.reply_timeout.count())) {
        timeline[i].rtt_ms = rtt;
      }
      break;
    }
  }
  close(fd);
  return SummarisePing(options.target, static_cast<double>(options.interval.count()),
                       std::move(timeline));
}

nlohmann::json ToJson(const PingResult& result, bool with_timeline) {
  nlohmann::json j = {{"target", result.target},
                      {"sent", result.sent},
                      {"received", result.received},
                      {"lost", result.lost},
                      {"longest_gap_ms", result.longest_gap_ms},
                      {"longest_silence_ms", result.longest_silence_ms},
                      {"rtt_min_ms", result.rtt_min_ms},
                      {"rtt_avg_ms", result.rtt_avg_ms},
                      {"rtt_p99_ms", result.rtt_p99_ms},
                      {"rtt_max_ms", result.rtt_max_ms}};
  if (with_timeline) {
    nlohmann::json timeline = nlohmann::json::array();
    for (const PingSample& sample : result.timeline) {
      timeline.push_back({sample.sent_ms, sample.rtt_ms < 0 ? nlohmann::json(nullptr)
                                                            : nlohmann::json(sample.rtt_ms)});
    }
    j["timeline"] = timeline;
  }
  return j;
}

}  // namespace greenshift::lab
