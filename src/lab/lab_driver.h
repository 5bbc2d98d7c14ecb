// The driver for a lab's sites, whichever hypervisor runs them, and how to start the lab's guest
// on it: the lab's business (the guest's kernel command line, or its domain XML), kept out of
// the neutral driver interface.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "core/status.h"
#include "hypervisor/driver.h"
#include "lab/guest.h"
#include "lab/lab.h"

namespace greenshift::qemu {
class QemuDriver;
}  // namespace greenshift::qemu

namespace greenshift::lab {

struct LabDriver {
  std::unique_ptr<hypervisor::Driver> driver;
  // Under qemu, the QEMU driver inside `driver` (which wraps it to steer the network at the
  // switchover), for what only it offers; null under libvirt.
  qemu::QemuDriver* qemu = nullptr;
  // Checks the guest and starts it on `site`; returns once the hypervisor runs it.
  std::function<Status(const GuestSpec& guest, const std::string& site)> start;
};

// For a lab under qemu: the qemu driver over QMP; under libvirt: the libvirt driver, one host per
// site; either wrapped so that the lab's network follows the guest at the switchover (its
// frames steered at the pause, those waiting in the source's tap handed over too,
// tap_handover.h: the lab's own QEMU, or the one libvirt runs the lab's domain in). `guest_dir`
// holds the guest's vmlinuz and initramfs.cpio.gz; `accel` is tcg or kvm.
LabDriver OpenLabDriver(const LabState& state, const std::string& guest_dir,
                        const std::string& accel);

// A driver whose hosts are the lab's sites (`inner`, say the service's libvirt hosts), wrapped as
// OpenLabDriver's is: the lab's network follows each guest it migrates, recovers or stops.
// `site_of_host` names each host's site (a host not in it is the site of its own name).
struct SteeredDriver {
  std::unique_ptr<hypervisor::Driver> driver;
  // Sends the traffic for VM `vm` (started by another way than `driver`) to the site of the
  // host it runs on.
  std::function<Status(const std::string& vm)> place;
};
SteeredDriver SteerLabNetwork(std::unique_ptr<hypervisor::Driver> inner, const LabState& state,
                              std::map<std::string, std::string> site_of_host);

}  // namespace greenshift::lab
