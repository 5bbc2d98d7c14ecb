#include "hypervisor/driver.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "core/stats.h"

namespace greenshift::hypervisor {

const char* VmStateName(VmState state) {
  switch (state) {
    case VmState::kRunning:
      return "running";
    case VmState::kPaused:
      return "paused";
    case VmState::kMigrating:
      return "migrating";
    case VmState::kStopped:
      return "stopped";
    case VmState::kUnknown:
      break;
  }
  return "unknown";
}

const char* MigrationModeName(MigrationMode mode) {
  return mode == MigrationMode::kLive ? "live" : "offline";
}

const char* MigrationPhaseName(MigrationPhase phase) {
  switch (phase) {
    case MigrationPhase::kSetup:
      return "setup";
    case MigrationPhase::kDiskCopy:
      return "disk-copy";
    case MigrationPhase::kCopying:
      return "copying";
    case MigrationPhase::kSwitchover:
      return "switchover";
    case MigrationPhase::kPostcopy:
      return "post-copy";
    case MigrationPhase::kCompleted:
      return "completed";
    case MigrationPhase::kFailed:
      return "failed";
    case MigrationPhase::kCancelled:
      return "cancelled";
  }
  return "setup";
}

const char* DiskCopyModeName(DiskCopyMode mode) {
  switch (mode) {
    case DiskCopyMode::kAuto:
      return "auto";
    case DiskCopyMode::kBackground:
      return "background";
    case DiskCopyMode::kWriteBlocking:
      return "write-blocking";
  }
  return "auto";
}

const char* PostcopyPolicyName(PostcopyPolicy policy) {
  return policy == PostcopyPolicy::kWhenStuck ? "when-stuck" : "never";
}

const char* MigrationEventKindName(MigrationEventKind kind) {
  switch (kind) {
    case MigrationEventKind::kPhase:
      return "phase";
    case MigrationEventKind::kPass:
      return "pass";
    case MigrationEventKind::kPaused:
      return "paused";
    case MigrationEventKind::kResumed:
      return "resumed";
    case MigrationEventKind::kDiskSwitched:
      return "disk-switched";
  }
  return "phase";
}

std::vector<std::string> Capabilities::Names() const {
  std::vector<std::string> names;
  const std::pair<bool, const char*> all[] = {{live_migration, "live"},
                                              {offline_migration, "offline"},
                                              {auto_converge, "auto-converge"},
                                              {post_copy, "post-copy"},
                                              {downtime_limit, "downtime-limit"},
                                              {bandwidth_limit, "bandwidth-limit"},
                                              {disk_copy, "disk-copy"},
                                              {dirty_rate, "dirty-rate"},
                                              {cancel, "cancel"},
                                              {recovery, "recovery"},
                                              {adopt, "adopt"},
                                              {switchover_hooks, "switchover-hooks"},
                                              {delta_encoding, "delta-encoding"}};
  for (const auto& [has, name] : all) {
    if (has) names.push_back(name);
  }
  return names;
}

std::pair<double, double> CopyWindow(const MigrationResult& result) {
  double copying = -1, completed = -1;
  for (const MigrationEvent& e : result.events) {
    if (e.host != result.from || e.kind != MigrationEventKind::kPhase) continue;
    if (e.detail == MigrationPhaseName(MigrationPhase::kCopying) && copying < 0) copying = e.at_ms;
    if (e.detail == MigrationPhaseName(MigrationPhase::kCompleted)) completed = e.at_ms;
  }
  return {copying, completed};
}

double ResentWireFraction(const MigrationResult& result) {
  if (result.resent_page_bytes <= 0 || result.resent_wire_bytes < 0) return -1;
  return std::min(1.0, static_cast<double>(result.resent_wire_bytes) /
                           static_cast<double>(result.resent_page_bytes));
}

int64_t DeltaCacheBytes(int memory_mib) {
  const int64_t most = std::min<int64_t>(int64_t{64} << 20, (int64_t{memory_mib} << 20) / 4);
  int64_t size = 4096;  // QEMU's smallest: a page
  while (size * 2 <= most) size *= 2;
  return size;
}

std::pair<int64_t, int64_t> ResentBetween(const DeltaCounters& before, const DeltaCounters& after,
                                          int64_t page_bytes) {
  auto counted = [](int64_t was, int64_t is) {
    is = std::max<int64_t>(is, 0);
    return is >= was ? is - was : is;
  };
  const int64_t encoded = counted(before.encoded_pages, after.encoded_pages);
  const int64_t whole =
      counted(before.cache_misses, after.cache_misses) + counted(before.overflows, after.overflows);
  return {(encoded + whole) * page_bytes,
          counted(before.encoded_bytes, after.encoded_bytes) + whole * page_bytes};
}

std::optional<std::string> PrecopyStuck(int pass, int64_t remaining_bytes,
                                        int64_t previous_remaining_bytes) {
  if (pass < 3 || previous_remaining_bytes <= 0 ||
      remaining_bytes * 10 <= previous_remaining_bytes * 8)
    return std::nullopt;
  // In MiB with one decimal: a hot set below a MiB still reads as what it is.
  auto mib = [](int64_t bytes) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f", static_cast<double>(bytes) / (1 << 20));
    return std::string(text);
  };
  return "pass " + std::to_string(pass) + " began with " + mib(remaining_bytes) +
         " MiB to send, the pass before with " + mib(previous_remaining_bytes) +
         " MiB: pre-copy was not converging";
}

