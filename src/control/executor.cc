#include "control/executor.h"

#include <algorithm>
#include <chrono>

namespace greenshift::control {

Executor::Executor(ExecutorOptions options, const placement::Problem& problem, Fleet& fleet,
                   hypervisor::Driver& driver, Recorder& recorder, std::function<int64_t()> now,
                   OnEnd on_end, Reprice reprice)
    : options_(std::move(options)),
      problem_(problem),
      fleet_(fleet),
      driver_(driver),
      recorder_(recorder),
      now_(std::move(now)),
      on_end_(std::move(on_end)),
      reprice_(std::move(reprice)),
      capabilities_(driver.GetCapabilities()),
      blocked_(problem.sites.size()) {}

Executor::~Executor() {
  Stop();
}

void Executor::Start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (options_.run_inline || dispatcher_.joinable()) return;
  dispatcher_ = std::thread([this] { Dispatch(); });
}

std::pair<size_t, size_t> Executor::LinkOf(const MoveOrder& order) const {
  return std::minmax(order.move.from, order.move.to);
}

void Executor::BeginSlot(int64_t slot) {
  std::vector<MoveOrder> expired;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    slot_ = slot;
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (!it->manual && it->move.slot < slot) {
        expired.push_back(std::move(*it));
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const MoveOrder& order : expired) {
    Cancel(order, "its slot passed before it could start (planned for slot " +
                      std::to_string(order.move.slot) + ", now " + std::to_string(slot) + ")");
  }
}

void Executor::SetBlocked(std::vector<std::string> why_per_site) {
  std::lock_guard<std::mutex> lock(mutex_);
  blocked_ = std::move(why_per_site);
  blocked_.resize(problem_.sites.size());
  changed_.notify_all();
}

Executor::Verdict Executor::Examine(MoveOrder* order_in, std::string* why) {
  MoveOrder& order = *order_in;
  const placement::Move& m = order.move;
  const std::string& vm = problem_.vms[m.vm].name;
  if (stopping_) {
    *why = "the service is stopping";
    return Verdict::kRefuse;
  }
  if (!order.manual && m.slot < slot_) {
    *why = "its slot passed before it could start";
    return Verdict::kRefuse;
  }
  if (!capabilities_.live_migration && !capabilities_.offline_migration) {
    *why = "the driver cannot migrate VMs";
    return Verdict::kRefuse;
  }
  const VmPlace place = fleet_.Get(m.vm);
  if (place.state != hypervisor::VmState::kRunning) {
    *why = "VM " + vm + " is " + hypervisor::VmStateName(place.state) + ", not running";
    return Verdict::kRefuse;
  }
  if (!order.manual) {
    for (size_t site : {m.from, m.to}) {
      if (site < blocked_.size() && !blocked_[site].empty()) {
        *why = "site " + problem_.sites[site].name + "'s inputs are stale: " + blocked_[site];
        return Verdict::kRefuse;
      }
    }
  }
  // placement's rules for one move, now: the VM is where the plan says, the move is feasible
  // and within the downtime budget, the dwell time has passed (an operator's move skips it).
  const int64_t now_slot = std::max(m.slot, slot_);
  const int64_t last = place.last_move_slot;
  Status kept = placement::CheckMove(problem_, m, place.site, last - (now_slot - m.slot),
                                     order.manual ? 0 : options_.min_dwell_slots);
  if (!kept.ok()) {
    *why = kept.message();
    return Verdict::kRefuse;
  }
  if (running_per_link_[LinkOf(order)] >= options_.migrations_per_link) {
    *why =
        "the link " + problem_.sites[m.from].name + " - " + problem_.sites[m.to].name + " is busy";
    return Verdict::kWait;
  }
  Reservation room = fleet_.Reserve(m.vm, m.to);
  if (room.host < 0) {
    *why = room.why;
    return Verdict::kWait;
  }
  order.to_host = room.host;
  return Verdict::kStart;
}

void Executor::Pump(std::vector<MoveOrder>* start,
                    std::vector<std::pair<MoveOrder, std::string>>* refused) {
  for (auto it = queue_.begin(); it != queue_.end();) {
    std::string why;
    const Verdict verdict = Examine(&*it, &why);
    if (verdict == Verdict::kWait) {
      ++it;
      continue;
    }
    if (verdict == Verdict::kStart) {
      ++running_per_link_[LinkOf(*it)];
      ++running_;
      start->push_back(std::move(*it));
    } else {
      refused->push_back({std::move(*it), why});
    }
    it = queue_.erase(it);
  }
}

