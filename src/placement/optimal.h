// The `optimal` policy: a mixed-integer program over the horizon, solved by Coin-OR CBC.
#pragma once

#include <memory>

#include "core/status.h"
#include "placement/policy.h"

namespace greenshift::placement {

// Variables: x[v,s,k] = 1 when VM v runs at site s in slot k (binary); arrivals
// y[v,s,k] >= x[v,s,k] - x[v,s,k-1]; brown power b[s,k] >= load - green. Constraints: each VM at
// one site; peak power within capacity; at most one arrival per VM within the minimum dwell;
// moves only where the pre-copy model predicts convergence within the downtime budget; the first
// slot's moves fit in the slot's time on each link. Objective: kg CO2 of brown power plus the
// moves' energy. Starts from the greedy plan, so it always has a solution; stops at the time
// limit and reports the remaining MIP gap. Its plan holds the moves of every slot of the horizon.
std::unique_ptr<Policy> MakeOptimalPolicy(const PolicyOptions& options);

}  // namespace greenshift::placement