double MedianCopyRate(const std::vector<CopyReading>& readings, double span_ms, size_t min_spans) {
  std::vector<double> rates;
  size_t begin = 0;
  for (size_t i = 1; i < readings.size(); ++i) {
    const double ms = readings[i].at_ms - readings[begin].at_ms;
    if (ms < span_ms || ms <= 0) continue;
    const int64_t bytes = std::max<int64_t>(0, readings[i].done_bytes - readings[begin].done_bytes);
    rates.push_back(static_cast<double>(bytes) * 1000.0 / ms);
    begin = i;
  }
  if (rates.empty() || rates.size() < min_spans) return 0;
  return Median(std::move(rates));
}

nlohmann::json ToJson(const MigrationResult& result) {
  auto number_or_null = [](double value) -> nlohmann::json {
    if (value < 0) return nullptr;
    return value;
  };
  nlohmann::json events = nlohmann::json::array();
  for (const MigrationEvent& event : result.events) {
    events.push_back({{"at_ms", event.at_ms},
                      {"host", event.host},
                      {"event", MigrationEventKindName(event.kind)},
                      {"detail", event.detail}});
  }
  nlohmann::json j = {
      {"vm", result.vm},
      {"from", result.from},
      {"to", result.to},
      {"mode", MigrationModeName(result.mode)},
      {"status", result.completed ? "completed" : "failed"},
      {"running_on",
       result.running_on.empty() ? nlohmann::json(nullptr) : nlohmann::json(result.running_on)},
      {"error", result.completed ? nlohmann::json(nullptr) : nlohmann::json(result.error)},
      {"total_ms", result.total_ms},
      {"downtime_ms", number_or_null(result.downtime_ms)},
      {"paused_ms", number_or_null(result.paused_ms)},
      {"setup_ms", number_or_null(result.setup_ms)},
      {"bytes", result.bytes},
      {"zero_bytes",
       result.zero_bytes < 0 ? nlohmann::json(nullptr) : nlohmann::json(result.zero_bytes)},
      {"resent_page_bytes", result.resent_page_bytes < 0
                                ? nlohmann::json(nullptr)
                                : nlohmann::json(result.resent_page_bytes)},
      {"resent_wire_bytes", result.resent_wire_bytes < 0
                                ? nlohmann::json(nullptr)
                                : nlohmann::json(result.resent_wire_bytes)},
      {"passes", result.passes},
      {"downtime_target_ms", result.downtime_target_ms < 0
                                 ? nlohmann::json(nullptr)
                                 : nlohmann::json(result.downtime_target_ms)},
      {"mbps", result.mbps},
      {"tuning", result.tuning},
      {"hypervisor_status", result.hypervisor_status},
      {"events", events},
  };
  if (result.postcopy) {
    j["postcopy"] = {{"reason", result.postcopy_reason},
                     {"blocktime_ms", number_or_null(result.postcopy_blocktime_ms)},
                     {"recoveries", result.postcopy_recoveries}};
  } else {
    j["postcopy"] = nullptr;
  }
  if (!result.disk_copy_mode.empty()) {
    j["disk"] = {{"bytes", result.disk_bytes},
                 {"copy_ms", number_or_null(result.disk_copy_ms)},
                 {"rate_bytes_s", number_or_null(result.disk_rate_bytes_s)},
                 {"copy_mode", result.disk_copy_mode}};
    if (!result.disk_compare.empty()) j["disk"]["compare_at_switchover"] = result.disk_compare;
    if (!result.disk_left_behind.empty()) j["disk"]["left_behind"] = result.disk_left_behind;
  }
  return j;
}

}  // namespace greenshift::hypervisor