std::vector<int64_t> Executor::Submit(std::vector<MoveOrder> orders) {
  std::vector<int64_t> ids;
  ids.reserve(orders.size());
  for (MoveOrder& order : orders) {
    const int64_t at = now_();
    const bool marked = fleet_.MarkMoving(order.move.vm);
    Result<int64_t> id = recorder_.MoveQueued(order, at);
    if (!id.ok()) {
      // Nothing can be recorded: the move is not made (a move nobody can account for).
      if (marked) fleet_.UnmarkMoving(order.move.vm);
      recorder_.Event(LogLevel::kError, "move",
                      "move of " + problem_.vms[order.move.vm].name + " not queued: " + id.error(),
                      at);
      ids.push_back(0);
      continue;
    }
    order.id = *id;
    ids.push_back(*id);
    if (!marked) {
      MoveOutcome outcome;
      outcome.state = "cancelled";
      outcome.why =
          "VM " + problem_.vms[order.move.vm].name + " already has a move queued or running";
      outcome.finished_ms = at;
      recorder_.MoveEnded(order, outcome);
      std::lock_guard<std::mutex> lock(mutex_);
      ++ended_[outcome.state];
      continue;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(order));
  }
  if (options_.run_inline) {
    RunInline();
  } else {
    changed_.notify_all();
  }
  return ids;
}

void Executor::Cancel(const MoveOrder& order, const std::string& why) {
  fleet_.UnmarkMoving(order.move.vm);
  MoveOutcome outcome;
  outcome.state = "cancelled";
  outcome.why = why;
  outcome.finished_ms = now_();
  recorder_.MoveEnded(order, outcome);
  if (on_end_) on_end_(order, outcome);
  std::lock_guard<std::mutex> lock(mutex_);
  ++ended_[outcome.state];
  changed_.notify_all();
}

void Executor::Run(MoveOrder order) {
  const placement::Move& m = order.move;
  const std::string& name = problem_.vms[m.vm].name;
  const HostMap& hosts = fleet_.hosts();
  const int to_host = order.to_host;
  MoveOutcome outcome;
  outcome.started_ms = now_();
  recorder_.MoveStarted(order, outcome.started_ms);
  hypervisor::MigrationOptions options = options_.migration;
  if (options.downtime_limit_ms <= 0)
    options.downtime_limit_ms = static_cast<int>(problem_.vms[m.vm].downtime_budget_s * 1000);
  // A target that cannot be met is raised, never past the VM's budget.
  options.max_downtime_ms = std::max(options.downtime_limit_ms,
                                     static_cast<int>(problem_.vms[m.vm].downtime_budget_s * 1000));
  // What the driver cannot do is not asked of it (a driver without live migration moves a VM
  // stopped; the planner priced it so).
  if (!capabilities_.live_migration) options.mode = hypervisor::MigrationMode::kOffline;
  if (!capabilities_.auto_converge) options.auto_converge = false;
  if (!capabilities_.bandwidth_limit) options.max_bandwidth_bytes_s = 0;
  // Post-copy only for a VM that allows it (it may be lost with its destination), where the
  // driver has it.
  options.postcopy = problem_.vms[m.vm].postcopy_allowed && capabilities_.post_copy
                         ? hypervisor::PostcopyPolicy::kWhenStuck
                         : hypervisor::PostcopyPolicy::kNever;
  options.cancel_requested = &stopping_;
  // How fast the guest dirties its memory now, and the move's price on that: the prediction its
  // result is held against (a failed sample leaves the planned price, and says why).
  if (options_.dirty_rate_sample_s > 0 && capabilities_.dirty_rate &&
      options.mode == hypervisor::MigrationMode::kLive) {
    Result<double> rate = driver_.MeasureDirtyRate(name, options_.dirty_rate_sample_s);
    if (rate.ok()) {
      outcome.sampled_dirty_rate_bytes_s = *rate;
      if (reprice_) order.move.predicted = reprice_(m, *rate);
    } else {
      recorder_.Event(LogLevel::kWarning, "move",
                      "VM " + name + ": its dirty rate could not be sampled before the move (" +
                          rate.error() + "); the planned price stands",
                      now_());
    }
  }
  outcome.ran = true;
  outcome.result =
      driver_.Migrate(name, hosts.driver_location[static_cast<size_t>(to_host)], options, nullptr);
  // The postcondition: where does the driver find the VM now?
  int host = -1;
  hypervisor::VmState state = hypervisor::VmState::kStopped;
  Result<hypervisor::VmInfo> found = driver_.GetVm(name);
  if (found.ok()) {
    host = hosts.HostOfLocation(found->host);
    state = found->state;
  }
  const bool moved =
      outcome.result.completed && host == to_host && state == hypervisor::VmState::kRunning;
  if (moved) {
    outcome.state = "completed";
  } else {
    outcome.state = "failed";
    if (outcome.result.completed) {
      outcome.why = "the driver reported the migration completed, but finds VM " + name +
                    (found.ok() ? " at " + found->host + ", " + hypervisor::VmStateName(state)
                                : ": " + found.error());
    } else {
      outcome.why = outcome.result.error;
    }
    if (host < 0) outcome.why += "; the VM runs nowhere now";
  }
  outcome.running_on = host >= 0 ? static_cast<int>(hosts.site[static_cast<size_t>(host)]) : -1;
  outcome.compared = moved && Comparable(m.predicted, outcome.result);
  if (outcome.compared) outcome.model_error = ErrorOf(m.predicted, outcome.result);
  outcome.finished_ms = now_();
  fleet_.EndMove(m.vm, host, state, moved, outcome.finished_ms / options_.slot_ms);
  recorder_.MoveEnded(order, outcome);
  if (on_end_) on_end_(order, outcome);
  std::lock_guard<std::mutex> lock(mutex_);
  --running_;
  --running_per_link_[LinkOf(order)];
  ++ended_[outcome.state];
  changed_.notify_all();
}

