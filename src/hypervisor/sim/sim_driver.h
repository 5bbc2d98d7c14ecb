// The sim driver: sites without a hypervisor, for planning rehearsals, tests of the service and
// operators trying greenshift without hosts. VMs are records in memory; a migration takes the
// time the pre-copy model predicts for the VM on the configured link (divided by `speed`, so a
// replayed day can run fast), and reports the model's downtime, bytes and rounds. It keeps the
// driver promise: a failed migration leaves the VM on its source.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "hypervisor/driver.h"

namespace greenshift::hypervisor {

struct SimDriverConfig {
  std::vector<std::string> sites;
  double bandwidth_bytes_s = 125e6;  // every link
  double speed = 1;                  // model seconds per wall second
};

class SimDriver : public Driver {
 public:
  explicit SimDriver(SimDriverConfig config) : config_(std::move(config)) {}

  Status StartVm(const VmSpec& spec, const std::string& site) override;
  Status StopVm(const std::string& name) override;
  Result<std::vector<VmInfo>> ListVms() override;
  Result<VmInfo> GetVm(const std::string& name) override;
  MigrationResult Migrate(const std::string& name, const std::string& to_site,
                          const MigrationOptions& options,
                          const ProgressCallback& progress) override;
  Status CancelMigration(const std::string& name) override;
  Result<double> MeasureDirtyRate(const std::string& name, int seconds) override;
  Result<VmInfo> Recover(const std::string& name, std::chrono::milliseconds timeout) override;

  // Makes every migration from now on fail (a dead link), to test roll-backs.
  void FailMigrations(bool fail);

 private:
  bool KnownSite(const std::string& site) const;
  SimDriverConfig config_;
  std::mutex mutex_;
  std::map<std::string, VmInfo> vms_;
  std::set<std::string> cancel_;
  bool fail_ = false;
};

}  // namespace greenshift::hypervisor
