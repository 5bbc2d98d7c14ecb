#include "hypervisor/driver.h"

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

nlohmann::json ToJson(const MigrationResult& result) {
  auto number_or_null = [](double value) -> nlohmann::json {
    if (value < 0) return nullptr;
    return value;
  };
  nlohmann::json events = nlohmann::json::array();
  for (const MigrationEvent& event : result.events) {
    events.push_back({{"at_ms", event.at_ms},
                      {"site", event.site},
                      {"event", event.name},
                      {"detail", event.detail}});
  }
  return {
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
      {"passes", result.passes},
      {"mbps", result.mbps},
      {"tuning", result.tuning},
      {"events", events},
  };
}

}  // namespace greenshift::hypervisor
