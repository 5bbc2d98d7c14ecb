#include "control/calibration.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "core/stats.h"

namespace greenshift::control {

namespace {

// A copy this short says little of the link: the events' millisecond stamps are a tenth of it.
constexpr double kShortestCopyMs = 100;

void Push(std::deque<double>& last, double value, size_t window) {
  last.push_back(value);
  while (last.size() > std::max<size_t>(window, 1)) last.pop_front();
}

}  // namespace

double StreamThroughput(const hypervisor::MigrationResult& result) {
  if (!result.completed || result.mode != hypervisor::MigrationMode::kLive || result.bytes <= 0)
    return -1;
  // A post-copy that waited for a broken link to come back measured the outage, not the link.
  if (result.postcopy_recoveries > 0) return -1;
  const auto [copying, completed] = hypervisor::CopyWindow(result);
  double copy_ms = completed - copying;
  if (copying < 0 || completed < 0) {
    // No events (a driver that reports none): the total less what was not the memory's copy.
    copy_ms = result.total_ms - std::max(result.setup_ms, 0.0) - std::max(result.disk_copy_ms, 0.0);
  }
  if (!std::isfinite(copy_ms) || copy_ms < kShortestCopyMs) return -1;
  return static_cast<double>(result.bytes) / (copy_ms / 1000);
}

Calibration::Calibration(placement::Problem configured, CalibrationOptions options)
    : configured_(std::move(configured)), options_(options) {}

bool Calibration::ObserveMove(size_t vm, size_t from, size_t to,
                              const hypervisor::MigrationResult& result) {
  const size_t sites = configured_.sites.size();
  if (from >= sites || to >= sites || from == to || vm >= configured_.vms.size()) return false;
  const double bytes_s = StreamThroughput(result);
  const bool link = bytes_s > 0 && std::isfinite(bytes_s);
  // A live move scans all of the memory once: what it found zero is the memory's (never more
  // than the VM has; a driver that says more is broken, and ignored).
  const int64_t memory = configured_.vms[vm].memory_bytes;
  const bool data = result.completed && result.mode == hypervisor::MigrationMode::kLive &&
                    result.zero_bytes >= 0 && result.zero_bytes <= memory;
  if (!link && !data) return false;
  std::lock_guard<std::mutex> lock(mutex_);
  if (link) {
    Push(link_last_[{from, to}], bytes_s, options_.window);
    ++link_moves_[{from, to}];
  }
  if (data) {
    Push(data_last_[vm], static_cast<double>(memory - result.zero_bytes), options_.window);
    ++data_moves_[vm];
  }
  ++version_;
  return true;
}

bool Calibration::ObserveDirtyRate(size_t vm, double bytes_s) {
  if (vm >= configured_.vms.size() || !std::isfinite(bytes_s) || bytes_s < 0) return false;
  std::lock_guard<std::mutex> lock(mutex_);
  Push(vm_last_[vm], bytes_s, options_.window);
  ++vm_samples_[vm];
  ++version_;
  return true;
}

double Calibration::LinkLocked(size_t from, size_t to) const {
  auto it = link_last_.find({from, to});
  if (it == link_last_.end()) it = link_last_.find({to, from});  // the other way, until measured
  if (it == link_last_.end()) return -1;
  return Median({it->second.begin(), it->second.end()});
}

placement::Problem Calibration::Priced() const {
  placement::Problem priced = configured_;
  std::lock_guard<std::mutex> lock(mutex_);
  const size_t sites = priced.sites.size();
  for (size_t a = 0; a < sites; ++a) {
    for (size_t b = 0; b < sites; ++b) {
      if (a == b) continue;
      const double measured = LinkLocked(a, b);
      if (measured > 0) priced.links[a * sites + b].bandwidth_bytes_s = measured;
    }
  }
  for (const auto& [vm, last] : vm_last_)
    priced.vms[vm].dirty_rate_bytes_s = Median({last.begin(), last.end()});
  for (const auto& [vm, last] : data_last_)
    priced.vms[vm].data_bytes = std::llround(Median({last.begin(), last.end()}));
  return priced;
}

int64_t Calibration::version() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return version_;
}

std::vector<LinkCalibration> Calibration::Links() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<LinkCalibration> out;
  for (const auto& [link, last] : link_last_) {
    LinkCalibration c;
    c.from = configured_.sites[link.first].name;
    c.to = configured_.sites[link.second].name;
    c.configured_bytes_s = configured_.LinkBetween(link.first, link.second).bandwidth_bytes_s;
    c.measured_bytes_s = Median({last.begin(), last.end()});
    c.moves = link_moves_.at(link);
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<VmCalibration> Calibration::Vms() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<VmCalibration> out;
  for (size_t vm = 0; vm < configured_.vms.size(); ++vm) {
    const auto sampled = vm_last_.find(vm);
    const auto data = data_last_.find(vm);
    if (sampled == vm_last_.end() && data == data_last_.end()) continue;
    VmCalibration c;
    c.vm = configured_.vms[vm].name;
    c.configured_dirty_bytes_s = configured_.vms[vm].dirty_rate_bytes_s;
    c.memory_bytes = configured_.vms[vm].memory_bytes;
    if (sampled != vm_last_.end()) {
      c.sampled_dirty_bytes_s = Median({sampled->second.begin(), sampled->second.end()});
      c.samples = vm_samples_.at(vm);
    }
    if (data != data_last_.end()) {
      c.data_bytes = std::llround(Median({data->second.begin(), data->second.end()}));
      c.moves = data_moves_.at(vm);
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace greenshift::control
