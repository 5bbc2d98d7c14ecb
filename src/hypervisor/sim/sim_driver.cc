#include "hypervisor/sim/sim_driver.h"

#include <algorithm>
#include <thread>

#include "migration/precopy.h"

namespace greenshift::hypervisor {

bool SimDriver::KnownSite(const std::string& site) const {
  return std::find(config_.sites.begin(), config_.sites.end(), site) != config_.sites.end();
}

Status SimDriver::StartVm(const VmSpec& spec, const std::string& site) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!KnownSite(site)) return Status::Error("no site is named '" + site + "'");
  if (vms_.count(spec.name)) return Status::Error("a VM named '" + spec.name + "' already exists");
  VmInfo info;
  info.spec = spec;
  info.site = site;
  info.state = VmState::kRunning;
  info.copies = {site};
  vms_[spec.name] = info;
  return Status::Ok();
}

Status SimDriver::StopVm(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (vms_.erase(name) == 0) return Status::Error("no VM is named '" + name + "'");
  return Status::Ok();
}

Result<std::vector<VmInfo>> SimDriver::ListVms() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<VmInfo> out;
  for (const auto& [name, info] : vms_) out.push_back(info);
  return out;
}

Result<VmInfo> SimDriver::GetVm(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = vms_.find(name);
  if (it == vms_.end()) return Status::Error("no VM is named '" + name + "'");
  return it->second;
}

void SimDriver::FailMigrations(bool fail) {
  std::lock_guard<std::mutex> lock(mutex_);
  fail_ = fail;
}

MigrationResult SimDriver::Migrate(const std::string& name, const std::string& to_site,
                                   const MigrationOptions& options,
                                   const ProgressCallback& progress) {
  MigrationResult result;
  result.vm = name;
  result.to = to_site;
  result.mode = options.mode;
  result.tuning = "sim";
  VmSpec spec;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = vms_.find(name);
    if (it == vms_.end()) {
      result.error = "no VM is named '" + name + "'";
      return result;
    }
    result.from = result.running_on = it->second.site;
    if (!KnownSite(to_site)) {
      result.error = "no site is named '" + to_site + "'";
      return result;
    }
    if (it->second.site == to_site) {
      result.error = "VM '" + name + "' already runs on site " + to_site;
      return result;
    }
    if (it->second.state != VmState::kRunning) {
      result.error = "VM '" + name + "' is " + VmStateName(it->second.state) + ", not running";
      return result;
    }
    it->second.state = VmState::kMigrating;
    spec = it->second.spec;
  }
  migration::PrecopyInput input;
  input.memory_bytes = int64_t{spec.memory_mib} << 20;
  input.dirty_rate_bytes_s = spec.dirty_mb_s * 1e6;
  input.working_set_bytes = spec.dirty_size_mib > 0 ? int64_t{spec.dirty_size_mib} << 20 : -1;
  input.bandwidth_bytes_s = config_.bandwidth_bytes_s;
  input.downtime_limit_s = options.downtime_limit_ms / 1000.0;
  input.auto_converge = options.auto_converge;
  Result<migration::PrecopyPrediction> predicted = options.mode == MigrationMode::kLive
                                                       ? migration::PredictPrecopy(input)
                                                       : migration::PredictStopAndCopy(input);
  std::string error;
  if (!predicted.ok()) {
    error = predicted.error();
  } else if (!predicted->converges) {
    error = "the migration would not converge: " + predicted->reason;
  } else {
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
    if (progress) {
      MigrationProgress p;
      p.status = "completed";
      p.transferred_bytes = predicted->bytes_sent;
      p.elapsed_ms = predicted->total_s * 1000;
      progress(p);
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (error.empty() && fail_) error = "the link to site " + to_site + " is down";
  VmInfo& info = vms_[name];
  info.state = VmState::kRunning;
  if (!error.empty()) {
    result.error = error;
    return result;
  }
  info.site = to_site;
  info.copies = {to_site};
  result.completed = true;
  result.running_on = to_site;
  result.total_ms = predicted->total_s * 1000;
  result.downtime_ms = result.paused_ms = predicted->downtime_s * 1000;
  result.bytes = predicted->bytes_sent;
  result.passes = predicted->rounds + 1;
  return result;
}

Status SimDriver::CancelMigration(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = vms_.find(name);
  if (it == vms_.end()) return Status::Error("no VM is named '" + name + "'");
  if (it->second.state != VmState::kMigrating)
    return Status::Error("VM '" + name + "' is not migrating");
  cancel_.insert(name);
  return Status::Ok();
}

Result<double> SimDriver::MeasureDirtyRate(const std::string& name, int /*seconds*/) {
  Result<VmInfo> info = GetVm(name);
  if (!info.ok()) return info.status();
  return info->spec.dirty_mb_s * 1e6;
}

Result<VmInfo> SimDriver::Recover(const std::string& name, std::chrono::milliseconds) {
  return GetVm(name);  // a sim migration never outlives the process that ran it
}

}  // namespace greenshift::hypervisor
