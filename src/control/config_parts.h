// Sections of the service's configuration read in files of their own (config.cc reads the rest).
// Each reads its section of the file into `config`, checking every key; errors name the key.
#pragma once

#include "control/config.h"
#include "control/toml_table.h"
#include "core/status.h"

namespace greenshift::control {

// [[links]]: a, b (two different sites of `config.sites`, which must be read already), mbit
// (default `config.link_mbit`), rtt_ms, network (l2, bgp or vxlan); a pair once.
Status ReadLinks(const Table& top, ServiceConfig& config);

}  // namespace greenshift::control
