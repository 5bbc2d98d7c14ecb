// What the weather parsers (weather.cc, openmeteo.cc) share; not for callers of weather.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/status.h"
#include "energy/weather.h"

namespace greenshift::energy {

void Reserve(WeatherSeries& w, size_t n);

// Appends one step; every series gets a value (NaN where the source has none).
void Push(WeatherSeries& w, int64_t t, double ghi, double dni, double dhi, double temp, double wind,
          double cloud, double humidity);

// Physical plausibility, so that a unit mix-up (km/h read as m/s, °F as °C, Wh as kWh) is
// caught at the edge rather than in a forecast; and times that increase.
Status CheckRanges(const WeatherSeries& w);

}  // namespace greenshift::energy
