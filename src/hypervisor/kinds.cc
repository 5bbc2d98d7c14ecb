#include "hypervisor/kinds.h"

namespace greenshift::hypervisor {

const std::vector<DriverKind>& DriverKinds() {
  static const std::vector<DriverKind> kinds = {
      {"qemu", "QEMU processes greenshift starts itself, over QMP (the lab's sites)", true, true,
       "the lab site it runs in", true, true, true},
      {"sim", "no hypervisor: the pre-copy model in place of migrations", true, false, "", false,
       false, false},
      {"libvirt", "libvirt over its remote protocol", false, true, "its libvirt URI", true, true,
       false},
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
    if (kind.in_this_build) names += (names.empty() ? "" : ", ") + kind.name;
  }
  return names;
}

}  // namespace greenshift::hypervisor
