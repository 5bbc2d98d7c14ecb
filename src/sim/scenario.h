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

// Errors name the file and the key that is wrong. `days_override` > 0 shortens the period.
Result<Scenario> LoadScenario(const std::string& path, double days_override = 0);

}  // namespace greenshift::sim
