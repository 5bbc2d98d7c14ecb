// The engine's clock: real time, or a replay of a recorded period that starts at `start_ms`
// when the wall clock read `epoch_wall_ms` and runs `speed` times as fast.
#pragma once

#include <cstdint>
#include <functional>

namespace greenshift::control {

class ServiceClock {
 public:
  using WallClock = std::function<int64_t()>;  // UTC ms
  // `start_ms` 0: real time (the wall clock itself).
  ServiceClock(WallClock wall, int64_t epoch_wall_ms, int64_t start_ms, double speed)
      : wall_(std::move(wall)), epoch_wall_ms_(epoch_wall_ms), start_ms_(start_ms), speed_(speed) {}
  int64_t NowMs() const;
  // The wall-clock time at which the clock reads `clock_ms` (for sleeping until a tick).
  int64_t WallAt(int64_t clock_ms) const;
  double speed() const { return speed_; }
  bool replay() const { return start_ms_ != 0; }
  const WallClock& wall() const { return wall_; }

 private:
  WallClock wall_;
  int64_t epoch_wall_ms_, start_ms_;
  double speed_;
};

// The first slot boundary at or after `now_ms` (slots of `slot_ms` from the epoch): ticks are
// aligned on them, as forecasts and plans are.
inline int64_t NextBoundaryMs(int64_t now_ms, int64_t slot_ms) {
  const int64_t slot = now_ms >= 0 ? (now_ms + slot_ms - 1) / slot_ms : now_ms / slot_ms;
  return slot * slot_ms;
}

// The slot a tick at `now_ms` plans for and acts in: the one whose boundary is nearest. A tick a
// few milliseconds late is still the tick of the boundary it was meant for; the first tick after
// a start, in the middle of a slot, acts for the slot about to start when more than half of the
// current one has passed.
inline int64_t TickSlot(int64_t now_ms, int64_t slot_ms) {
  const int64_t shifted = now_ms + slot_ms / 2;
  return shifted >= 0 ? shifted / slot_ms : -((-shifted + slot_ms - 1) / slot_ms);
}

}  // namespace greenshift::control
