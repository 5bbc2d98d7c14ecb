#include "hypervisor/sim/sim_driver.h"

#include <algorithm>
#include <cmath>
#include <thread>

#include "migration/precopy.h"

namespace greenshift::hypervisor {

SimDriver::SimDriver(SimDriverConfig config) : config_(std::move(config)) {
  const size_t n = config_.hosts.size();
  for (size_t s = 0; s < n; ++s) host_index_.emplace(config_.hosts[s], static_cast<int>(s));
  bandwidth_bytes_s_.assign(n * n, config_.bandwidth_bytes_s);
  for (const auto& [link, bandwidth] : config_.link_bandwidth_bytes_s) {
    const int from = HostIndex(link.first), to = HostIndex(link.second);
    if (from >= 0 && to >= 0) bandwidth_bytes_s_[static_cast<size_t>(from) * n + to] = bandwidth;
  }
}

Capabilities SimDriver::GetCapabilities() const {
  // The model covers pre-copy (with its tuning), post-copy when pre-copy is stuck,
  // stop-and-copy and disks copied along. A simulated migration ends with the process that runs
  // it: nothing is ever left for Recover to settle. Its VMs are the ones it was given.
  Capabilities c;
  c.offline_migration = true;
  c.live_migration = c.auto_converge = c.downtime_limit = c.post_copy = config_.live_migration;
  c.bandwidth_limit = true;  // the model runs at the lower of the link and the cap
  c.dirty_rate = c.cancel = true;
  c.disk_copy = true;
  c.delta_encoding = config_.live_migration;  // at each VM's resent_wire_fraction (1: whole)
  return c;
}

int SimDriver::HostIndex(const std::string& host) const {
  auto it = host_index_.find(host);
  return it == host_index_.end() ? -1 : it->second;
}

SimDriver::Vm* SimDriver::Find(const std::string& name) {
  auto it = vms_.find(name);
  return it == vms_.end() ? nullptr : &it->second;
}

Result<migration::PrecopyPrediction> SimDriver::Predict(const migration::PrecopyInput& input,
                                                        bool live, bool postcopy) {
  const Key key{input.memory_bytes,
                input.working_set_bytes,
                input.dirty_rate_bytes_s,
                input.bandwidth_bytes_s,
                input.downtime_limit_s,
                input.auto_converge,
                live,
                input.disk_bytes,
                input.disk_write_rate_bytes_s,
                postcopy,
                input.resent_wire_fraction};
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = predictions_.find(key);
  if (it == predictions_.end()) {
    it = predictions_
             .emplace(key, !live      ? migration::PredictStopAndCopy(input)
                           : postcopy ? migration::PredictPostcopy(input)
                                      : migration::PredictPrecopy(input))
             .first;
  }
  return it->second;
}

Status SimDriver::StartVm(const SimVm& vm, const std::string& host) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!KnownHost(host)) return Status::NotFound("no host is named '" + host + "'");
  if (vms_.count(vm.spec.name))
    return Status::Conflict("a VM named '" + vm.spec.name + "' already exists");
  if (vm.spec.memory_mib <= 0 || vm.dirty_mb_s < 0 || vm.disk_used_bytes < 0 ||
      vm.disk_write_mb_s < 0 || !(vm.resent_wire_fraction > 0 && vm.resent_wire_fraction <= 1))
    return Status::Invalid("VM '" + vm.spec.name +
                           "': memory must be > 0; dirty rate and disk figures >= 0; the wire "
                           "share of a page sent again in (0, 1]");
  Vm v;
  v.info.spec = vm.spec;
  v.info.host = host;
  v.info.state = VmState::kRunning;
  v.info.copies = {host};
  v.dirty_mb_s = vm.dirty_mb_s;
  v.working_set_mib = vm.working_set_mib;
  v.disk_used_bytes = vm.disk_used_bytes;
  v.disk_write_mb_s = vm.disk_write_mb_s;
  v.resent_wire_fraction = vm.resent_wire_fraction;
  vms_.emplace(vm.spec.name, std::move(v));
  return Status::Ok();
}

