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

double LinkThroughput(const hypervisor::MigrationResult& result) {
  const double stream = StreamThroughput(result);
  if (stream <= 0 || result.disk_copy_mode.empty()) return stream;
  const double disk = result.disk_rate_bytes_s;
  return disk > 0 && std::isfinite(disk) ? disk : -1;
}

Calibration::Calibration(placement::Problem configured, CalibrationOptions options)
    : configured_(std::move(configured)), options_(options) {}

bool Calibration::ObserveMove(size_t vm, size_t from, size_t to,
                              const hypervisor::MigrationResult& result) {
  const size_t sites = configured_.sites.size();
  if (from >= sites || to >= sites || from == to || vm >= configured_.vms.size()) return false;
  const double bytes_s = LinkThroughput(result);
  const bool link = bytes_s > 0 && std::isfinite(bytes_s);
  // A live move scans all of the memory once: what it found zero is the memory's (never more
  // than the VM has; a driver that says more is broken, and ignored).
  const int64_t memory = configured_.vms[vm].memory_bytes;
  const bool live = result.completed && result.mode == hypervisor::MigrationMode::kLive;
  const bool data = live && result.zero_bytes >= 0 && result.zero_bytes <= memory;
  const double pause_ms = result.paused_ms >= 0 ? result.paused_ms : result.downtime_ms;
  const bool paused = live && pause_ms >= 0 && std::isfinite(pause_ms);
  // Said by a completed move or a failed one alike: the pages it sent again were encoded.
  const double resent = hypervisor::ResentWireFraction(result);
  const bool encoded = resent > 0 && std::isfinite(resent);
  if (!link && !data && !paused && !encoded) return false;
  std::lock_guard<std::mutex> lock(mutex_);
  if (link) {
    Push(link_last_[{from, to}], bytes_s, options_.window);
    ++link_moves_[{from, to}];
  }
  if (data) {
    Push(data_last_[vm], static_cast<double>(memory - result.zero_bytes), options_.window);
    ++data_moves_[vm];
  }
  if (encoded) {
    Push(resent_last_[vm], resent, options_.window);
    ++resent_moves_[vm];
  }
  bool switchover = false;
  if (paused) {
    // What the model leaves to send once the guest stops, priced on everything measured so far
    // (this move's stream too) but without a switchover: the rest of the pause is the hosts'.
    placement::Problem priced = PricedLocked();
    priced.links[from * configured_.sites.size() + to].switchover_s = 0;
    const placement::MoveCost model = placement::PredictMove(priced, vm, from, to);
    // A model that says it would not converge has no pause to compare (the guest did stop).
    if (model.converges) {
      Push(switchover_last_[{from, to}], std::max(0.0, pause_ms / 1000 - model.downtime_s),
           options_.window);
      ++switchover_moves_[{from, to}];
      switchover = true;
    }
  }
  if (!link && !data && !switchover && !encoded) return false;
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

double Calibration::EitherWay(const std::map<std::pair<size_t, size_t>, std::deque<double>>& last,
                              size_t from, size_t to) {
  auto it = last.find({from, to});
  if (it == last.end()) it = last.find({to, from});  // the other way, until measured
  if (it == last.end()) return -1;
  return Median({it->second.begin(), it->second.end()});
}

placement::Problem Calibration::Priced() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return PricedLocked();
}

placement::Problem Calibration::PricedLocked() const {
  placement::Problem priced = configured_;
  const size_t sites = priced.sites.size();
  std::vector<double> switchovers;  // of the links measured
  for (const auto& [link, last] : switchover_last_)
    switchovers.push_back(Median({last.begin(), last.end()}));
  const double fleet_switchover = switchovers.empty() ? -1 : Median(switchovers);
  for (size_t a = 0; a < sites; ++a) {
    for (size_t b = 0; b < sites; ++b) {
      if (a == b) continue;
      placement::Link& link = priced.links[a * sites + b];
      const double measured = EitherWay(link_last_, a, b);
      if (measured > 0) link.bandwidth_bytes_s = measured;
      const double switchover = EitherWay(switchover_last_, a, b);
      if (switchover >= 0) {
        link.switchover_s = switchover;
      } else if (fleet_switchover >= 0) {
        link.switchover_s = fleet_switchover;
      }
    }
  }
  for (const auto& [vm, last] : vm_last_)
    priced.vms[vm].dirty_rate_bytes_s = Median({last.begin(), last.end()});
  std::vector<double> shares;  // of the measured VMs' memory that holds data
  for (const auto& [vm, last] : data_last_) {
    priced.vms[vm].data_bytes = std::llround(Median({last.begin(), last.end()}));
    if (priced.vms[vm].memory_bytes > 0)
      shares.push_back(static_cast<double>(priced.vms[vm].data_bytes) /
                       static_cast<double>(priced.vms[vm].memory_bytes));
  }
  // A VM never measured is priced like the measured ones (an unbiased guess; all of its memory
  // would price every first move as the worst case).
  if (!shares.empty()) {
    const double share = Median(shares);
    for (size_t vm = 0; vm < priced.vms.size(); ++vm) {
      if (data_last_.count(vm) == 0)
        priced.vms[vm].data_bytes =
            std::llround(share * static_cast<double>(priced.vms[vm].memory_bytes));
    }
  }
  // The same for what a page sent again costs on the wire.
  std::vector<double> fractions;
  for (const auto& [vm, last] : resent_last_) {
    priced.vms[vm].resent_wire_fraction = Median({last.begin(), last.end()});
    fractions.push_back(priced.vms[vm].resent_wire_fraction);
  }
  if (!fractions.empty()) {
    const double fraction = Median(fractions);
    for (size_t vm = 0; vm < priced.vms.size(); ++vm) {
      if (resent_last_.count(vm) == 0) priced.vms[vm].resent_wire_fraction = fraction;
    }
  }
  return priced;
}

int64_t Calibration::version() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return version_;
}

std::vector<LinkCalibration> Calibration::Links() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<LinkCalibration> out;
  std::map<std::pair<size_t, size_t>, bool> measured;  // in site order
  for (const auto& entry : link_last_) measured[entry.first] = true;
  for (const auto& entry : switchover_last_) measured[entry.first] = true;
  for (const auto& [link, unused] : measured) {
    LinkCalibration c;
    c.from = configured_.sites[link.first].name;
    c.to = configured_.sites[link.second].name;
    c.configured_bytes_s = configured_.LinkBetween(link.first, link.second).bandwidth_bytes_s;
    if (auto it = link_last_.find(link); it != link_last_.end()) {
      c.measured_bytes_s = Median({it->second.begin(), it->second.end()});
      c.moves = link_moves_.at(link);
    }
    if (auto it = switchover_last_.find(link); it != switchover_last_.end()) {
      c.switchover_s = Median({it->second.begin(), it->second.end()});
      c.switchovers = switchover_moves_.at(link);
    }
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
    const auto resent = resent_last_.find(vm);
    if (sampled == vm_last_.end() && data == data_last_.end() && resent == resent_last_.end())
      continue;
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
    if (resent != resent_last_.end()) {
      c.resent_wire_fraction = Median({resent->second.begin(), resent->second.end()});
      c.encoded_moves = resent_moves_.at(vm);
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace greenshift::control