void Executor::RunInline() {
  // One move after the other, in the order given; a move that waits for room is tried again
  // after the others, as long as any of them landed.
  std::map<int64_t, std::string> waiting;  // order id -> why it waits
  for (bool progress = true; progress;) {
    progress = false;
    for (size_t i = 0;;) {
      std::unique_lock<std::mutex> lock(mutex_);
      if (i >= queue_.size()) break;
      std::string why;
      const Verdict verdict = Examine(&queue_[i], &why);
      if (verdict == Verdict::kWait) {
        waiting[queue_[i].id] = why;
        ++i;
        continue;
      }
      MoveOrder order = std::move(queue_[i]);
      queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(i));
      if (verdict == Verdict::kRefuse) {
        lock.unlock();
        Cancel(order, why);
        continue;
      }
      ++running_per_link_[LinkOf(order)];
      ++running_;
      lock.unlock();
      Run(std::move(order));
      progress = true;
    }
  }
  std::deque<MoveOrder> left;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    left.swap(queue_);
  }
  for (const MoveOrder& order : left) Cancel(order, waiting[order.id]);
}

void Executor::Dispatch() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    for (auto it = migrations_.begin(); it != migrations_.end();) {
      if (it->done->load()) {
        it->thread.join();
        it = migrations_.erase(it);
      } else {
        ++it;
      }
    }
    std::vector<MoveOrder> start;
    std::vector<std::pair<MoveOrder, std::string>> refused;
    Pump(&start, &refused);
    if (start.empty() && refused.empty()) {
      changed_.wait(lock);
      continue;
    }
    for (MoveOrder& order : start) {
      auto done = std::make_shared<std::atomic<bool>>(false);
      migrations_.push_back({std::thread([this, order = std::move(order), done]() mutable {
                               Run(std::move(order));
                               done->store(true);
                             }),
                             done});
    }
    lock.unlock();
    for (const auto& [order, why] : refused) Cancel(order, why);
    lock.lock();
  }
}

void Executor::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;  // also cancels a running migration (MigrationOptions::cancel_requested)
    changed_.notify_all();
  }
  if (dispatcher_.joinable()) dispatcher_.join();
  std::vector<Migration> running;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    running.swap(migrations_);
  }
  for (Migration& m : running) {
    if (m.thread.joinable()) m.thread.join();
  }
  std::deque<MoveOrder> left;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    left.swap(queue_);
  }
  for (const MoveOrder& order : left) Cancel(order, "the service stopped before the move started");
}

bool Executor::WaitIdle(int64_t timeout_ms) {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                           [this] { return queue_.empty() && running_ == 0; });
}

ExecutorView Executor::View() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {queue_.size(), running_, ended_};
}

}  // namespace greenshift::control
