// ICMP echo prober, as the talk measured migrations: one echo request every interval, and what
// came back. Needs root (raw socket). Runs in the calling thread's network namespace.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace greenshift::lab {

struct PingOptions {
  std::string target;  // IPv4 address
  std::chrono::milliseconds interval{10};
  std::chrono::milliseconds duration{std::chrono::seconds(10)};  // upper bound; always stops
  std::chrono::milliseconds reply_timeout{1000};  // a reply later than this counts as lost
  const std::atomic<bool>* stop = nullptr;        // stop sending early when set
};

struct PingSample {
  double sent_ms;  // since the first request
  double rtt_ms;   // -1 when lost
};

struct PingResult {
  std::string target;
  int sent = 0;
  int received = 0;
  int lost = 0;
  // Longest time between two consecutive answered requests (by send time): with no loss it is
  // the interval; a migration's blackout shows here.
  double longest_gap_ms = 0;
  // Longest time without an answer arriving (by arrival time, send time + round trip): a ping to
  // a paused guest that is answered late, once it runs again, shows here and not as a gap. With
  // no loss and steady round trips it is the interval; what the guest's users saw of a pause.
  double longest_silence_ms = 0;
  double rtt_min_ms = 0, rtt_avg_ms = 0, rtt_p99_ms = 0, rtt_max_ms = 0;
  std::vector<PingSample> timeline;
};

// Summarises a timeline (pure; RunPing uses it, tests call it directly).
PingResult SummarisePing(const std::string& target, double interval_ms,
                         std::vector<PingSample> timeline);

Result<PingResult> RunPing(const PingOptions& options);

nlohmann::json ToJson(const PingResult& result, bool with_timeline);

}  // namespace greenshift::lab
