// The Carbon Aware SDK's "best" asked in greenshift's terms: where would one VM emit least over
// the next hours? Not the grid's intensity alone: at each site, the VM's power is first met by
// the green power the site is forecast to have left after the VMs already there, and only the
// rest is drawn from the grid at its forecast intensity; a site other than the VM's own adds
// the move there (its energy at both ends, and whether it converges within the VM's downtime
// budget), and a site without room for the VM's peak power is no answer.
//   GET /api/best-site?vm=NAME&hours=N   (N: 1 .. the forecast's length in hours; default all)
#pragma once

#include <cstddef>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/engine.h"
#include "control/forecaster.h"
#include "placement/problem.h"

namespace greenshift::api {

struct BestSiteQuestion {
  const control::Forecast& forecast;        // the service's newest
  const placement::Problem& problem;        // sites, VMs, links
  const std::vector<control::VmView>& vms;  // where each VM runs now (the problem's order)
  size_t vm = 0;
  size_t slots = 0;  // of the forecast, from its first (1 .. forecast.slots)
};

// {"vm", "at" (its site now, null if none), "from", "to", "sites": [{"site", "kg_co2" (running
// there, plus the move), "run_kg_co2", "brown_kwh", "green_share", "fits", "move" (null at its
// own site; else {"feasible", "downtime_ms", "total_s", "energy_kwh", "kg_co2", "why_not"})}]
// sorted best first (sites without room or an infeasible move last), "best" (null if none)}.
nlohmann::json BestSite(const BestSiteQuestion& q);

}  // namespace greenshift::api
