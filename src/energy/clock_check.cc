#include "energy/clock_check.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/clock.h"

namespace greenshift::energy {

namespace {

constexpr int64_t kDayS = 86400;
constexpr int64_t kSlotS = 1800;
constexpr size_t kMinDays = 14;      // usable days before anything is concluded
constexpr size_t kMinStretch = 7;    // days in a stretch, and outside it
constexpr double kHourLowMin = 40;   // a shift this far from the rest is "an hour"...
constexpr double kHourHighMin = 90;  // ...up to this far (with the model's own few minutes)
// Over a whole file there is nothing to compare with: from 50 min. (A file of hourly values
// stamped at their period's end reads about 30 min late; with the model's own few minutes it
// must not pass for an hour.)
constexpr double kWholeLowMin = 50;

double Median(std::vector<double> v) {
  if (v.empty()) return NAN;
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  double m = v[mid];
  if (v.size() % 2 == 0)
    m = (m + *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid))) / 2;
  return m;
}

std::string Day(int64_t utc_s) {
  return FormatUtcMinutes(utc_s).substr(0, 10);
}

// "61 min later", "3 min earlier".
std::string Lateness(double minutes) {
  char text[48];
  std::snprintf(text, sizeof text, "%.0f min %s", std::abs(minutes),
                minutes >= 0 ? "later" : "earlier");
  return text;
}

}  // namespace

ClockCheck CheckClock(const SiteModel& site, const WeatherSeries& weather,
                      const PowerSeries& measured) {
  ClockCheck out;
  SiteModel pv = site;
  pv.wind.clear();
  if (pv.pv.empty() || weather.size() < 2 || measured.time_utc_s.empty()) {
    out.evidence = "the site has no PV, or there is no weather or no measurement: not checked";
    return out;
  }
  const PowerSeries model = ModelSeries(pv, weather);
  // Days from solar midnight to solar midnight, so a day's production is never cut in two.
  const int64_t solar_ahead_s = std::llround(pv.pv.front().longitude_deg * 240);
  const int64_t begin = std::max(measured.time_utc_s.front(), weather.time_utc_s.front());
  const int64_t end = std::min(measured.time_utc_s.back() + std::max<int64_t>(1, measured.step_s),
                               weather.time_utc_s.back() + model.step_s);
  const int64_t first_day =
      (begin + solar_ahead_s + kDayS - 1) / kDayS * kDayS - solar_ahead_s;  // begin >= 0 here
  const size_t slots = static_cast<size_t>(kDayS / kSlotS);
  const double lit_w = 0.05 * pv.CapacityW();
  for (int64_t day = first_day; day + kDayS <= end; day += kDayS) {
    const std::vector<double> m = AverageIntoSlots(measured, day, kSlotS, slots);
    const std::vector<double> p = AverageIntoSlots(model, day, kSlotS, slots);
    double sum_m = 0, at_m = 0, sum_p = 0, at_p = 0;
    size_t lit = 0, known = 0;
    bool weather_missing = false;
    for (size_t k = 0; k < slots; ++k) {
      if (std::isnan(p[k])) {
        weather_missing = true;
        break;
      }
      if (p[k] > lit_w) {
        ++lit;
        if (!std::isnan(m[k])) ++known;
      }
      if (std::isnan(m[k])) continue;  // both centres over the same slots
      const double mid_min = (static_cast<double>(k) + 0.5) * kSlotS / 60;
      sum_m += std::max(0.0, m[k]);
      at_m += std::max(0.0, m[k]) * mid_min;
      sum_p += std::max(0.0, p[k]);
      at_p += std::max(0.0, p[k]) * mid_min;
    }
    // Enough sun (3 h lit), nearly all of it measured, and the measurement not mostly dark.
    if (weather_missing || lit < 6 || known * 10 < lit * 9 || !(sum_m > 0.3 * sum_p)) continue;
    out.day_utc_s.push_back(day);
    out.late_min.push_back(at_m / sum_m - at_p / sum_p);
  }
  const size_t n = out.late_min.size();
  char text[400];
  if (n < kMinDays) {
    std::snprintf(text, sizeof text,
                  "only %zu usable days (sunny enough and measured): the clock was not checked "
                  "(%zu needed)",
                  n, kMinDays);
    out.evidence = text;
    return out;
  }
  // The stretch of days that best splits the lateness into two levels (least absolute
  // deviation from each part's median): a clock an hour off for a stretch is a step there.
  // (The stretch farthest from the rest would be a week of extremes, not the step.)
  double best_cost = INFINITY, best = 0;
  size_t best_i = 0, best_j = 0;
  std::vector<double> in, rest;
  auto split = [&](size_t i, size_t j) {
    in.assign(out.late_min.begin() + static_cast<std::ptrdiff_t>(i),
              out.late_min.begin() + static_cast<std::ptrdiff_t>(j));
    rest.assign(out.late_min.begin(), out.late_min.begin() + static_cast<std::ptrdiff_t>(i));
    rest.insert(rest.end(), out.late_min.begin() + static_cast<std::ptrdiff_t>(j),
                out.late_min.end());
  };
  auto deviation = [](const std::vector<double>& v, double median) {
    double sum = 0;
    for (double x : v) sum += std::abs(x - median);
    return sum;
  };
  for (size_t i = 0; i + kMinStretch <= n; ++i) {
    for (size_t j = i + kMinStretch; j <= n; ++j) {
      if (n - (j - i) < kMinStretch) continue;
      split(i, j);
      const double median_in = Median(in), median_rest = Median(rest);
      const double cost = deviation(in, median_in) + deviation(rest, median_rest);
      if (cost < best_cost) {
        best_cost = cost;
        best = std::abs(median_in - median_rest);
        best_i = i;
        best_j = j;
      }
    }
  }
  const double whole = Median(out.late_min);
  if (best >= kHourLowMin && best <= kHourHighMin) {
    split(best_i, best_j);
    out.shifted = true;
    out.from_utc_s = out.day_utc_s[best_i];
    out.to_utc_s = out.day_utc_s[best_j - 1] + kDayS;
    out.days_in = in.size();
    out.days_out = rest.size();
    out.late_in_min = Median(in);
    out.late_out_min = Median(rest);
    std::snprintf(text, sizeof text,
                  "measured power comes %s than the model's from %s to %s (median of %zu usable "
                  "days) but %s on the other %zu: the file's clock is an hour off there (a "
                  "logger on local time with daylight saving, written with one fixed UTC "
                  "offset?)",
                  Lateness(out.late_in_min).c_str(), Day(out.from_utc_s).c_str(),
                  Day(out.to_utc_s - kDayS).c_str(), out.days_in,
                  Lateness(out.late_out_min).c_str(), out.days_out);
  } else if (std::abs(whole) >= kWholeLowMin && std::abs(whole) <= kHourHighMin) {
    out.shifted = true;
    out.from_utc_s = out.day_utc_s.front();
    out.to_utc_s = out.day_utc_s.back() + kDayS;
    out.days_in = n;
    out.late_in_min = whole;
    std::snprintf(text, sizeof text,
                  "measured power comes %s than the model's on all %zu usable days (median): "
                  "the file's clock is an hour off (local daylight-saving time written as "
                  "standard time?)",
                  Lateness(whole).c_str(), n);
  } else {
    std::snprintf(text, sizeof text,
                  "measured power comes %s than the model's (median of %zu usable days); no "
                  "stretch of days is an hour apart from the rest (the best split: %.0f min)",
                  Lateness(whole).c_str(), n, best);
  }
  out.evidence = text;
  return out;
}

}  // namespace greenshift::energy
