// A move as the engine carries it out: the order (which VM, from where to where, why, for which
// plan and slot) and its outcome. Shared by the executor, the recorder and the views.
#pragma once

#include <cstdint>
#include <string>

#include "control/model_check.h"
#include "hypervisor/driver.h"
#include "placement/problem.h"

namespace greenshift::control {

struct MoveOrder {
  int64_t id = 0;        // the recorder's id (0 until queued)
  int64_t plan_id = 0;   // 0: requested by an operator
  bool manual = false;   // an operator's: the dwell time does not hold it back, it does not expire
  placement::Move move;  // which VM, from and to which site (indices), its slot, why, its cost
  int to_host = -1;      // the host at `move.to` it goes to: chosen when it starts (Fleet)
};

// How a move ended. "completed": the VM runs at `to`; "failed": the migration was tried and the
// VM stayed (or was found) elsewhere; "cancelled": it never started (a precondition did not
// hold, its slot passed, the service stopped).
struct MoveOutcome {
  std::string state;
  std::string why;  // empty when completed
  int64_t started_ms = 0, finished_ms = 0;
  bool ran = false;  // the driver was asked to migrate
  hypervisor::MigrationResult result;
  int running_on = -1;  // the site where the VM runs afterwards (-1: nowhere known)
  // The VM's dirty rate sampled just before the move, bytes/s (-1: not sampled).
  double sampled_dirty_rate_bytes_s = -1;
  // Whether the move was held against its prediction (model_check.h Comparable), and how far
  // the measurement was from it.
  bool compared = false;
  ModelError model_error;
  double EnergyJ(double energy_per_byte_j) const {
    return static_cast<double>(result.bytes) * energy_per_byte_j * 2;  // sent, and received
  }
};

}  // namespace greenshift::control
