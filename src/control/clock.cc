#include "control/clock.h"

#include <cmath>

namespace greenshift::control {

int64_t ServiceClock::NowMs() const {
  const int64_t wall = wall_();
  if (start_ms_ == 0) return wall;
  return start_ms_ + static_cast<int64_t>(std::llround((wall - epoch_wall_ms_) * speed_));
}

int64_t ServiceClock::WallAt(int64_t clock_ms) const {
  if (start_ms_ == 0) return clock_ms;
  return epoch_wall_ms_ + static_cast<int64_t>(std::ceil((clock_ms - start_ms_) / speed_));
}

}  // namespace greenshift::control
