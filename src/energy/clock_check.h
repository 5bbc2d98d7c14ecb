// Whether a measured power file's clock agrees with the sun. A logger kept on local clock time
// with daylight saving but written with one fixed UTC offset (as some monitoring exports do)
// puts its summer an hour late: read as labelled, the forecast's error nearly doubles and
// calibration absorbs part of the shift, silently. The check compares, day by day, when the
// measured power is produced (its centre of mass in time) with when the site's model under the
// same weather produces it, and looks for a stretch of days an hour apart from the rest.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "energy/forecast.h"

namespace greenshift::energy {

struct ClockCheck {
  // Per usable day (enough sun, enough measurements): its start (UTC, the site's solar
  // midnight) and how much later the measured production's centre is than the model's.
  std::vector<int64_t> day_utc_s;
  std::vector<double> late_min;
  // The finding. `shifted`: the stretch of days (a week at least, and a week outside it) that
  // best splits the lateness into two levels, when its median is 40-90 min from the other
  // days' (or, with no such stretch, a median lateness of 50-90 min over the whole file).
  // `from`/`to`: the stretch's first day and the day after its last.
  bool shifted = false;
  int64_t from_utc_s = 0, to_utc_s = 0;
  size_t days_in = 0, days_out = 0;
  double late_in_min = 0, late_out_min = 0;  // medians inside and outside the stretch
  // In words, for an error or a log: the finding with its numbers, or why nothing was found.
  std::string evidence;
};

// The check on `measured` (W) against the PV model of `site` under `weather` (wind is left out:
// it has no time of day). Fewer than 14 usable days: no finding, and the evidence says so.
ClockCheck CheckClock(const SiteModel& site, const WeatherSeries& weather,
                      const PowerSeries& measured);

}  // namespace greenshift::energy
