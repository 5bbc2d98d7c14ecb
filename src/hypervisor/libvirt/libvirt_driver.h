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
  // destination's host name).
  std::string migration_uri;
};

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
