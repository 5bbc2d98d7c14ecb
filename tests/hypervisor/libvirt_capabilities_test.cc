// What the libvirt driver says it can do, by the kind of host it drives (asked before any
// connection: the executor reads it when the service starts).
#include <gtest/gtest.h>

#include "hypervisor/libvirt/libvirt_driver.h"

namespace greenshift::libvirt {
namespace {

LibvirtDriverConfig HostsAt(const std::vector<std::string>& uris) {
  LibvirtDriverConfig config;
  for (size_t i = 0; i < uris.size(); ++i) {
    LibvirtHost host;
    host.name = "h" + std::to_string(i);
    host.uri = uris[i];
    config.hosts.push_back(host);
  }
  return config;
}

TEST(LibvirtCapabilitiesTest, QemuHostsOfferTheTuningAndXenHostsOnlyWhatLibxlDoes) {
  LibvirtDriver qemu(HostsAt({"qemu+tls://a.example/system", "qemu+ssh://root@b/system"}));
  const hypervisor::Capabilities q = qemu.GetCapabilities();
  EXPECT_TRUE(q.live_migration && q.offline_migration && q.auto_converge && q.downtime_limit &&
              q.bandwidth_limit && q.dirty_rate && q.cancel && q.recovery && q.adopt &&
              q.disk_copy && q.post_copy && q.delta_encoding && q.switchover_hooks);

  // libxl migrates live or not, peer to peer, to a URI: no downtime target, bandwidth cap,
  // auto-converge, dirty rate or abort. The executor then asks none of them.
  LibvirtDriver xen(HostsAt({"xen:///system", "xen+ssh://root@b/system"}));
  const hypervisor::Capabilities x = xen.GetCapabilities();
  EXPECT_TRUE(x.live_migration && x.offline_migration && x.adopt);
  EXPECT_FALSE(x.auto_converge || x.downtime_limit || x.bandwidth_limit || x.dirty_rate ||
               x.cancel || x.recovery || x.post_copy || x.disk_copy);
  EXPECT_EQ(x.Names(), (std::vector<std::string>{"live", "offline", "adopt"}));
}

}  // namespace
}  // namespace greenshift::libvirt
