// How well the cost model predicts: every completed move's prediction (what the planner priced
// it at) against what the driver measured, so the model's error is always known, per move (the
// move's record) and over the last moves (the API's status and /metrics).
//
// Thread safety: ModelErrors is a value; the engine guards its copy with its own mutex.
#pragma once

#include <cstddef>
#include <deque>

#include "hypervisor/driver.h"
#include "placement/problem.h"

namespace greenshift::control {

// Relative errors of one move, (measured - predicted) / predicted: positive when the move took
// longer, sent more or paused longer than predicted. NaN where either side is missing (no
// prediction, or a driver that reports no pause).
struct ModelError {
  double total = 0;  // total time (command to running at the destination)
  double bytes = 0;  // bytes sent: memory, plus the disk where it was copied
  double pause = 0;  // the guest's pause (the driver's measured pause, else its downtime)
};

// Whether a move can be held against its prediction: it completed, it was priced, and it switched
// to post-copy exactly where the prediction said it would (a move that ran otherwise than it was
// priced says nothing about the model's error).
bool Comparable(const placement::MoveCost& predicted, const hypervisor::MigrationResult& measured);
ModelError ErrorOf(const placement::MoveCost& predicted,
                   const hypervisor::MigrationResult& measured);

// The median absolute relative error of each quantity over the last `window` comparable moves.
struct ModelErrorSummary {
  size_t moves = 0;                        // compared, at most the window
  double total = 0, bytes = 0, pause = 0;  // NaN when no move had that quantity
};

class ModelErrors {
 public:
  explicit ModelErrors(size_t window = 50) : window_(window) {}
  void Add(const ModelError& error);
  ModelErrorSummary Summary() const;

 private:
  size_t window_;
  std::deque<ModelError> last_;
};

}  // namespace greenshift::control
