// The sim driver: hosts without a hypervisor, for simulation at scale, planning rehearsals, tests
// of the service and operators trying greenshift without hosts. VMs are records in memory; a
// migration takes the time the pre-copy model predicts for the VM on its link (divided by
// `speed`, so a replayed day can run fast; or no time at all, for the simulator) and reports the
// model's downtime, bytes and rounds. It keeps the driver promise: a failed migration leaves the
// VM on its source.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "hypervisor/driver.h"
#include "migration/precopy.h"

namespace greenshift::hypervisor {

struct SimDriverConfig {
  std::vector<std::string> hosts;
  double bandwidth_bytes_s = 125e6;  // every link, unless named below
  std::map<std::pair<std::string, std::string>, double> link_bandwidth_bytes_s;  // (from, to)
  double speed = 1;      // model seconds per wall second
  bool instant = false;  // a migration takes no wall time at all (the simulator's)
  // Hypervisors that can move a VM only stopped (the talk's regular migration; a libvirt host
  // whose hypervisor lacks live migration): the driver says so in its capabilities and refuses
  // a live migration.
  bool live_migration = true;
};

// A simulated VM: what the pre-copy model needs of it besides its memory.
struct SimVm {
  VmSpec spec;
  double dirty_mb_s = 0;     // how fast it rewrites memory
  int working_set_mib = -1;  // over how much of it (-1: all of it)
  // Its disk's data, copied along when it moves (spec.disk_gib is its size), and how fast the
  // guest writes it.
  int64_t disk_used_bytes = 0;
  double disk_write_mb_s = 0;
  // What a page sent again takes on the wire (migration::PrecopyInput): 1 = sent whole, and
  // the result says nothing of it (as under QEMU's defaults); less: the result reports the
  // pages sent again and their encoding, as the qemu and libvirt drivers' XBZRLE does.
  double resent_wire_fraction = 1;
};

class SimDriver : public Driver {
 public:
  explicit SimDriver(SimDriverConfig config);

  // Adds a running VM on `host` (Conflict: the name is taken; NotFound: no such host).
  Status StartVm(const SimVm& vm, const std::string& host);

  Capabilities GetCapabilities() const override;
  Status StopVm(const std::string& name) override;
  Result<std::vector<VmInfo>> ListVms() override;
  Result<VmInfo> GetVm(const std::string& name) override;
  MigrationResult Migrate(const std::string& name, const std::string& to_host,
                          const MigrationOptions& options,
                          const ProgressCallback& progress) override;
  Status CancelMigration(const std::string& name) override;
  Result<double> MeasureDirtyRate(const std::string& name, int seconds) override;
  Result<VmInfo> Recover(const std::string& name, std::chrono::milliseconds timeout) override;

  // Makes every migration from now on fail (a dead link), to test roll-backs.
  void FailMigrations(bool fail);

 private:
  int HostIndex(const std::string& host) const;  // -1 when unknown
  bool KnownHost(const std::string& host) const { return HostIndex(host) >= 0; }
  // The model's prediction, computed once per distinct input (VMs of a kind move alike).
  // `postcopy`: switch when stuck (PredictPostcopy), as the qemu driver does.
  Result<migration::PrecopyPrediction> Predict(const migration::PrecopyInput& input, bool live,
                                               bool postcopy);

  SimDriverConfig config_;
  // Hosts by name, and each link's bandwidth (from * hosts + to): a simulated year looks them up
  // millions of times.
  std::unordered_map<std::string, int> host_index_;
  std::vector<double> bandwidth_bytes_s_;
  std::mutex mutex_;
  struct Vm {
    VmInfo info;
    double dirty_mb_s = 0;
    int working_set_mib = -1;
    int64_t disk_used_bytes = 0;
    double disk_write_mb_s = 0;
    double resent_wire_fraction = 1;
  };
  Vm* Find(const std::string& name);  // the caller holds mutex_; null when unknown
  // The VMs by name. A node-based map: a VM stays where it is in memory while others come and
  // go (a migration keeps a pointer to its VM), and one lookup reaches it.
  std::unordered_map<std::string, Vm> vms_;
  std::set<std::string> cancel_;
  bool fail_ = false;
  struct Key {
    int64_t memory, working_set;
    double dirty, bandwidth, limit;
    bool auto_converge, live;
    int64_t disk;
    double disk_writes;
    bool postcopy;
    double resent;
    bool operator<(const Key& o) const {
      return std::tie(memory, working_set, dirty, bandwidth, limit, auto_converge, live, disk,
                      disk_writes, postcopy, resent) <
             std::tie(o.memory, o.working_set, o.dirty, o.bandwidth, o.limit, o.auto_converge,
                      o.live, o.disk, o.disk_writes, o.postcopy, o.resent);
    }
  };
  std::map<Key, Result<migration::PrecopyPrediction>> predictions_;
};

}  // namespace greenshift::hypervisor
