// The talk's experiment: migrate a VM while a client in the lab pings it every 10 ms and runs an
// HTTP load against it, and report all three measurements together.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "hypervisor/driver.h"
#include "lab/http_load.h"
#include "lab/lab.h"
#include "lab/ping_probe.h"

namespace greenshift::lab {

struct ExperimentOptions {
  std::string vm;
  std::string to_site;
  hypervisor::MigrationOptions migration;
  std::chrono::milliseconds ping_interval{10};
  int http_concurrency = 5;
  int http_requests = 10000;  // 0: no HTTP load
  // The HTTP load starts once the migration reports this memory pass (or its switchover), so a
  // migration that copies for a minute still has the load across its switchover; 0: with the
  // pings, before the migration. Ignored with `migrate` (no progress to watch).
  int http_start_pass = 0;
  std::chrono::milliseconds lead_in{1500};   // probes run this long before the migration starts
  std::chrono::milliseconds lead_out{1000};  // and at least this long after it ends
  // The migration measured. Empty: the driver's, Migrate(vm, to_site, migration). A benchmark
  // sets it to measure another tool's migration (`virsh migrate`) under the same probes.
  std::function<hypervisor::MigrationResult()> migrate;
};

struct ExperimentResult {
  hypervisor::MigrationResult migration;
  PingResult ping;
  HttpLoadResult http;
  bool http_ran = false;
  // True when the HTTP load was still running when the migration ended, i.e. it really ran
  // "during" the migration.
  bool load_covered_migration = false;
};

// Runs the experiment from the lab's client namespace. The VM must be running.
Result<ExperimentResult> RunMeasuredMigration(hypervisor::Driver& driver, const LabState& lab,
                                              const ExperimentOptions& options,
                                              const hypervisor::ProgressCallback& progress);

nlohmann::json ToJson(const ExperimentResult& result);

// Address without the prefix length ("198.18.128.10/16" -> "198.18.128.10").
std::string HostAddress(const std::string& cidr);

// Waits until the VM answers GET /status from the lab's client namespace; returns the body.
Result<std::string> WaitForGuest(const LabState& lab, const std::string& ip,
                                 std::chrono::milliseconds timeout);

}  // namespace greenshift::lab
