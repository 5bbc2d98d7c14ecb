// libFuzzer target for one parser, chosen at build time by GS_FUZZ_PARSER (see CMakeLists.txt).
// Whatever the bytes, a parser returns a value or an error; it never crashes, hangs or leaks.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

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
  auto r = ParseTimeSeriesCsv(text, file);
#elif GS_FUZZ_PARSER == 4
  auto r = ParseOpenMeteoJson(text, file);
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
  auto r = ParseCarbonCsv(text, file);
  if (r.ok()) (void)r->At(1640995200);
#elif GS_FUZZ_PARSER == 11
  // A plain time-series CSV read as weather.
  auto table = ParseTimeSeriesCsv(text, file);
  if (!table.ok()) return 0;
  auto r = WeatherFromTable(*table, 40, -105);
#else
#error "GS_FUZZ_PARSER must name a parser"
#endif
  (void)r.ok();
  return 0;
}
