// recovery: after a restart, before the engine acts again, the store is settled with what the
// driver reports. A migration the last run left behind is finished or rolled back by the driver
// (Driver::Recover keeps the one copy that runs); its move is marked with where the VM was found
// ("completed" or "interrupted", with "reconciled": true); queued moves are cancelled; pending
// plans are superseded; each VM's last move is remembered for its dwell time; each sensor
// continues from its newest stored reading; a VM that runs nowhere is started on its home host.
// No move runs twice, no VM is lost, no reading is stored twice.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "control/engine.h"
#include "control/recorder.h"
#include "core/status.h"
#include "hypervisor/driver.h"
#include "store/store.h"

namespace greenshift::control {

struct RecoveryReport {
  int vms_started = 0;
  int vms_settled = 0;  // found in a migration and settled by the driver
  int moves_completed = 0, moves_interrupted = 0, moves_cancelled = 0;
};

// Starts VM `vm` (an index into the engine's problem) on the driver's host `location`: how a
// VM is made is its creator's business (the lab's guest under qemu, a record under sim), not
// the driver interface's.
using StartVmFn = std::function<Status(size_t vm, const std::string& location)>;

// `start`: called for a VM the driver does not know (NotFound) at all; a driver that cannot
// answer fails the recovery instead (a VM is never started twice). `timeout`: how long the
// driver may wait for a migration still running.
Result<RecoveryReport> Recover(Engine& engine, store::Store& store, hypervisor::Driver& driver,
                               Recorder& recorder, const StartVmFn& start,
                               std::chrono::milliseconds timeout);

}  // namespace greenshift::control
