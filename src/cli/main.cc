// greenshift: moves running VMs to where the green power is.
#include <cstdio>
#include <cstdlib>

#include <CLI/CLI.hpp>

#include "cli/context.h"

#ifndef GREENSHIFT_VERSION
#define GREENSHIFT_VERSION "unknown"
#endif

#ifndef GREENSHIFT_DEFAULT_GUEST_DIR
#define GREENSHIFT_DEFAULT_GUEST_DIR "/usr/local/share/greenshift/guest"
#endif

namespace {

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  greenshift::cli::Context context;
  context.lab = EnvOr("GREENSHIFT_LAB", context.lab);
  context.run_dir = EnvOr("GREENSHIFT_RUN_DIR", context.run_dir);
  context.guest_dir = EnvOr("GREENSHIFT_GUEST_DIR", GREENSHIFT_DEFAULT_GUEST_DIR);
  context.accel = EnvOr("GREENSHIFT_ACCEL", context.accel);

  CLI::App app{"greenshift: live-migrates virtual machines to the site with the most green power"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "greenshift " GREENSHIFT_VERSION);
  app.add_option("--lab", context.lab,
                 "lab name, the prefix of its namespaces (env GREENSHIFT_LAB)")
      ->capture_default_str();
  app.add_option("--run-dir", context.run_dir, "state directory (env GREENSHIFT_RUN_DIR)")
      ->capture_default_str();
  app.add_option("--guest-dir", context.guest_dir,
                 "guest kernel and initramfs (env GREENSHIFT_GUEST_DIR)")
      ->capture_default_str();
  app.add_option("--accel", context.accel, "QEMU accelerator: tcg or kvm (env GREENSHIFT_ACCEL)")
      ->check(CLI::IsMember({"tcg", "kvm"}))
      ->capture_default_str();

  greenshift::cli::AddLabCommands(app, context);
  greenshift::cli::AddVmCommands(app, context);
  greenshift::cli::AddMigrateCommand(app, context);
  greenshift::cli::AddProbeCommands(app, context);
  greenshift::cli::AddDemoCommand(app, context);
  greenshift::cli::AddEnergyCommands(app, context);
  greenshift::cli::AddModelCommands(app, context);
  greenshift::cli::AddForecastCommands(app, context);
  greenshift::cli::AddSimulateCommands(app, context);
  greenshift::cli::AddServeCommand(app, context);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version print and succeed; a usage error says so as every error does, and
    // fails with 1 (scripts tell "wrong call" from "it ran and failed" by the message).
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "greenshift: error: %s (see greenshift --help)\n", e.what());
    return 1;
  }
  return context.exit_code;
}
