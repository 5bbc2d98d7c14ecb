// The lab's libvirt hosts (`lab up --hypervisor libvirt`): one libvirt daemon per site, each in
// its site's network namespace and a mount namespace of its own, where /run/libvirt,
// /var/lib/libvirt, /etc/libvirt, /var/log/libvirt and /var/cache/libvirt are the site's own
// directories under <run_dir>/libvirt/<site>/ (bind mounts), with virtlogd beside it, its own
// host UUID (libvirt refuses to migrate between hosts with the same one), QEMU run as root with
// no security driver (the guest's kernel is in the build tree). Each daemon listens on TCP
// (16509, no auth: only inside the lab's namespaces) where the other sites' daemons reach it at
// the site's migration address; greenshift, in the machine's own namespace, reaches it over the
// same remote protocol on its unix socket (the lab's addresses are not routed from the machine's
// namespace, so that labs can run side by side).
#pragma once

#include <string>

#include "core/status.h"
#include "hypervisor/libvirt/libvirt_driver.h"
#include "lab/lab.h"

namespace greenshift::lab {

// Starts the daemons of `site` and waits until they answer.
Status StartLibvirtHost(const LabState& state, const LabSite& site);
// Stops them (their VMs must be stopped first) and forgets their directories.
void StopLibvirtHost(const LabState& state, const LabSite& site);
// How greenshift and the other sites' daemons reach the site's daemon.
libvirt::LibvirtHost LibvirtHostFor(const LabState& state, const LabSite& site);
// The site's daemon UUID: derived from the lab and site names, different for every site.
std::string HostUuid(const std::string& lab, const std::string& site);

}  // namespace greenshift::lab
