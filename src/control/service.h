// The service's engine, built from its config: the files it names are read here (weather,
// carbon, replayed sensors: the inputs), its sensors connected (MQTT, Modbus), the placement
// problem and hosts set up, and the store's recorder put in place. `greenshift serve` and the
// tests build the service the same way.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "control/clock.h"
#include "control/config.h"
#include "control/engine.h"
#include "control/feeds.h"
#include "control/inputs.h"
#include "control/store_recorder.h"
#include "core/status.h"
#include "hypervisor/driver.h"
#include "store/store.h"

namespace greenshift::control {

struct Service {
  std::shared_ptr<Inputs> inputs;
  std::unique_ptr<StoreRecorder> recorder;
  std::unique_ptr<Engine> engine;
  ServiceClock clock;
  // The sites' live feeds, their cache already applied; Start()ed by whoever runs the engine.
  std::unique_ptr<FeedRunner> feeds;
  // What the operator should know about its inputs (a replay file's gaps, a cached feed body
  // that could not be read), for the log.
  std::vector<std::string> warnings;
};

// A replay keeps its epoch in the store, so that a restarted service goes on with the same day;
// a stored epoch that cannot be read is replaced (and said so), not fatal. The feeds fetch with
// `http` (HttpGet outside tests).
Result<Service> BuildService(const ServiceConfig& config, store::Store& store,
                             hypervisor::Driver& driver, ServiceClock::WallClock wall,
                             HttpGetFn http = HttpGet);

// One site's inputs from its files. `slot_s`: the engine's slot (the clear sky is kept per slot).
Result<std::shared_ptr<const SiteInputs>> LoadSiteInputs(const SiteConfig& site,
                                                         const std::string& config_file,
                                                         int64_t slot_s);
// Reads every site's weather and carbon files again and swaps them in (SIGHUP): all of them or,
// when one fails, none (the error names the site and the file). With `feeds`, their data is
// merged over the files first.
Status ReloadInputs(const ServiceConfig& config, Inputs& inputs, FeedRunner* feeds = nullptr);

// The placement problem the config describes (sites, VMs, links; one slot per period).
placement::Problem ProblemOf(const ServiceConfig& config);

}  // namespace greenshift::control