Status SimDriver::StopVm(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = vms_.find(name);
  if (it == vms_.end()) return Status::NotFound("no VM is named '" + name + "'");
  if (it->second.info.state == VmState::kMigrating)
    return Status::Conflict("VM '" + name + "' is migrating: cancel the migration first");
  vms_.erase(it);
  return Status::Ok();
}

Result<std::vector<VmInfo>> SimDriver::ListVms() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<VmInfo> out;
  for (const auto& [name, vm] : vms_) out.push_back(vm.info);
  std::sort(out.begin(), out.end(),
            [](const VmInfo& a, const VmInfo& b) { return a.spec.name < b.spec.name; });
  return out;
}

Result<VmInfo> SimDriver::GetVm(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  const Vm* vm = Find(name);
  if (vm == nullptr) return Status::NotFound("no VM is named '" + name + "'");
  return vm->info;
}

void SimDriver::FailMigrations(bool fail) {
  std::lock_guard<std::mutex> lock(mutex_);
  fail_ = fail;
}

MigrationResult SimDriver::Migrate(const std::string& name, const std::string& to_host,
                                   const MigrationOptions& options,
                                   const ProgressCallback& progress) {
  MigrationResult result;
  result.vm = name;
  result.to = to_host;
  result.mode = options.mode;
  result.tuning = "sim";
  if (options.mode == MigrationMode::kLive && !config_.live_migration) {
    result.error = "these hosts cannot migrate a VM live (only stopped)";
    return result;
  }
  migration::PrecopyInput input;
  Vm* vm = nullptr;  // stable: map nodes stay put, and a migrating VM is not stopped
  VmInfo* info = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    vm = Find(name);
    if (vm == nullptr) {
      result.error = "no VM is named '" + name + "'";
      return result;
    }
    info = &vm->info;
    result.from = result.running_on = info->host;
    const int to = HostIndex(to_host), from = HostIndex(info->host);
    if (to < 0) {
      result.error = "no host is named '" + to_host + "'";
      return result;
    }
    if (info->host == to_host) {
      result.error = "VM '" + name + "' already runs on host " + to_host;
      return result;
    }
    if (info->state != VmState::kRunning) {
      result.error = "VM '" + name + "' is " + VmStateName(info->state) + ", not running";
      return result;
    }
    info->state = VmState::kMigrating;
    input.memory_bytes = int64_t{info->spec.memory_mib} << 20;
    input.dirty_rate_bytes_s = vm->dirty_mb_s * 1e6;
    input.working_set_bytes = vm->working_set_mib > 0 ? int64_t{vm->working_set_mib} << 20 : -1;
    input.bandwidth_bytes_s =
        from >= 0 ? bandwidth_bytes_s_[static_cast<size_t>(from) * config_.hosts.size() +
                                       static_cast<size_t>(to)]
                  : config_.bandwidth_bytes_s;
    if (options.max_bandwidth_bytes_s > 0)  // a cap below the link's bandwidth slows it down
      input.bandwidth_bytes_s =
          std::min(input.bandwidth_bytes_s, static_cast<double>(options.max_bandwidth_bytes_s));
    input.downtime_limit_s = options.downtime_limit_ms / 1000.0;
    input.auto_converge = options.auto_converge;
    input.disk_bytes = vm->disk_used_bytes;
    input.disk_write_rate_bytes_s = vm->disk_write_mb_s * 1e6;
    input.resent_wire_fraction = vm->resent_wire_fraction;
  }
  const bool live = options.mode == MigrationMode::kLive;
  const bool postcopy =
      live && options.postcopy == hypervisor::PostcopyPolicy::kWhenStuck && config_.live_migration;
  Result<migration::PrecopyPrediction> predicted = Predict(input, live, postcopy);
  std::string error;
  if (!predicted.ok()) {
    error = predicted.error();
  } else if (!predicted->converges) {
    error = "the migration would not converge: " + predicted->reason;
  } else if (!config_.instant) {
    // Take the model's time, in steps, so a cancel is seen.
    const double wall_s = predicted->total_s / std::max(config_.speed, 1e-9);
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(wall_s);
    while (std::chrono::steady_clock::now() < end) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      std::lock_guard<std::mutex> lock(mutex_);
      if (cancel_.erase(name) || (options.cancel_requested && options.cancel_requested->load())) {
        error = "migration was cancelled";
        break;
      }
    }
  }
  if (error.empty() && progress) {
    MigrationProgress p;
    p.phase = MigrationPhase::kCompleted;
    p.transferred_bytes = predicted->bytes_sent;
    p.elapsed_ms = predicted->total_s * 1000;
    progress(p);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (error.empty() && fail_) error = "the link to host " + to_host + " is down";
  info->state = VmState::kRunning;
  result.events.reserve(5);  // a simulated year makes millions of these timelines
  auto event = [&result](double at_ms, const std::string& host, MigrationEventKind kind,
                         const std::string& detail) {
    result.events.push_back({at_ms, host, kind, detail});
  };
  event(0, result.from, MigrationEventKind::kPhase, MigrationPhaseName(MigrationPhase::kSetup));
  if (!error.empty()) {
    result.error = error;
    event(0, result.from, MigrationEventKind::kPhase,
          MigrationPhaseName(error.find("cancel") != std::string::npos ? MigrationPhase::kCancelled
                                                                       : MigrationPhase::kFailed));
    return result;
  }
  // The model's timeline: copying from the start, the guest paused for the downtime at the end.
  const double total_ms = predicted->total_s * 1000, pause_ms = predicted->downtime_s * 1000;
  event(0, result.from, MigrationEventKind::kPhase, MigrationPhaseName(MigrationPhase::kCopying));
  event(total_ms - pause_ms, result.from, MigrationEventKind::kPaused, "");
  event(total_ms, to_host, MigrationEventKind::kResumed, "");
  event(total_ms, result.from, MigrationEventKind::kPhase,
        MigrationPhaseName(MigrationPhase::kCompleted));
  info->host = to_host;
  info->copies.assign(1, to_host);
  result.completed = true;
  result.running_on = to_host;
  result.total_ms = predicted->total_s * 1000;
  result.downtime_ms = result.paused_ms = predicted->downtime_s * 1000;
  result.bytes = predicted->bytes_sent;
  result.passes = predicted->rounds + 1;
  if (input.resent_wire_fraction < 1 && live) {
    // The pages sent again from the third round on, as the model sent them, and the
    // stop-and-copy's after it (post-copy's rest goes whole, not encoded); nothing to say
    // without a third round, as the qemu driver.
    int64_t pages = 0, wire = 0;
    for (const migration::PrecopyRound& round : predicted->schedule) {
      if (round.round <= 2) continue;
      pages += round.page_bytes;
      wire += round.bytes;
    }
    const bool stop_copy_encoded = !predicted->postcopy && predicted->rounds >= 2;
    if (stop_copy_encoded) {
      const int64_t last = predicted->schedule.back().dirtied_bytes;
      pages += last;
      wire += std::llround(static_cast<double>(last) * input.resent_wire_fraction);
    }
    if (predicted->rounds >= 3 || stop_copy_encoded) {
      result.resent_page_bytes = pages;
      result.resent_wire_bytes = wire;
    }
  }
  if (predicted->postcopy) {
    result.postcopy = true;
    result.postcopy_reason = predicted->reason;
    result.postcopy_blocktime_ms = predicted->postcopy_blocktime_s * 1000;
  }
  return result;
}

Status SimDriver::CancelMigration(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  const Vm* vm = Find(name);
  if (vm == nullptr) return Status::NotFound("no VM is named '" + name + "'");
  if (vm->info.state != VmState::kMigrating)
    return Status::Error("VM '" + name + "' is not migrating");
  cancel_.insert(name);
  return Status::Ok();
}

Result<double> SimDriver::MeasureDirtyRate(const std::string& name, int seconds) {
  if (seconds < 1 || seconds > 60)
    return Status::Invalid("dirty-rate measurement time must be 1..60 s, got " +
                           std::to_string(seconds));
  std::lock_guard<std::mutex> lock(mutex_);
  const Vm* vm = Find(name);
  if (vm == nullptr) return Status::NotFound("no VM is named '" + name + "'");
  return vm->dirty_mb_s * 1e6;
}

Result<VmInfo> SimDriver::Recover(const std::string& name, std::chrono::milliseconds) {
  return GetVm(name);  // a sim migration never outlives the process that ran it
}

}  // namespace greenshift::hypervisor
