#include "control/inputs.h"

#include "core/clock.h"
#include "energy/solar.h"

namespace greenshift::control {

std::string SiteInputs::CarbonGap(int64_t utc_s) const {
  if (!has_carbon || carbon.time_utc_s.empty()) return "";
  const int64_t step =
      carbon.time_utc_s.size() > 1
          ? carbon.time_utc_s.back() - carbon.time_utc_s[carbon.time_utc_s.size() - 2]
          : 3600;
  if (utc_s >= carbon.time_utc_s.back() + 2 * step)
    return "carbon intensity (" + carbon_file + ") ends at " +
           FormatUtcMinutes(carbon.time_utc_s.back() + step);
  if (utc_s < carbon.time_utc_s.front() - step)
    return "carbon intensity (" + carbon_file + ") starts at " +
           FormatUtcMinutes(carbon.time_utc_s.front());
  return "";
}

std::string SiteInputs::WeatherGap(int64_t from_utc_s, int64_t to_utc_s) const {
  if (weather.time_utc_s.empty()) return "no weather";
  const int64_t step =
      weather.time_utc_s.size() > 1 ? weather.time_utc_s[1] - weather.time_utc_s[0] : 3600;
  const int64_t end = weather.time_utc_s.back() + step;
  if (from_utc_s < weather.time_utc_s.front() || to_utc_s > end)
    return "the weather (" + weather_file + ") covers " +
           FormatUtcMinutes(weather.time_utc_s.front()) + " to " + FormatUtcMinutes(end) +
           ", not " + FormatUtcMinutes(from_utc_s) + " to " + FormatUtcMinutes(to_utc_s);
  return "";
}

void SetWeather(SiteInputs& in, energy::WeatherSeries weather, std::string source, int64_t slot_s) {
  in.weather = std::move(weather);
  in.weather_file = std::move(source);
  in.clear_sky_pv_w = SlotSeries{};
  if (in.forecast != GreenForecast::kHistory || in.model.pv.empty() || in.weather.size() == 0)
    return;
  // The PV under a clear sky, per slot, over the weather's span.
  energy::SiteModel pv_only = in.model;
  pv_only.wind.clear();
  const energy::WeatherSeries clear = energy::ClearSkyWeather(in.weather);
  const int64_t step =
      in.weather.size() > 1 ? in.weather.time_utc_s[1] - in.weather.time_utc_s[0] : 3600;
  energy::PowerSeries series{clear.time_utc_s, energy::ModelPowerW(pv_only, clear), step};
  const int64_t first = (in.weather.time_utc_s.front() + slot_s - 1) / slot_s;
  const int64_t end = (in.weather.time_utc_s.back() + step) / slot_s;
  if (end > first) {
    in.clear_sky_pv_w.first_slot = first;
    in.clear_sky_pv_w.values =
        energy::AverageIntoSlots(series, first * slot_s, slot_s, static_cast<size_t>(end - first));
  }
}

}  // namespace greenshift::control
