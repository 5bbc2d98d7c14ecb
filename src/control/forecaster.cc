#include "control/forecaster.h"

#include <algorithm>
#include <cmath>

#include "control/clock.h"
#include "core/clock.h"

namespace greenshift::control {

namespace {

// History's PV: the most the last hour's clear-sky index may be (see PredictByHistory), and how
// long it takes to fade (1/e) into the week's. Over July-December 2022 at three sites, a 16 h
// fade (today's sky mostly stays today's) closed 0.5-1 point more of the way to the clairvoyant
// plan than 4 h.
constexpr double kMostClearSkyIndex = 1.5;
constexpr double kRecentIndexFade_h = 16;

// How a forecast's record fades: a score counts e^(-n / kRealizedFade) after n more forecasts of
// the same site, hour of the day and lead that had green in them (with hourly slots one a day:
// about the last three months; 20 or 40 did a little worse, 0.4-2 kg more CO2 on either half of
// 2022 at 4 h and 20 g: a few weeks of one hour's forecasts tell the forecast's error less well
// from the weather's luck). Before the first score, the share a move counted on while it
// was a fixed margin. Over 2022's three sites, the learned share in place of a fixed 10 % margin
// moved VMs 4.5 % less at the same hysteresis, and closed a little more of the gap held out; kept
// by the hour of the day, July-December's CO2 fell 0.4-0.6 points of the gap at every setting
// (docs/placement.md, "Held-out months").
constexpr double kRealizedFade = 100;
constexpr double kUnscoredShare = 0.9;
constexpr int64_t kNoSlot = INT64_MIN;

// x mod m in [0, m) (for x < 0 too: slots before 1970).
size_t FlooredMod(int64_t x, int64_t m) {
  return static_cast<size_t>((x % m + m) % m);
}

// The slot that lies whole days before `target` and was known at `now_slot` (the same time of
// day, the day before, or before that for slots more than a day ahead).
int64_t SameSlotDaysBefore(int64_t target, int64_t now_slot, int64_t day_slots) {
  const int64_t ahead = target - now_slot;  // >= 0
  return target - day_slots * ((ahead + day_slots) / day_slots);
}

}  // namespace

Forecaster::Forecaster(std::shared_ptr<const Inputs> inputs, int64_t slot_s,
                       std::vector<double> default_vm_power_w)
    : inputs_(std::move(inputs)),
      slot_s_(slot_s),
      day_slots_(std::max<int64_t>(1, 86400 / slot_s)),
      week_slots_(std::max<int64_t>(1, 7 * 86400 / slot_s)),
      seen_(inputs_->size()),
      default_vm_power_w_(std::move(default_vm_power_w)) {
  const size_t vms = default_vm_power_w_.size();
  vm_ring_.assign(vms * static_cast<size_t>(day_slots_), NAN);
  vm_ring_slot_.assign(static_cast<size_t>(day_slots_), INT64_MIN);
  vm_last_w_.assign(vms, NAN);
  forecast_w_.assign(seen_.size() * kScoredLeads * kScoredLeads, NAN);
  forecast_slot_.assign(forecast_w_.size(), kNoSlot);
  realized_w_.assign(seen_.size() * kRecordHours * kScoredLeads, 0);
  forecast_sum_w_.assign(realized_w_.size(), 0);
}

size_t Forecaster::ForecastCell(size_t site, int64_t target, size_t lead) const {
  const size_t ring = FlooredMod(target, static_cast<int64_t>(kScoredLeads));
  return (site * kScoredLeads + ring) * kScoredLeads + lead;
}

size_t Forecaster::RecordCell(size_t site, int64_t target, size_t lead) const {
  const size_t hour = FlooredMod(target * slot_s_, 86400) / 3600;
  return (site * kRecordHours + hour) * kScoredLeads + lead;
}

void Forecaster::ScoreLater(size_t site, int64_t first_slot, SiteForecast* out) const {
  const size_t n = out->green_w.size();
  out->green_realized_share.resize(n);
  for (size_t k = 0; k < n; ++k) {
    const size_t lead = std::min(k, kScoredLeads - 1);
    const int64_t target = first_slot + static_cast<int64_t>(k);
    if (k < kScoredLeads) {
      const size_t cell = ForecastCell(site, target, k);
      forecast_w_[cell] = out->green_w[k];
      forecast_slot_[cell] = target;
    }
    const size_t record = RecordCell(site, target, lead);
    const double forecast = forecast_sum_w_[record];
    out->green_realized_share[k] = forecast > 0 ? realized_w_[record] / forecast : kUnscoredShare;
  }
}

void Forecaster::Score(size_t site, int64_t slot, double measured_w) {
  const double keep = std::exp(-1 / kRealizedFade);
  for (size_t lead = 0; lead < kScoredLeads; ++lead) {
    const size_t cell = ForecastCell(site, slot, lead);
    if (forecast_slot_[cell] != slot) continue;  // not forecast this far ahead, or scored
    forecast_slot_[cell] = kNoSlot;              // once: a slot seen again is not scored again
    const double forecast = forecast_w_[cell];
    // A dark slot's forecast of nothing says nothing of the forecast, and would only fade
    // the daylight's scores.
    if (!(forecast > 0) || !std::isfinite(forecast) || std::isnan(measured_w)) continue;
    const size_t record = RecordCell(site, slot, lead);
    double& realized = realized_w_[record];
    double& sum = forecast_sum_w_[record];
    realized = realized * keep + std::min(forecast, std::max(0.0, measured_w));
    sum = sum * keep + forecast;
  }
}

void Forecaster::Learn(const Observation& observation) {
  const int64_t slot_ms = slot_s_ * 1000;
  // What was seen at `time` describes the slot that just ended (floored: times before 1970 too).
  const int64_t before = observation.time_ms - 1;
  const int64_t slot = before >= 0 ? before / slot_ms : -((-before + slot_ms - 1) / slot_ms);
  for (size_t s = 0; s < seen_.size() && s < observation.sites.size(); ++s) {
    const SiteObservation& o = observation.sites[s];
    std::deque<Seen>& history = seen_[s];
    if (!history.empty() && history.back().slot >= slot) history.pop_back();  // seen again
    const bool fresh = !std::isnan(o.green_w);
    Score(s, slot, o.green_w);
    history.push_back({slot, o.green_w, fresh ? o.pv_w : NAN, fresh ? o.wind_w : NAN});
    while (!history.empty() && history.front().slot < slot - week_slots_) history.pop_front();
  }
  const size_t vms = vm_last_w_.size();
  if (observation.vm_power_w.size() == vms && vms > 0) {
    const size_t cell = FlooredMod(slot, day_slots_);
    vm_ring_slot_[cell] = slot;
    double* row = &vm_ring_[cell * vms];
    for (size_t v = 0; v < vms; ++v) {
      const double w = observation.vm_power_w[v];
      row[v] = w;
      if (!std::isnan(w)) vm_last_w_[v] = w;
    }
  }
  last_ = observation.sites;
}

double Forecaster::VmPowerAt(size_t vm, int64_t slot) const {
  const size_t cell = FlooredMod(slot, day_slots_);
  if (vm_ring_slot_[cell] == slot) {
    const double w = vm_ring_[cell * vm_last_w_.size() + vm];
    if (!std::isnan(w)) return w;
  }
  return std::isnan(vm_last_w_[vm]) ? default_vm_power_w_[vm] : vm_last_w_[vm];
}

Forecast Forecaster::Predict(int64_t now_ms, size_t slots) const {
  Forecast f;
  const int64_t slot_ms = slot_s_ * 1000;
  f.issued_ms = now_ms;
  f.first_slot = TickSlot(now_ms, slot_ms);
  f.slot_s = slot_s_;
  f.slots = slots;
  f.sites.resize(inputs_->size());
  for (size_t s = 0; s < f.sites.size(); ++s) {
    const std::shared_ptr<const SiteInputs> in = inputs_->Site(s);
    PredictGreen(s, *in, f.first_slot, slots, &f.sites[s]);
    PredictCarbon(*in, f.first_slot, slots, &f.sites[s]);
    ScoreLater(s, f.first_slot, &f.sites[s]);
  }
  const size_t vms = vm_last_w_.size();
  f.vm_power_w.resize(vms * slots);
  for (size_t k = 0; k < slots; ++k) {
    const int64_t known =
        SameSlotDaysBefore(f.first_slot + static_cast<int64_t>(k), f.first_slot, day_slots_);
    for (size_t v = 0; v < vms; ++v) f.vm_power_w[v * slots + k] = VmPowerAt(v, known);
  }
  return f;
}

void Forecaster::PredictGreen(size_t site, const SiteInputs& in, int64_t first_slot, size_t slots,
                              SiteForecast* out) const {
  if (in.forecast == GreenForecast::kModel && in.has_model) {
    PredictByModel(site, in, first_slot, slots, out);
    if (!out->green_w.empty()) return;
  } else if (in.forecast == GreenForecast::kHistory) {
    PredictByHistory(site, in, first_slot, slots, out);
    if (!out->green_w.empty()) return;
  }
  // Persistence: what the sensors measure now stays.
  const double measured = site < last_.size() ? last_[site].green_w : NAN;
  if (std::isnan(measured) && out->stale.empty() && in.has_sensors)
    out->stale = "no fresh reading from its sensors";
  out->green_w.assign(slots, std::isnan(measured) ? 0.0 : measured);
  out->method = "persistence";
}

void Forecaster::PredictByModel(size_t site, const SiteInputs& in, int64_t first_slot, size_t slots,
                                SiteForecast* out) const {
  const int64_t start_s = first_slot * slot_s_;
  energy::ForecastOptions options;
  options.step_s = slot_s_;
  options.slots = slots;
  options.correction_window_s = std::max<int64_t>(3 * 3600, 3 * slot_s_);
  options.correction_decay_s = std::max<double>(4 * 3600, 4.0 * static_cast<double>(slot_s_));
  // The sensors' last hours, for the correction.
  energy::PowerSeries recent;
  recent.step_s = slot_s_;
  const int64_t from_slot = first_slot - std::max<int64_t>(8, 6 * 3600 / slot_s_);
  for (const Seen& seen : seen_[site]) {
    if (seen.slot < from_slot || std::isnan(seen.green_w)) continue;
    recent.time_utc_s.push_back(seen.slot * slot_s_);
    recent.power_w.push_back(seen.green_w);
  }
  Result<energy::SiteForecast> forecast =
      energy::ForecastSite(in.model, in.weather, recent, start_s, options);
  if (!forecast.ok()) {
    const std::string gap = in.WeatherGap(start_s, start_s + static_cast<int64_t>(slots) * slot_s_);
    out->stale = gap.empty() ? forecast.error() : gap;
    return;
  }
  out->green_w = forecast->green_w;
  for (double& w : out->green_w) {
    if (std::isnan(w)) w = 0;
  }
  out->method = "model";
}

void Forecaster::PredictByHistory(size_t site, const SiteInputs& in, int64_t first_slot,
                                  size_t slots, SiteForecast* out) const {
  const SlotSeries& clear = in.clear_sky_pv_w;
  if (!clear.Covers(first_slot)) {
    out->stale = "its clear-sky PV (from " + in.weather_file + ") does not cover " +
                 FormatUtcMinutes(first_slot * slot_s_);
    return;
  }
  const std::deque<Seen>& history = seen_[site];
  // The last week's clear-sky index and mean wind, and the last hour's index.
  double week_pv = 0, week_clear = 0, week_wind = 0;
  int64_t wind_slots = 0;
  bool any_recent = false;
  for (const Seen& seen : history) {
    if (seen.slot < first_slot - week_slots_ || seen.slot >= first_slot) continue;
    const double c = clear.At(seen.slot);
    if (!std::isnan(seen.pv_w) && !std::isnan(c)) {
      week_pv += seen.pv_w;
      week_clear += c;
    }
    if (!std::isnan(seen.wind_w)) {
      week_wind += seen.wind_w;
      ++wind_slots;
    }
    any_recent |= !std::isnan(seen.green_w) && seen.slot >= first_slot - day_slots_;
  }
  // The last hour alone, from the first light on: over a half-year of three sites the next
  // hours' PV was forecast best by how the last hour compared with clear sky (3 hours, or
  // leaving out the dawn's first 5 %, forecast worse and moved VMs worse: docs/placement.md).
  const int64_t recent_slots = std::max<int64_t>(1, 3600 / slot_s_);
  double recent_pv = 0, recent_clear = 0;
  double last_wind = NAN;
  for (const Seen& seen : history) {
    if (seen.slot < first_slot - recent_slots || seen.slot >= first_slot) continue;
    const double c = clear.At(seen.slot);
    if (seen.slot == first_slot - 1 && !std::isnan(seen.wind_w)) last_wind = seen.wind_w;
    if (std::isnan(seen.pv_w) || std::isnan(c) || !(c > 0)) continue;
    recent_pv += seen.pv_w;
    recent_clear += c;
  }
  const double week_index = week_clear > 0 ? week_pv / week_clear : 0.6;
  // At the first light the clear sky is a few watts and the ratio noise: no sky is more than
  // half again as bright as clear (cloud edges reach ~1.3 for minutes).
  const double recent_index =
      recent_clear > 0 ? std::min(kMostClearSkyIndex, recent_pv / recent_clear) : week_index;
  const double mean_wind = wind_slots > 0 ? week_wind / static_cast<double>(wind_slots) : 0;
  if (std::isnan(last_wind)) last_wind = mean_wind;
  // Silent sensors for a day make the week's index a guess (a service that has not run a day
  // yet is not stale for it).
  if (!history.empty() && history.front().slot <= first_slot - day_slots_ && !any_recent)
    out->stale = "no reading from its sensors in the last 24 h";
  const double slot_h = static_cast<double>(slot_s_) / 3600;
  out->green_w.resize(slots);
  for (size_t k = 0; k < slots; ++k) {
    const double lead_h = static_cast<double>(k + 1) * slot_h;
    const double index =
        week_index + (recent_index - week_index) * std::exp(-lead_h / kRecentIndexFade_h);
    const double wind = mean_wind + (last_wind - mean_wind) * std::exp(-lead_h / 6);
    out->green_w[k] = clear.At(first_slot + static_cast<int64_t>(k)) * index + wind;
  }
  out->method = "history";
}

void Forecaster::PredictCarbon(const SiteInputs& in, int64_t first_slot, size_t slots,
                               SiteForecast* out) const {
  const int64_t now_s = first_slot * slot_s_;
  const std::string gap = in.CarbonGap(now_s - 1);
  if (!gap.empty() && out->stale.empty()) out->stale = gap;
  out->carbon_g_per_kwh.resize(slots);
  const bool history = in.carbon_forecast == CarbonForecast::kHistory && in.has_carbon;
  const int64_t series_start =
      in.has_carbon && !in.carbon.time_utc_s.empty() ? in.carbon.time_utc_s.front() : INT64_MIN / 2;
  for (size_t k = 0; k < slots; ++k) {
    const int64_t slot = first_slot + static_cast<int64_t>(k);
    if (!history) {
      out->carbon_g_per_kwh[k] = in.CarbonAt(slot * slot_s_);
      continue;
    }
    // The last hour, moved by yesterday's change over the same hours, fading into the same
    // hour yesterday.
    const double lead_h = static_cast<double>(k + 1) * static_cast<double>(slot_s_) / 3600;
    const double yesterday =
        in.CarbonAt(SameSlotDaysBefore(slot, first_slot, day_slots_) * slot_s_);
    double forecast = yesterday;
    const int64_t day_before_last = (first_slot - 1 - day_slots_) * slot_s_;
    if (day_before_last >= series_start) {
      const double persist =
          in.CarbonAt((first_slot - 1) * slot_s_) + yesterday - in.CarbonAt(day_before_last);
      forecast = yesterday + (persist - yesterday) * std::exp(-lead_h / 6);
    }
    out->carbon_g_per_kwh[k] = std::max(0.0, forecast);
  }
}

}  // namespace greenshift::control
