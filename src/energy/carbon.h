// Grid carbon intensity: how much CO2 a kWh drawn from the grid at a site costs, hour by hour.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace greenshift::energy {

struct CarbonSeries {
  std::string zone;                 // grid zone, e.g. "DE", "GB", "US-CAL-CISO", "CISO"
  std::string source;               // the file it came from
  std::vector<int64_t> time_utc_s;  // the start of each hour, increasing
  std::vector<double> g_per_kwh;    // gCO2eq per kWh consumed
  size_t missing = 0;               // entries the source gave without a value (left out)
  // Intensity at `time_utc_s`: the step containing it; the first/last value outside the span.
  double At(int64_t time_utc_s) const;
};

// Electricity Maps' exports, the older (`Datetime (UTC),Country,Zone Name,Zone Id,Carbon
// Intensity gCO₂eq/kWh (direct),Carbon Intensity gCO₂eq/kWh (LCA),...`) and the current
// (`...,Zone id,Carbon intensity gCO₂eq/kWh (direct),Carbon intensity gCO₂eq/kWh (Life
// cycle),...`; column names are matched without regard to case): `lifecycle` picks the life
// cycle column (emissions of building the plants included) over the direct one.
//
// US EIA-930 derived hourly files (`timestamp,WND,SUN,...,avg_CI`, times with a UTC offset): the
// average intensity column.
//
// The format is recognized from the header row; the zone comes from the file (Zone Id) or, for
// EIA files, from `zone_if_unnamed`. Values must be finite and within 0..2000 g/kWh.
Result<CarbonSeries> ParseCarbonCsv(std::string_view text, const std::string& file,
                                    bool lifecycle = true, const std::string& zone_if_unnamed = "");

// An Electricity Maps API response (JSON): /v3/carbon-intensity/latest (one object with
// `carbonIntensity` and `datetime`), /history and /past-range (`history` or `data`: an array of
// such), /forecast (`forecast`: an array of `carbonIntensity` and `datetime`). Times are RFC
// 3339; an entry whose intensity is null is left out and counted in `missing`. An error
// response (`error`, or `status` "error" with a `message`) is an error that quotes it.
Result<CarbonSeries> ParseElectricityMapsJson(std::string_view text, const std::string& file);

// A WattTime v3 response (/v3/forecast, /v3/historical, /v3/signal-index is refused): `data`, an
// array of `point_time` (RFC 3339) and `value`, in `meta.units` (lbs_co2_per_mwh, converted to
// g/kWh, or g_co2_per_kwh); the zone is `meta.region`. A co2_moer signal is the marginal
// intensity (what one more kWh emits), not the average the other sources give.
Result<CarbonSeries> ParseWattTimeJson(std::string_view text, const std::string& file);

// A carbon intensity file of any of the shapes above, told apart by its content.
Result<CarbonSeries> ParseCarbonFile(std::string_view text, const std::string& file,
                                     bool lifecycle = true);

}  // namespace greenshift::energy
