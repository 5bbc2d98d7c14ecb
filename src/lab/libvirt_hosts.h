// The lab's libvirt hosts (`lab up --hypervisor libvirt`): one libvirt daemon per site, each in
// its site's network namespace and a mount namespace of its own, where /run/libvirt,
// /var/lib/libvirt, /etc/libvirt, /var/log/libvirt and /var/cache/libvirt are the site's own
// directories under <run_dir>/libvirt/<site>/ (bind mounts), with virtlogd beside it, its own
// host UUID (libvirt refuses to migrate between hosts with the same one), QEMU run as root with
// no security driver (the guest's kernel is in the build tree). Each daemon listens on TCP
// (16509, no auth: only inside the lab's namespaces) where the other sites' daemons reach it at
// the site's migration address; greenshift, in the machine's own namespace, reaches it over the
// same remote protocol on its unix socket (the lab's addresses are not routed from the machine's
// namespace, so that labs can run side by side). A guest's disk is in the site's own directory
// of the lab's disks (<disk_dir>/<site>, bound at kLibvirtImageDir in the daemon's namespace), in
// a storage pool named kLibvirtPool: a disk that moves is copied by libvirt into the
// destination's pool.
#pragma once

#include <string>

#include "core/status.h"
#include "hypervisor/libvirt/libvirt_driver.h"
#include "lab/guest.h"
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

// The storage pool of every site's daemon where the lab's guests' disks are.
inline constexpr const char* kLibvirtPool = "greenshift";

// Starts the lab's guest `guest` on host `host` (the lab site `site`) through `driver`: checked,
// one VM of a name, its disk (storage "copy") made in the site's directory first, and never over
// an image of that VM on any site (a disk is never overwritten); a disk on the lab's shared
// storage (nbd, iscsi, nfs) is created and exported there first and reached as a network disk.
Status StartLibvirtGuest(libvirt::LibvirtDriver& driver, const LabState& state,
                         const GuestSpec& guest, const std::string& host, const std::string& site,
                         const std::string& guest_dir, const std::string& accel,
                         const std::string& bridge);
// The process of the QEMU that site `site`'s daemon runs VM `vm` in (its pid file in the site's
// run directory), or NotFound.
Result<int> LibvirtGuestPid(const LabState& state, const LabSite& site, const std::string& vm);
// The images of VM `vm`'s disk on every site of the lab, removed (after it stopped).
void RemoveLibvirtGuestDisk(const LabState& state, const std::string& vm);

}  // namespace greenshift::lab
