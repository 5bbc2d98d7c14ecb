// The libvirt driver: hosts reached through libvirt's C API over its remote protocol
// (qemu+tcp://, qemu+tls://, qemu+ssh://, qemu+unix://, xen:///system), one connection per host,
// kept alive (libvirt keepalive on an event loop of this process) and opened again when it
// breaks. Migrations are peer-to-peer: the source host's daemon drives the migration to the
// destination's, so a migration goes on, and libvirt keeps the VM in one place, even if
// greenshift dies during it (Recover then waits for it or aborts it).
//
// It lists and moves every domain of its hosts, started by greenshift or not. The lab starts its
// guests through CreateDomain (lab/guest.h builds the XML).
//
// Disks: a migration copies the domain's writable file disks that the two hosts do not share
// (DisksToCopy; libvirt's VIR_MIGRATE_NON_SHARED_DISK into the destination's storage pool). It
// refuses before anything starts when the destination has no active pool at a disk's directory
// or already has a file there (a disk is never overwritten), and afterwards removes the copy
// where the VM does not run (the source's after a completed move, the destination's after a
// failed one). A copy in flight is marked in the domain's metadata ("disk_copy"), so that
// Recover, or the VM's next migration, removes what a caller that died left.
//
// Post-copy (MigrationOptions::postcopy; not with a disk copied along): by the qemu driver's rule
// (hypervisor::PrecopyStuck), through VIR_MIGRATE_POSTCOPY and virDomainMigrateStartPostCopy. A
// link cut afterwards is ridden out by the migration's own TCP connection; when the daemons' own
// connection closes meanwhile (libvirt's keepalive: a cut of more than about 25 s) libvirt's call
// fails but the migration goes on, and the driver follows the destination until it has all of its
// memory. It never pauses or resumes a post-copy (libvirt's VIR_MIGRATE_POSTCOPY_RESUME crashed
// the destination's libvirtd 11.3 here) and refuses to cancel one.
//
// Threading: every call may come from any thread; libvirt's connections are thread-safe, and the
// driver's own state (connections, migrations being watched) is under its mutex. Two migrations
// of one VM are refused by libvirt (one job per domain).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hypervisor/driver.h"

namespace greenshift::libvirt {

// Where greenshift keeps a VM's metadata in its domain's <metadata>.
inline constexpr const char* kMetadataUri = "https://greenshift.dev/xmlns/vm/1";

struct LibvirtHost {
  std::string name;  // the host's name in greenshift (the driver's location string)
  std::string uri;   // how greenshift reaches its daemon, e.g. qemu+tls://h1.example/system
  // How other hosts' daemons reach it (the destination URI of a peer-to-peer migration);
  // empty: `uri`.
  std::string peer_uri;
  // Where the migration stream goes, e.g. tcp://198.19.255.2; empty: libvirt's choice (the
  // destination's host name). A disk copy goes there too (libvirt's NBD server on the
  // destination listens on that address).
  std::string migration_uri;
  // Directories this host reaches as the same files as other hosts do (an NFS mount, a cluster
  // file system): a VM's disk under a directory both hosts of a migration list is shared, and
  // the migration leaves it where it is. Every other disk with a local source is copied along.
  std::vector<std::string> shared_paths;
};

// One disk of a domain, as its XML describes it.
struct DomainDisk {
  std::string target;    // the guest's device name, e.g. vda (what libvirt's migrate_disks names)
  std::string type;      // file, block, volume, network, dir
  std::string device;    // disk, cdrom, floppy, lun
  std::string source;    // the file or block device (empty for network disks and empty drives)
  std::string protocol;  // a network disk's: nbd, iscsi, nfs, rbd...
  std::string host;      // a network disk's (first) server, as its <host name=...> says
  bool readonly = false;
  bool shareable = false;
};

// The <disk> elements of a domain's XML, in order. Invalid when the XML does not parse or a disk
// has no target. Pure.
Result<std::vector<DomainDisk>> ParseDomainDisks(const std::string& xml);

// Whether `path` lies under one of `shared_paths` (whole components: /srv/nfs holds
// /srv/nfs/vm.qcow2, not /srv/nfs2/vm.qcow2). Pure.
bool UnderSharedPath(const std::string& path, const std::vector<std::string>& shared_paths);

// The disks a migration copies: writable disks with a local source (a file or block device)
// that is not under `shared_paths`. Network disks (NBD, iSCSI, RBD...), read-only and shareable
// disks and empty drives stay where they are. Pure.
std::vector<DomainDisk> DisksToCopy(const std::vector<DomainDisk>& disks,
                                    const std::vector<std::string>& shared_paths);

struct LibvirtDriverConfig {
  std::vector<LibvirtHost> hosts;
  int keepalive_interval_s = 5;  // a host that misses `keepalive_count` in a row is dropped
  int keepalive_count = 3;
  // The element of each domain's <metadata> where VmInfo::metadata is kept (its attributes).
  std::string metadata_uri = kMetadataUri;
};

// The <metadata> child for `metadata` (attributes, escaped, in namespace `uri`), and back. Pure.
std::string MetadataElement(const std::map<std::string, std::string>& metadata,
                            const std::string& uri = kMetadataUri);
std::map<std::string, std::string> ParseMetadataElement(const std::string& xml);

class LibvirtDriver : public hypervisor::Driver {
 public:
  explicit LibvirtDriver(LibvirtDriverConfig config);
  ~LibvirtDriver() override;
  LibvirtDriver(const LibvirtDriver&) = delete;
  LibvirtDriver& operator=(const LibvirtDriver&) = delete;

  // Creates and starts a transient domain from `xml` on `host`; returns once libvirt says it
  // runs. Conflict when a domain of that name exists on any host.
  Status CreateDomain(const std::string& host, const std::string& xml);
  // The hosts that answer, and for each that does not, why (for `lab status`, health).
  std::vector<std::pair<std::string, Status>> CheckHosts();

  hypervisor::Capabilities GetCapabilities() const override;
  Status StopVm(const std::string& name) override;
  Result<std::vector<hypervisor::VmInfo>> ListVms() override;
  Result<hypervisor::VmInfo> GetVm(const std::string& name) override;
  hypervisor::MigrationResult Migrate(const std::string& name, const std::string& to_host,
                                      const hypervisor::MigrationOptions& options,
                                      const hypervisor::ProgressCallback& progress) override;
  Status CancelMigration(const std::string& name) override;
  Result<hypervisor::VmInfo> Recover(const std::string& name,
                                     std::chrono::milliseconds timeout) override;
  Result<double> MeasureDirtyRate(const std::string& name, int seconds) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace greenshift::libvirt
