// What a site's observations and forecasts are made from besides its sensors: its PV and wind
// models with their weather, the PV it would make under a clear sky, and its grid's carbon
// intensity. Built from files at start (and again on SIGHUP, when an operator has put newer
// files in place) and from live feeds as they are fetched (control/feeds.h); each SiteInputs is
// immutable once built (a newer one is swapped in whole), shared by the observer and the
// forecaster.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "control/config.h"
#include "energy/carbon.h"
#include "energy/forecast.h"
#include "energy/weather.h"

namespace greenshift::control {

// One value per slot from `first_slot` (absolute slot index: time / slot length).
struct SlotSeries {
  int64_t first_slot = 0;
  std::vector<double> values;
  bool Covers(int64_t slot) const {
    return slot >= first_slot && slot < first_slot + static_cast<int64_t>(values.size());
  }
  // NaN before the first slot; past the last one, the last value (a series that ends a few
  // slots before a horizon does leaves its end standing, as the simulator's world does).
  double At(int64_t slot) const {
    if (values.empty() || slot < first_slot) return NAN;
    const int64_t i = std::min<int64_t>(slot - first_slot, static_cast<int64_t>(values.size()) - 1);
    return values[static_cast<size_t>(i)];
  }
};

struct SiteInputs {
  GreenForecast forecast = GreenForecast::kPersistence;
  CarbonForecast carbon_forecast = CarbonForecast::kFile;
  energy::SiteModel model;
  bool has_model = false;
  energy::WeatherSeries weather;
  std::string weather_file;
  SlotSeries clear_sky_pv_w;  // for the history method: PV under a clear sky, per slot
  energy::CarbonSeries carbon;
  bool has_carbon = false;
  std::string carbon_file;
  double carbon_constant = 400;  // gCO2/kWh when there is no carbon series
  // Whether the site has sensors at all: one without any (and without PV or wind) has no green
  // power, which is known, not stale.
  bool has_sensors = true;

  // Intensity at `utc_s` (the step that contains it), the constant without a series.
  double CarbonAt(int64_t utc_s) const { return has_carbon ? carbon.At(utc_s) : carbon_constant; }
  // Why the carbon series does not cover `utc_s` (it ends, or starts, more than a step away);
  // empty when it does, or when there is no series.
  std::string CarbonGap(int64_t utc_s) const;
  // Why the weather does not cover [from, to) (the model forecast cannot be made); empty when
  // it does.
  std::string WeatherGap(int64_t from_utc_s, int64_t to_utc_s) const;
};

// Sets `in.weather` (from `source`, for messages) and what is made from it: the PV under a clear
// sky per slot, for the history method.
void SetWeather(SiteInputs& in, energy::WeatherSeries weather, std::string source, int64_t slot_s);

// Every site's inputs; Replace swaps one in (SIGHUP) while the loop and the API read them.
class Inputs {
 public:
  explicit Inputs(std::vector<std::shared_ptr<const SiteInputs>> sites)
      : sites_(std::move(sites)) {}
  size_t size() const { return sites_.size(); }
  std::shared_ptr<const SiteInputs> Site(size_t site) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return sites_[site];
  }
  void Replace(size_t site, std::shared_ptr<const SiteInputs> inputs) {
    std::lock_guard<std::mutex> lock(mutex_);
    sites_[site] = std::move(inputs);
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<const SiteInputs>> sites_;
};

}  // namespace greenshift::control
