// A simulation scenario: sites (weather, carbon, PV and wind, capacity), VMs (real CPU traces
// through a host power model), links and the policies' parameters, from one JSON file. Paths in
// it are relative to the file. This is the edge: files are read here, the simulator gets values.
#pragma once

#include <string>

#include "core/status.h"
#include "sim/simulate.h"

namespace greenshift::sim {

struct Scenario {
  std::string name;
  std::string file;
  World world;
  SimulationOptions options;
  std::vector<std::string> policies;  // to compare, in order
};

// Errors name the file and the key that is wrong. `days_override` > 0 shortens the period;
// `from_utc_s` > 0 starts it later (on a whole hour, within the scenario's period: a part of
// the year held back from tuning, for example).
Result<Scenario> LoadScenario(const std::string& path, double days_override = 0,
                              int64_t from_utc_s = 0);

}  // namespace greenshift::sim
