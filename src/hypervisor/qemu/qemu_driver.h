// The qemu driver: starts QEMU processes itself (one per VM per site, each in its site's network
// namespace, its NIC a tap on the site's bridge) and drives them over QMP. Local only: QMP has no
// authentication, so every site must be on this machine (the lab's namespaces).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "hypervisor/driver.h"

namespace greenshift::qemu {

struct QemuSite {
  std::string name;
  std::string netns;              // network namespace the site's QEMUs run in ("" = current)
  std::string bridge;             // bridge the VMs' taps join
  std::string migration_address;  // address other sites reach this site's migration listener on
};

struct QemuDriverConfig {
  std::string state_dir;  // VM records, pid files, QMP sockets, console logs
  std::string disk_dir;  // VMs' disk images, <disk_dir>/<site>/<vm>.qcow2 (default state_dir/disks)
  std::string kernel_path;
  std::string initrd_path;
  std::string qemu_binary = "qemu-system-x86_64";
  std::string accel = "tcg";  // "kvm" where KVM works; this lab machine needs "tcg"
  std::vector<QemuSite> sites;
};

// Files of one QEMU instance (one VM on one site).
struct InstancePaths {
  std::string control_socket;  // QMP for commands that change state (migrate, quit)
  std::string query_socket;    // QMP for read-only queries, so `vm list` never waits on a migration
  std::string pid_file;
  std::string console_log;
};

// A disk on shared storage every site reaches; a migration moves no disk. The protocol says what
// `host`, `port` and `export_name` are:
//   nbd:   an NBD server (qemu-storage-daemon) and the export's name;
//   iscsi: an iSCSI portal and the target's IQN, whose LUN 1 is the disk (raw). Each site logs in
//          as its own initiator (iqn.2026-11.org.greenshift:host.<site>), so the source's and the
//          destination's sessions of a migration are two sessions, not one taking the other over;
//   nfs:   an NFSv3 server (found through its portmapper; `port` is not used) and the path of the
//          VM's qcow2 image on it.
struct SharedDisk {
  std::string protocol = "nbd";  // nbd | iscsi | nfs
  std::string host;              // the server's address; empty: the disk is not shared
  int port = 10809;
  std::string export_name;
};

// One guest as this driver starts it: the config's kernel and initrd, booted with
// `kernel_append`, one virtio NIC (a tap on its site's bridge) with `mac`, and with
// spec.disk_gib > 0 a virtio-blk disk: `shared_disk` when it has a host, else a qcow2 image on
// its site (DiskPath) that is copied along when the VM moves.
struct Machine {
  hypervisor::VmSpec spec;
  SharedDisk shared_disk;
  std::string mac;                              // e.g. 52:54:00:12:34:56
  std::string kernel_append;                    // the guest kernel's command line
  std::map<std::string, std::string> metadata;  // kept in the record, shown in VmInfo
  // QEMU appends to a migration's device state a JSON description of it, for tools that read a
  // stream (`-machine suppress-vmdesc=off`, its default): ~100 KB sent with the guest paused,
  // which the destination reads and throws away before it resumes the guest. Left out (on),
  // the guest's pause over 100 Mbit/s was median 16.0 ms against 21.2 (8 moves each, diskless).
  // Both ends of a migration must agree, so it is the machine's, kept in its record: a machine
  // recorded without it (started before greenshift left it out) keeps sending it.
  bool suppress_vmdesc = true;
};

// A machine as its record keeps it, and back. A record without a field gives the machine that
// the greenshift which wrote it started (see suppress_vmdesc). Pure.
nlohmann::json MachineToJson(const Machine& machine);
Machine MachineFromJson(const nlohmann::json& j);

InstancePaths PathsFor(const QemuDriverConfig& config, const std::string& vm,
                       const std::string& site);
std::string TapName(const std::string& vm);
// The image of `vm`'s disk on `site`.
std::string DiskPath(const QemuDriverConfig& config, const std::string& vm,
                     const std::string& site);
// The full QEMU argv for `machine` on `site`; `incoming` adds -incoming defer. Pure.
std::vector<std::string> BuildQemuCommand(const QemuDriverConfig& config, const Machine& machine,
                                          const QemuSite& site, bool incoming);
// What a migration sent again through XBZRLE since its counters stood at `before` (every page
// looked up: sent as a difference, or whole when not in the cache or changed too much), from
// the source's query-migrate answer `info`: {as pages, on the wire}, bytes; {-1, -1} when
// `info` has no XBZRLE counters. The driver counts from the third pass (the second fills the
// cache: its pages all go whole). Pure.
std::pair<int64_t, int64_t> ResentBytes(const nlohmann::json& before, const nlohmann::json& info);

class QemuDriver : public hypervisor::Driver {
 public:
  explicit QemuDriver(QemuDriverConfig config) : config_(std::move(config)) {}

