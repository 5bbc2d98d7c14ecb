// act: the fourth stage, OpenStack Watcher's applier. It carries out the moves of a recorded
// plan (or an operator's), each with its preconditions checked when it is about to start (the
// VM is where the plan says and running, the dwell time has passed, the move keeps placement's
// rules, the destination has room for the VM while it is in flight, the link has a free
// migration slot, neither site's inputs are stale) and its postcondition checked when it ends
// (the driver finds the VM where the move left it). Every move is recorded queued, running and
// how it ended, a completed one with its model error (model_check.h): measured against what it
// was priced at, priced again on the dirty rate sampled just before it where the driver can.
//
// Two ways to run: threaded (the service: a dispatcher starts each move on a thread of its own,
// at most `migrations_per_link` per link; a move that waits for room or a link waits in the
// queue until its slot passes) or inline (the simulator: Submit runs the moves one after the
// other on the caller's thread; one that finds no room after the others ran is cancelled).
// Whatever fails, the VM keeps running where it was: the driver's promise.
//
// Thread safety: every call may come from any thread (the loop submits, the API submits manual
// moves, the dispatcher and the migrations run on their own threads).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "control/fleet.h"
#include "control/moves.h"
#include "control/recorder.h"
#include "hypervisor/driver.h"
#include "placement/problem.h"

namespace greenshift::control {

struct ExecutorOptions {
  int migrations_per_link = 1;
  int64_t min_dwell_slots = 0;
  int64_t slot_ms = 3600 * 1000;
  // Mode, timeout and tuning of each migration; a downtime limit of 0 takes each VM's budget.
  hypervisor::MigrationOptions migration;
  bool run_inline = false;
  // Before a live move, the driver samples the VM's dirty rate for this long (its dirty_rate
  // capability; QEMU: calc-dirty-rate) and the move is priced again on it (Reprice). 0: never.
  int dirty_rate_sample_s = 0;
};

struct ExecutorView {
  size_t queued = 0;
  int running = 0;
  std::map<std::string, int64_t> ended;  // moves by how they ended, since the start
};

class Executor {
 public:
  using OnEnd = std::function<void(const MoveOrder&, const MoveOutcome&)>;
  // What `move` costs now that its VM was seen dirtying `dirty_rate_bytes_s` (called on the
  // move's thread just before it starts; null: the planned price stands).
  using Reprice =
      std::function<placement::MoveCost(const placement::Move& move, double dirty_rate_bytes_s)>;
  Executor(ExecutorOptions options, const placement::Problem& problem, Fleet& fleet,
           hypervisor::Driver& driver, Recorder& recorder, std::function<int64_t()> now,
           OnEnd on_end, Reprice reprice = nullptr);
  ~Executor();

  // Threaded: starts the dispatcher. (Inline needs none.)
  void Start();
  // Cancels the queued moves and asks the running migrations to stop (each VM stays on its
  // source), waits for them, and records each.
  void Stop();

  // A new slot began: planned moves of earlier slots still waiting are cancelled.
  void BeginSlot(int64_t slot);
  // Why each site may take part in no planned move now (its inputs are stale); empty: it may.
  void SetBlocked(std::vector<std::string> why_per_site);

  // Queues the orders, each recorded as queued (and at once as cancelled when its VM already
  // has a move). Threaded: returns at once; inline: returns when every one has ended. Returns
  // each order's id, in order (0: it could not be recorded, so it was not queued).
  std::vector<int64_t> Submit(std::vector<MoveOrder> orders);

  // Waits until no move is queued or running; false when `timeout_ms` passed first.
  bool WaitIdle(int64_t timeout_ms);
  ExecutorView View() const;

 private:
  enum class Verdict { kStart, kWait, kRefuse };
  // Whether `order` may start now (the caller holds mutex_); `why` says why not.
  Verdict Examine(MoveOrder* order, std::string* why);  // on kStart, sets its to_host
  // Takes what may start now out of the queue (reserving room and link), and what never will
  // (`refused`, with why). The caller holds mutex_.
  void Pump(std::vector<MoveOrder>* start, std::vector<std::pair<MoveOrder, std::string>>* refused);
  void Cancel(const MoveOrder& order, const std::string& why);
  void Run(MoveOrder order);  // one migration, start to end
  void RunInline();
  void Dispatch();  // the dispatcher's thread
  std::pair<size_t, size_t> LinkOf(const MoveOrder& order) const;

  const ExecutorOptions options_;
  const placement::Problem& problem_;
  Fleet& fleet_;
  hypervisor::Driver& driver_;
  Recorder& recorder_;
  const std::function<int64_t()> now_;
  const OnEnd on_end_;
  const Reprice reprice_;
  const hypervisor::Capabilities capabilities_;  // the driver's: asked once

  mutable std::mutex mutex_;  // guards everything below
  std::condition_variable changed_;
  std::deque<MoveOrder> queue_;
  std::map<std::pair<size_t, size_t>, int> running_per_link_;
  int running_ = 0;
  int64_t slot_ = 0;
  std::vector<std::string> blocked_;
  std::map<std::string, int64_t> ended_;
  std::atomic<bool> stopping_{false};
  std::thread dispatcher_;
  struct Migration {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Migration> migrations_;
};

}  // namespace greenshift::control
