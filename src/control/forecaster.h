// predict: the second stage. From what the observer saw (kept as history) and each site's inputs
// (weather and models, clear sky, carbon), each site's green power and grid carbon intensity,
// and each VM's power, for the slots ahead. How a site is forecast is its config's choice:
//   model        its PV and wind models on the weather, corrected by the sensors' last hours
//   history      PV: the clear sky scaled by the last hour's clear-sky index, fading into the
//                last week's;
//                wind: the last value fading into the week's mean
//   persistence  what the sensors measure now stays
// Carbon: the file read ahead (it holds forecasts), or the last hour moved by yesterday's change
// over the same hours. VM power: the same slot of the day before, else the last value seen.
//
// A site whose inputs do not cover now (a weather file that has ended, a carbon series years
// old, no sensor reading at all) is marked stale with why: its forecast is still made (from what
// is left), but nothing may be moved on it.
//
// What a forecast is worth is learned too: Predict remembers the green it forecast, Learn scores
// it against what the sensors measured, and each forecast carries the share of its recent green
// forecasts that came, by how far ahead and the hour of the day (SiteForecast::
// green_realized_share).
//
// Thread safety: one thread (the loop) calls Learn and Predict.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "control/inputs.h"
#include "control/observer.h"

namespace greenshift::control {

struct SiteForecast {
  std::vector<double> green_w;  // one per slot, from the forecast's first slot
  // Per slot: the share of the green this forecaster forecast for the site, as far ahead and for
  // the same hour of the day, that its sensors then measured, over its recent forecasts (the
  // forecast's over-estimates taken out: the sum of min(measured, forecast) over the sum of
  // forecast). What a move may count on: a winter's broken clouds make it 0.6 four hours ahead,
  // California's summer 0.95. Empty: all of it (a forecast that knows).
  std::vector<double> green_realized_share;
  std::vector<double> carbon_g_per_kwh;
  std::string method;  // "model", "history", "persistence" (what was used, after fallbacks)
  std::string stale;   // why its inputs do not cover now; empty when they do
};

struct Forecast {
  int64_t issued_ms = 0;
  int64_t first_slot = 0;  // absolute slot index (time / slot length) of slot 0
  int64_t slot_s = 0;
  size_t slots = 0;
  std::vector<SiteForecast> sites;
  std::vector<double> vm_power_w;  // vm * slots + k
  double VmPower(size_t vm, size_t k) const { return vm_power_w[vm * slots + k]; }
};

// The engine's predict stage: the Forecaster below in the service and the simulator; the
// simulator's clairvoyant reference puts one in its place that knows what will happen
// (sim::SimulationOptions::clairvoyant), so that the same engine and policy show what perfect
// foresight would have achieved.
class Predictor {
 public:
  virtual ~Predictor() = default;
  // Keeps what was observed over the period that ended at `observation.time_ms`.
  virtual void Learn(const Observation& observation) = 0;
  // The forecast for `slots` slots from the tick's slot (TickSlot: the nearest boundary).
  virtual Forecast Predict(int64_t now_ms, size_t slots) const = 0;
};

class Forecaster : public Predictor {
 public:
  // `default_vm_power_w`: what a VM is taken to draw before anything was observed of it.
  Forecaster(std::shared_ptr<const Inputs> inputs, int64_t slot_s,
             std::vector<double> default_vm_power_w);

  void Learn(const Observation& observation) override;
  Forecast Predict(int64_t now_ms, size_t slots) const override;

 private:
  struct Seen {
    int64_t slot = 0;
    double green_w = NAN, pv_w = NAN, wind_w = NAN;
  };
  void PredictGreen(size_t site, const SiteInputs& in, int64_t first_slot, size_t slots,
                    SiteForecast* out) const;
  void PredictByModel(size_t site, const SiteInputs& in, int64_t first_slot, size_t slots,
                      SiteForecast* out) const;
  void PredictByHistory(size_t site, const SiteInputs& in, int64_t first_slot, size_t slots,
                        SiteForecast* out) const;
  void PredictCarbon(const SiteInputs& in, int64_t first_slot, size_t slots,
                     SiteForecast* out) const;
  // Remembers the green just forecast for the site (for Learn to score), and gives each slot
  // the share of such forecasts that came.
  void ScoreLater(size_t site, int64_t first_slot, SiteForecast* out) const;
  // Scores the forecasts made for `slot` against what the site measured in it.
  void Score(size_t site, int64_t slot, double measured_w);
  double VmPowerAt(size_t vm, int64_t slot) const;

  std::shared_ptr<const Inputs> inputs_;
  const int64_t slot_s_;
  const int64_t day_slots_, week_slots_;
  std::vector<std::deque<Seen>> seen_;  // per site, oldest first, at most a week
  std::vector<double> default_vm_power_w_;
  // The last day of observed VM power: a ring of rows (one per slot % day_slots_, one value
  // per VM in each).
  std::vector<double> vm_ring_;
  std::vector<int64_t> vm_ring_slot_;  // which slot each ring cell holds (shared by every VM)
  std::vector<double> vm_last_w_;      // the newest value seen per VM (NaN: none yet)
  std::vector<SiteObservation> last_;  // the newest observation of each site

  // The green forecast for each site up to kScoredLeads slots ahead, until it is scored: a ring
  // of kScoredLeads target slots (a forecast reaches kScoredLeads - 1 past the slot Learn
  // scores next), kScoredLeads leads each, with the target slot each cell holds. Written by
  // Predict (it is const to its callers: it remembers, it does not change a forecast).
  static constexpr size_t kScoredLeads = 24;
  mutable std::vector<double> forecast_w_;  // (site * kScoredLeads + ring) * kScoredLeads + lead
  mutable std::vector<int64_t> forecast_slot_;  // the target slot of each cell; kNoSlot: none
  // The cell of the two above that holds the forecast of slot `target` made `lead` slots ahead.
  size_t ForecastCell(size_t site, int64_t target, size_t lead) const;
  // Per site, hour of the day (UTC) of the slot forecast, and lead: min(measured, forecast) and
  // forecast, summed with older forecasts fading. By the hour, because how much of a forecast
  // comes depends on it: hours ahead, a morning's is made in the dark from the week's sky alone,
  // an afternoon's after the morning's sky was seen (2022, five hours ahead, May-September: San
  // Jose's 7-9 h PST got 0.64-0.84 of their forecast green, 12-17 h 0.87-0.96), and one record
  // for the whole day lent the good hours' record to the bad ones (docs/placement.md).
  static constexpr size_t kRecordHours = 24;
  std::vector<double> realized_w_, forecast_sum_w_;
  // The cell of the two above that scores forecasts of slot `target` made `lead` slots ahead.
  size_t RecordCell(size_t site, int64_t target, size_t lead) const;
};

}  // namespace greenshift::control
