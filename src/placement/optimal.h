// The `optimal` policy: a mixed-integer program over the horizon, in path form, with a bound.
#pragma once

#include <memory>

#include "core/status.h"
#include "placement/policy.h"

namespace greenshift::placement {

// The problem: each VM follows one itinerary (a site per slot of the horizon); moves only where
// the pre-copy model predicts convergence within the VM's downtime budget, never two within the
// minimum dwell time; per site and slot, peak power within capacity and brown power >= load -
// green (the moves' energy is load at both ends); per link and slot, the moves' predicted time
// fits in the slot. Objective: kg CO2 of the brown power, plus a micro-kg per move to prefer
// fewer moves among equal plans.
//
// Solved, within the time limit, by (1) the greedy plan improved VM by VM (each VM in turn takes
// its cheapest itinerary given all the others: a shortest path); (2) the Lagrangian dual climbed
// by subgradient steps: each VM's cheapest itinerary at the row prices bounds the problem from
// below, and those itineraries, improved VM by VM, are candidate plans; (3) column generation
// (Dantzig-Wolfe) on the itineraries with Coin-OR CLP, smoothed toward the best bound's prices,
// whose LP rounded and improved is one more candidate; (4) Coin-OR CBC on the MILP over every
// itinerary found, from the best plan. Reports the gap between the best plan and the best bound
// (a true bound on every plan, found or not). Always has a plan: at worst the greedy one.
std::unique_ptr<Policy> MakeOptimalPolicy(const PolicyOptions& options);

}  // namespace greenshift::placement
