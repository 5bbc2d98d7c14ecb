// Opening the driver a service's config names: the one place in greenshift that switches on a
// driver's name (the config learns what each kind needs from hypervisor/kinds.h). A new driver
// is a kind there and a case here; the engine, the executor and the API only see
// hypervisor::Driver and ask its capabilities.
#pragma once

#include <memory>

#include "cli/context.h"
#include "control/config.h"
#include "control/recovery.h"
#include "core/status.h"
#include "hypervisor/driver.h"

namespace greenshift::cli {

struct ServiceDriver {
  std::unique_ptr<hypervisor::Driver> driver;
  // Starts a configured VM that runs nowhere on a host of the driver (the recovery's): a lab
  // guest under qemu (its memory, workload, address and the lab's MAC for it), a record under
  // sim. Made here because only here is the concrete driver known.
  control::StartVmFn start;
};

// The driver for every host of `config` (all hosts use the same kind), checked against what it
// runs on: qemu hosts must be sites of the lab that is up. Errors name the host and what is
// missing.
Result<ServiceDriver> OpenServiceDriver(const Context& context,
                                        const control::ServiceConfig& config);

}  // namespace greenshift::cli
