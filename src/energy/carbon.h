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
  // Intensity at `time_utc_s`: the step containing it; the first/last value outside the span.
  double At(int64_t time_utc_s) const;
};

// Electricity Maps' hourly export (`Datetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity
// gCO₂eq/kWh (direct),Carbon Intensity gCO₂eq/kWh (LCA),...`): `lifecycle` picks the LCA column
// (emissions of building the plants included) over the direct one.
//
// US EIA-930 derived hourly files (`timestamp,WND,SUN,...,avg_CI`, times with a UTC offset): the
// average intensity column.
//
// The format is recognized from the header row; the zone comes from the file (Zone Id) or, for
// EIA files, from `zone_if_unnamed`. Values must be finite and within 0..2000 g/kWh.
Result<CarbonSeries> ParseCarbonCsv(std::string_view text, const std::string& file,
                                    bool lifecycle = true, const std::string& zone_if_unnamed = "");

}  // namespace greenshift::energy
