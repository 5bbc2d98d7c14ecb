#include "cli/context.h"

#include <cstdio>

namespace greenshift::cli {

lab::LabConfig Context::LabConfig() const {
  lab::LabConfig config;
  config.name = lab;
  config.run_dir_root = run_dir;
  return config;
}

Result<lab::LabState> Context::OpenLab() const {
  return lab::LoadLab(LabConfig());
}

lab::LabDriver Context::DriverFor(const lab::LabState& state) const {
  return lab::OpenLabDriver(state, guest_dir, accel);
}

void Context::Fail(const std::string& message) {
  std::fprintf(stderr, "greenshift: error: %s\n", message.c_str());
  exit_code = 1;
}

}  // namespace greenshift::cli