  // Starts `machine` on `site`; returns once its QMP answers. A disk is created empty there.
  // Conflict when a VM of that name exists, or an image of its disk does (a disk is never
  // overwritten); Invalid for a name, memory, disk size or MAC QEMU cannot take.
  Status StartVm(const Machine& machine, const std::string& site);

  hypervisor::Capabilities GetCapabilities() const override;
  Status StopVm(const std::string& name) override;
  Result<std::vector<hypervisor::VmInfo>> ListVms() override;
  Result<hypervisor::VmInfo> GetVm(const std::string& name) override;
  hypervisor::MigrationResult Migrate(const std::string& name, const std::string& to_site,
                                      const hypervisor::MigrationOptions& options,
                                      const hypervisor::ProgressCallback& progress) override;
  Status CancelMigration(const std::string& name) override;
  Result<hypervisor::VmInfo> Recover(const std::string& name,
                                     std::chrono::milliseconds timeout) override;
  Result<double> MeasureDirtyRate(const std::string& name, int seconds) override;

  // pid of the QEMU of `vm` on `site`, 0 if none runs there.
  int InstancePid(const std::string& vm, const std::string& site) const;

 private:
  struct Record {
    Machine machine;
    std::string site;
    std::string migrating_to;  // set while a migration runs, for recovery after a crash
    // The migration switched to post-copy: the guest runs on `migrating_to`, and the source,
    // whose state is older, must never be resumed.
    bool postcopy = false;
    std::string migration_uri;  // where the destination listened (a post-copy resumes there)
  };
  Result<const QemuSite*> FindSite(const std::string& name) const;
  Result<Record> LoadRecord(const std::string& name) const;
  Status SaveRecord(const Record& record) const;
  std::string RecordPath(const std::string& name) const;
  std::string LockPath(const std::string& name) const;
  // A file CancelMigration leaves for the process that runs the migration: QEMU's own
  // migrate_cancel does nothing before its `migrate` (the disk copy, the destination's start).
  std::string CancelMarkPath(const std::string& name) const;
  Status CreateTap(const QemuSite& site, const std::string& vm) const;
  void RemoveTap(const QemuSite& site, const std::string& vm) const;
  // Starts QEMU for `machine` on `site` and waits until its QMP answers.
  Status LaunchInstance(const Machine& machine, const QemuSite& site, bool incoming) const;
  // Ends the QEMU of `vm` on `site` (quit over QMP, then signals) and removes its tap and files.
  void DestroyInstance(const std::string& vm, const QemuSite& site) const;
  Status CreateDisk(const Machine& machine, const QemuSite& site) const;
  void RemoveDisk(const std::string& vm, const QemuSite& site) const;
  Result<std::string> QueryStatus(const std::string& vm, const std::string& site) const;
  hypervisor::VmInfo InfoFor(const Record& record) const;

  QemuDriverConfig config_;
};

}  // namespace greenshift::qemu
