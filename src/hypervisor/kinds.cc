#include "hypervisor/kinds.h"

namespace greenshift::hypervisor {

const std::vector<DriverKind>& DriverKinds() {
  static const std::vector<DriverKind> kinds = {
      {"qemu", "QEMU processes greenshift starts itself, over QMP (the lab's sites)", true,
       "the lab site it runs in", true, true, true, false},
      {"sim", "no hypervisor: the pre-copy model in place of migrations", false, "", false, false,
       false, false},
      {"libvirt",
       "libvirt daemons over their remote protocol (qemu+tls://, qemu+ssh://, xen:///system)", true,
       "its libvirt URI, e.g. qemu+tls://host.example/system", false, true, false, true},
  };
  return kinds;
}

const DriverKind* FindDriverKind(const std::string& name) {
  for (const DriverKind& kind : DriverKinds()) {
    if (kind.name == name) return &kind;
  }
  return nullptr;
}

std::string DriverKindNames() {
  std::string names;
  for (const DriverKind& kind : DriverKinds()) {
    names += (names.empty() ? "" : ", ") + kind.name;
  }
  return names;
}

}  // namespace greenshift::hypervisor
