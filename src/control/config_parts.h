// Sections of the service's configuration read in files of their own (config.cc reads the rest).
// Each reads its section of the file into `config`, checking every key; errors name the key.
#pragma once

#include "control/config.h"
#include "control/toml_table.h"
#include "core/status.h"

namespace greenshift::control {

// A secret's file: its first line, trimmed. A file others may read is refused (the secret is the
// service's API token, or a feed's token or password).
Result<std::string> ReadTokenFile(const std::string& path);

// [[links]]: a, b (two different sites of `config.sites`, which must be read already), mbit
// (default `config.link_mbit`), rtt_ms, network (l2, bgp or vxlan); a pair once.
Status ReadLinks(const Table& top, ServiceConfig& config);

// [feeds]: cache_dir, timeout_s, retries, retry_backoff_s (after [service]: the cache's default
// is beside the database).
Status ReadFeeds(const Table& top, ServiceConfig& config);

// A site's weather_feed and carbon_feed tables (`site` is the [[sites]] table); secrets are read
// here, from their files or the environment.
Status ReadSiteFeeds(const Table& site, const std::string& file, SiteConfig& config);

}  // namespace greenshift::control
