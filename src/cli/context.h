// What every subcommand shares: the global options and how to open the lab and its driver.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "core/status.h"
#include "lab/lab.h"
#include "lab/lab_driver.h"

namespace greenshift::cli {

struct Context {
  std::string lab = "gs";
  std::string run_dir = "/run/greenshift";
  std::string guest_dir;
  std::string accel = "tcg";
  int exit_code = 0;

  lab::LabConfig LabConfig() const;
  // The lab that is up and a driver for its sites.
  Result<lab::LabState> OpenLab() const;
  // The lab's driver (qemu or libvirt, as the lab runs) and how to start its guest there.
  lab::LabDriver DriverFor(const lab::LabState& state) const;

  // Prints "greenshift: error: MESSAGE" to stderr and sets a failing exit code.
  void Fail(const std::string& message);
};

void AddLabCommands(CLI::App& app, Context& context);
void AddVmCommands(CLI::App& app, Context& context);
void AddMigrateCommand(CLI::App& app, Context& context);
void AddProbeCommands(CLI::App& app, Context& context);
void AddDemoCommand(CLI::App& app, Context& context);
void AddEnergyCommands(CLI::App& app, Context& context);
void AddModelCommands(CLI::App& app, Context& context);
void AddForecastCommands(CLI::App& app, Context& context);
void AddSimulateCommands(CLI::App& app, Context& context);
void AddServeCommand(CLI::App& app, Context& context);

}  // namespace greenshift::cli
