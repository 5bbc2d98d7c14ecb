// libFuzzer target for one parser, chosen at build time by GS_FUZZ_PARSER (see CMakeLists.txt).
// Whatever the bytes, a parser returns a value or an error; it never crashes, hangs or leaks.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#if GS_FUZZ_PARSER == 12
#include "control/config.h"
#elif GS_FUZZ_PARSER == 14
#include "hypervisor/libvirt/libvirt_driver.h"
#elif GS_FUZZ_PARSER == 13
#include <unistd.h>

#include <memory>

#include "api/api.h"
#include "control/service.h"
#include "hypervisor/sim/sim_driver.h"
#endif
#include "energy/carbon.h"
#include "energy/csv.h"
#include "energy/sensor.h"
#include "energy/weather.h"
#include "energy/wind.h"

using namespace greenshift::energy;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string file = "fuzz";
#if GS_FUZZ_PARSER == 1
  auto r = ParsePowerCurves(text, file);
  if (r.ok()) {
    for (const PowerCurve& c : *r) (void)PowerAtW(c, 7.5);
  }
#elif GS_FUZZ_PARSER == 2
  auto r = ParseWindpowerlibWeather(text, file);
#elif GS_FUZZ_PARSER == 3
  // Strictly, then as measured power on a local clock (gaps, the zone's repeated and skipped
  // hours).
  static const greenshift::TimeZone zone = greenshift::TimeZone::Find("Europe/Amsterdam").value();
  (void)ParseTimeSeriesCsv(text, file);
  auto r = ParseTimeSeriesCsv(text, file, {Gaps::kMissing, &zone});
#elif GS_FUZZ_PARSER == 4
  auto r = ParseOpenMeteoJson(text, file, 50.1, 8.7);  // a site, for responses of several
#elif GS_FUZZ_PARSER == 5
  auto r = ParseEpw(text, file);
#elif GS_FUZZ_PARSER == 6
  auto r = ParseTmy3(text, file);
#elif GS_FUZZ_PARSER == 7
  auto r = ParsePvgisTmy(text, file);
#elif GS_FUZZ_PARSER == 8
  auto r = ParseNsrdbPsm3(text, file, NAN);
#elif GS_FUZZ_PARSER == 9
  auto r = ParseReadingPayload(std::string(text), "site", "sensor", 0);
#elif GS_FUZZ_PARSER == 10
  auto r = ParseCarbonFile(text, file);  // exports and API responses
  if (r.ok()) (void)r->At(1640995200);
#elif GS_FUZZ_PARSER == 11
  // A plain time-series CSV read as weather.
  auto table = ParseTimeSeriesCsv(text, file);
  if (!table.ok()) return 0;
  auto r = WeatherFromTable(*table, 40, -105);
#elif GS_FUZZ_PARSER == 12
  // The service's TOML config. Paths in it are relative to a directory that does not exist.
  auto r = greenshift::control::ParseConfig(std::string(text), "/nonexistent/fuzz.toml");
#elif GS_FUZZ_PARSER == 14
  // A libvirt domain's XML as a daemon sends it (the libvirt driver reads its disks), then which
  // of them a migration would copy.
  auto r = greenshift::libvirt::ParseDomainDisks(std::string(text));
  if (r.ok()) (void)greenshift::libvirt::DisksToCopy(*r, {"/srv/nfs"});
#elif GS_FUZZ_PARSER == 13
  // A request to the API: "METHOD PATH?QUERY\n" then the body, with the token. The API over a
  // real store and engine (sim driver), built once.
  using namespace greenshift;
  struct World {
    control::ServiceConfig config;
    std::unique_ptr<store::Store> store;
    std::unique_ptr<hypervisor::SimDriver> driver;
    std::unique_ptr<control::Service> service;
    std::unique_ptr<api::Api> api;
  };
  static World* world = [] {
    auto* w = new World;
    char dir[] = "/tmp/gs-fuzz-api-XXXXXX";
    if (mkdtemp(dir) == nullptr) abort();
    const char* toml = R"([service]
token = "fuzz-token-0123456789abcdef"
mode = "approve"
[[sites]]
name = "a"
latitude = 50
longitude = 8
capacity_kw = 1
[[sites.sensors]]
name = "pv"
capacity_kw = 5
[[sites]]
name = "b"
latitude = 51
longitude = 0
capacity_kw = 1
[[hosts]]
name = "a1"
site = "a"
driver = "sim"
[[hosts]]
name = "b1"
site = "b"
driver = "sim"
[[vms]]
name = "web"
host = "a1"
memory_mib = 256
)";
    w->config = control::ParseConfig(toml, std::string(dir) + "/g.toml").value();
    w->store = store::Store::Open(std::string(dir) + "/g.db").value();
    hypervisor::SimDriverConfig sim;
    sim.hosts = {"a1", "b1"};
    sim.instant = true;
    w->driver = std::make_unique<hypervisor::SimDriver>(sim);
    hypervisor::SimVm web;
    web.spec.name = "web";
    (void)w->driver->StartVm(web, "a1");
    w->service = std::make_unique<control::Service>(
        control::BuildService(w->config, *w->store, *w->driver, [] {
          return int64_t{1656676800000};
        }).value());
    (void)w->service->engine->Tick(1656676800000);
    w->api = std::make_unique<api::Api>(w->config, *w->store, *w->service->recorder,
                                        *w->service->engine);
    return w;
  }();
  const size_t line = text.find('\n');
  const std::string head(text.substr(0, line));
  api::Request request;
  const size_t space = head.find(' ');
  request.method = head.substr(0, space);
  api::ParseTarget(space == std::string::npos ? "/" : head.substr(space + 1), &request.path,
                   &request.query, &request.query_pairs);
  request.authorization = "Bearer fuzz-token-0123456789abcdef";
  if (line != std::string_view::npos) request.body = std::string(text.substr(line + 1));
  const api::Response response = world->api->Handle(request);
  if (response.status < 100 || response.status > 599) abort();
  bool r = true;
#else
#error "GS_FUZZ_PARSER must name a parser"
#endif
#if GS_FUZZ_PARSER == 13
  (void)r;
#else
  (void)r.ok();
#endif
  return 0;
}
