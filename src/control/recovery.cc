#include "control/recovery.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace greenshift::control {

using nlohmann::json;

Result<RecoveryReport> Recover(Engine& engine, store::Store& store, hypervisor::Driver& driver,
                               Recorder& recorder, const StartVmFn& start,
                               std::chrono::milliseconds timeout) {
  RecoveryReport report;
  const placement::Problem& problem = engine.problem();
  const int64_t now = engine.NowMs();
  Fleet& fleet = engine.fleet();

  // The sensors continue from their newest stored readings: a reading sent again is known.
  Result<std::vector<store::StoredReading>> newest = store.NewestReadings();
  if (!newest.ok()) return newest.status().Context("reading the sensors' newest readings");
  engine.observer().Seed(*newest);

  for (size_t v = 0; v < problem.vms.size(); ++v) {
    const std::string& name = problem.vms[v].name;
    Result<hypervisor::VmInfo> info = driver.GetVm(name);
    if (!info.ok() && !info.status().IsNotFound())
      return info.status().Context("asking the driver for VM '" + name + "'");
    if (!info.ok()) {
      int host = engine.home_host(v);
      if (host < 0) host = fleet.PickHost(v, static_cast<size_t>(engine.home_site(v)));
      if (host < 0)
        return Status::Unavailable("VM '" + name + "' runs nowhere and no host of its site " +
                                   problem.sites[static_cast<size_t>(engine.home_site(v))].name +
                                   " has the memory for it");
      const std::string& location = fleet.hosts().driver_location[static_cast<size_t>(host)];
      GS_RETURN_IF_ERROR(start(v, location)
                             .Context("starting VM '" + name + "' on host " +
                                      fleet.hosts().names[static_cast<size_t>(host)]));
      recorder.Event(
          LogLevel::kInfo, "vm",
          "started VM " + name + " on host " + fleet.hosts().names[static_cast<size_t>(host)], now);
      ++report.vms_started;
      continue;
    }
    if (info->state == hypervisor::VmState::kMigrating || info->copies.size() > 1) {
      Result<hypervisor::VmInfo> settled = driver.Recover(name, timeout);
      if (!settled.ok()) return settled.status().Context("settling VM '" + name + "'");
      recorder.Event(LogLevel::kWarning, "reconcile",
                     "VM " + name + " was left in a migration; it runs on " + settled->host, now);
      ++report.vms_settled;
    }
  }
  Result<std::vector<hypervisor::VmInfo>> listed = driver.ListVms();
  if (!listed.ok()) return listed.status().Context("listing the VMs");
  fleet.Refresh(*listed);
  const std::vector<VmPlace> places = fleet.Snapshot();
  auto found_at = [&](const std::string& vm) -> std::string {
    const int v = engine.VmIndex(vm);
    if (v < 0 || places[static_cast<size_t>(v)].site < 0) return "nowhere";
    return problem.sites[static_cast<size_t>(places[static_cast<size_t>(v)].site)].name;
  };

  // Moves the last run left: a running one ended however the driver settled it; a queued one
  // never started and is dropped (the next plan decides afresh).
  for (const char* state : {"running", "queued"}) {
    Result<std::vector<store::MoveRecord>> moves = store.Moves(100000, state);
    if (!moves.ok()) return moves.status();
    for (store::MoveRecord move : *moves) {
      const bool was_running = move.state == "running";
      const std::string found = found_at(move.vm);
      if (!was_running) {
        move.state = "cancelled";
        move.result = json{{"note", "the service restarted before the move started"}}.dump();
        ++report.moves_cancelled;
      } else if (found == move.to_site) {
        move.state = "completed";
        move.result = json{
            {"note",
             "the service stopped during the migration; it completed "
             "(found on " +
                 found + " after the restart)"},
            {"reconciled",
             true}}.dump();
        ++report.moves_completed;
      } else {
        move.state = "interrupted";
        move.result = json{
            {"note",
             "the service stopped during the migration; the VM was found "
             "on " +
                 found + " after the restart"},
            {"reconciled",
             true}}.dump();
        ++report.moves_interrupted;
      }
      move.finished_utc_ms = now;
      GS_RETURN_IF_ERROR(store.UpdateMove(move));
      recorder.Event(LogLevel::kWarning, "reconcile",
                     "move " + std::to_string(move.id) + " of " + move.vm + " " + move.from_site +
                         " -> " + move.to_site + ": " + move.state,
                     now);
    }
  }
  GS_RETURN_IF_ERROR(recorder.SupersedePending());
  // When each VM last arrived somewhere, for the dwell time.
  Result<std::vector<store::MoveRecord>> done = store.Moves(100000, "completed");
  if (!done.ok()) return done.status();
  for (const store::MoveRecord& move : *done) {
    const int v = engine.VmIndex(move.vm);
    if (v >= 0 && move.finished_utc_ms > 0)
      fleet.SetLastMove(static_cast<size_t>(v), move.finished_utc_ms / engine.slot_ms());
  }
  return report;
}

}  // namespace greenshift::control
