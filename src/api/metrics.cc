#include "api/metrics.h"

#include <cmath>
#include <cstdio>

#include "energy/sensor.h"

namespace greenshift::api {

std::string MetricLabel(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

namespace {

std::string Number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char text[64];
  std::snprintf(text, sizeof text, "%.9g", v);
  return text;
}

class Page {
 public:
  void Head(const char* name, const char* type, const char* help) {
    out_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void Line(const std::string& name, const std::string& labels, double value) {
    out_ += name;
    if (!labels.empty()) out_ += "{" + labels + "}";
    out_ += " " + Number(value) + "\n";
  }
  void Histogram(const char* name, const char* help, const greenshift::Histogram& h) {
    Head(name, "histogram", help);
    const std::string bucket = std::string(name) + "_bucket";
    for (size_t i = 0; i < h.bounds().size(); ++i)
      Line(bucket, "le=\"" + Number(h.bounds()[i]) + "\"",
           static_cast<double>(h.CumulativeCount(i)));
    Line(bucket, "le=\"+Inf\"", static_cast<double>(h.count()));
    Line(std::string(name) + "_sum", "", h.sum());
    Line(std::string(name) + "_count", "", static_cast<double>(h.count()));
  }
  std::string& text() { return out_; }

 private:
  std::string out_;
};

std::string Site(const std::string& name) {
  return "site=\"" + MetricLabel(name) + "\"";
}

}  // namespace

std::string RenderMetrics(const MetricsInput& in) {
  Page p;
  const control::EngineStatus& s = *in.status;
  p.Head("greenshift_site_green_power_watts", "gauge",
         "Green power measured now per site (the sum of its sensors' fresh readings).");
  for (const control::SiteView& site : *in.sites) {
    if (!std::isnan(site.green_w))
      p.Line("greenshift_site_green_power_watts", Site(site.name), site.green_w);
  }
  p.Head("greenshift_green_power_forecast_watts", "gauge",
         "Green power forecast per site for the slot about to start.");
  for (const control::SiteView& site : *in.sites) {
    if (!std::isnan(site.forecast_next_w))
      p.Line("greenshift_green_power_forecast_watts", Site(site.name), site.forecast_next_w);
  }
  p.Head("greenshift_site_load_watts", "gauge", "Power drawn by the VMs running at each site.");
  for (const control::SiteView& site : *in.sites)
    p.Line("greenshift_site_load_watts", Site(site.name), site.load_w);
  p.Head("greenshift_grid_carbon_intensity_grams_per_kwh", "gauge",
         "Grid carbon intensity at each site over the last period (gCO2eq per kWh).");
  for (const control::SiteView& site : *in.sites) {
    if (!std::isnan(site.carbon_g_per_kwh))
      p.Line("greenshift_grid_carbon_intensity_grams_per_kwh", Site(site.name),
             site.carbon_g_per_kwh);
  }
  p.Head("greenshift_site_stale", "gauge",
         "1 when a site's inputs (weather, carbon, sensors) do not cover now: nothing planned "
         "moves to or from it.");
  for (const control::SiteView& site : *in.sites)
    p.Line("greenshift_site_stale", Site(site.name), site.stale.empty() ? 0 : 1);

  p.Head("greenshift_migrations_total", "counter", "Moves by how they ended.");
  for (const char* result : {"completed", "failed", "interrupted", "cancelled"}) {
    auto it = s.moves.ended.find(result);
    p.Line("greenshift_migrations_total", std::string("result=\"") + result + "\"",
           it == s.moves.ended.end() ? 0 : static_cast<double>(it->second));
  }
  p.Head("greenshift_last_migration_downtime_seconds", "gauge",
         "Measured pause of the last completed migration.");
  if (s.last_pause_ms >= 0)
    p.Line("greenshift_last_migration_downtime_seconds", "", s.last_pause_ms / 1000);
  p.Histogram("greenshift_migration_pause_seconds",
              "Guest pause of each completed migration (source stop to destination resume).",
              s.pause_seconds);
  const control::ModelErrorSummary model = s.model_errors.Summary();
  p.Head("greenshift_model_compared_moves", "gauge",
         "Completed moves the cost model's errors are taken over (the last 50 at most).");
  p.Line("greenshift_model_compared_moves", "", static_cast<double>(model.moves));
  p.Head("greenshift_model_error_ratio", "gauge",
         "The cost model's median absolute relative error over those moves, per quantity.");
  for (const auto& [quantity, error] : {std::pair<const char*, double>{"total_time", model.total},
                                        {"bytes", model.bytes},
                                        {"pause", model.pause}}) {
    if (!std::isnan(error))
      p.Line("greenshift_model_error_ratio", std::string("quantity=\"") + quantity + "\"", error);
  }
  // A gauge of what the calibration measured of each link, for the links it measured so.
  auto per_link = [&](const char* name, const char* help, double control::LinkCalibration::*value) {
    p.Head(name, "gauge", help);
    for (const control::LinkCalibration& l : s.calibrated_links) {
      if (l.*value >= 0)
        p.Line(name, "from=\"" + MetricLabel(l.from) + "\",to=\"" + MetricLabel(l.to) + "\"",
               l.*value);
    }
  };
  per_link("greenshift_link_measured_bytes_per_second",
           "What the migration streams of completed moves carried over each link (the median of "
           "the last 5), which prices its next moves.",
           &control::LinkCalibration::measured_bytes_s);
  per_link("greenshift_link_switchover_seconds",
           "How much longer the guests of completed moves over each link paused than the data "
           "left to send (stopping, loading the device state, starting; the median of the last "
           "5), which prices its next moves' pauses.",
           &control::LinkCalibration::switchover_s);
  p.Head("greenshift_moves_in_progress", "gauge", "Moves queued or running.");
  p.Line("greenshift_moves_in_progress", "",
         static_cast<double>(s.moves.queued) + static_cast<double>(s.moves.running));

  p.Head("greenshift_loop_duration_seconds", "gauge",
         "How long the last loop (observe to act) took.");
  p.Line("greenshift_loop_duration_seconds", "", s.last_tick_duration_s);
  p.Histogram("greenshift_loop_seconds", "How long each loop took.", s.loop_seconds);
  p.Head("greenshift_loop_ticks_total", "counter", "Loops run.");
  p.Line("greenshift_loop_ticks_total", "", static_cast<double>(s.ticks));
  p.Head("greenshift_planning_seconds", "gauge", "How long the policy took for the last plan.");
  p.Line("greenshift_planning_seconds", "", s.last_planning_ms / 1000);
  if (!std::isnan(s.last_mip_gap)) {
    p.Head("greenshift_plan_mip_gap", "gauge",
           "Relative gap of the last optimal plan to its bound.");
    p.Line("greenshift_plan_mip_gap", "", s.last_mip_gap);
  }

  const double load = s.totals.load_wh;
  p.Head("greenshift_green_share", "gauge",
         "Share of the VMs' energy that was green, since start.");
  p.Line("greenshift_green_share", "placement=\"greenshift\"",
         load > 0 ? s.totals.green_used_wh / load : 0);
  p.Line("greenshift_green_share", "placement=\"static\"",
         load > 0 ? s.totals.static_green_used_wh / load : 0);
  p.Head("greenshift_energy_kwh_total", "counter", "Energy the VMs drew, since start.");
  p.Line("greenshift_energy_kwh_total", "", load / 1000);
  p.Head("greenshift_co2_kg_total", "counter",
         "CO2 of the brown energy the VMs drew, since start, with greenshift and with every VM at "
         "home.");
  p.Line("greenshift_co2_kg_total", "placement=\"greenshift\"", s.totals.co2_kg);
  p.Line("greenshift_co2_kg_total", "placement=\"static\"", s.totals.static_co2_kg);

  p.Head("greenshift_green_power_watts", "gauge",
         "Green power last measured, per site and sensor.");
  for (const control::SensorView& sensor : *in.sensors) {
    if (!sensor.has_reading) continue;
    p.Line("greenshift_green_power_watts",
           Site(sensor.spec.site) + ",sensor=\"" + MetricLabel(sensor.spec.name) + "\"",
           sensor.last_power_w);
  }
  p.Head("greenshift_readings_accepted_total", "counter", "Sensor readings accepted and stored.");
  p.Line("greenshift_readings_accepted_total", "", static_cast<double>(in.readings->accepted));
  p.Head("greenshift_readings_duplicate_total", "counter",
         "Readings sent again that were stored before (not stored twice).");
  p.Line("greenshift_readings_duplicate_total", "", static_cast<double>(in.readings->duplicates));
  p.Head("greenshift_readings_rejected_total", "counter", "Sensor readings rejected, by reason.");
  std::vector<std::string> reasons;
  for (energy::RejectReason r : energy::AllRejectReasons())
    reasons.push_back(energy::RejectReasonName(r));
  reasons.push_back("unknown_sensor");
  reasons.push_back("store");
  for (const std::string& reason : reasons) {
    auto it = in.readings->rejected.find(reason);
    p.Line("greenshift_readings_rejected_total", "reason=\"" + reason + "\"",
           it == in.readings->rejected.end() ? 0 : static_cast<double>(it->second));
  }
  p.Head("greenshift_sensor_problems_total", "counter",
         "Problems reading sensors (malformed payloads, unreachable inverters).");
  p.Line("greenshift_sensor_problems_total", "", static_cast<double>(in.readings->problems));
  p.Head("greenshift_sensor_source_up", "gauge", "1 while a polled sensor source is reachable.");
  for (const auto& [source, up] : *in.sources)
    p.Line("greenshift_sensor_source_up", "source=\"" + MetricLabel(source) + "\"", up ? 1 : 0);

  if (in.feeds != nullptr && !in.feeds->empty()) {
    auto feed = [](const control::FeedView& f) {
      return "site=\"" + MetricLabel(f.site) + "\",feed=\"" + f.what + "\"";
    };
    p.Head("greenshift_feed_age_seconds", "gauge",
           "Age of a live feed's data (since the fetch it came from); absent before any.");
    for (const control::FeedView& f : *in.feeds)
      if (f.age_s >= 0) p.Line("greenshift_feed_age_seconds", feed(f), f.age_s);
    p.Head("greenshift_feed_stale", "gauge",
           "1 when a live feed's data is older than its stale_after_s, or there is none.");
    for (const control::FeedView& f : *in.feeds)
      p.Line("greenshift_feed_stale", feed(f), f.stale ? 1 : 0);
    p.Head("greenshift_feed_fetches_total", "counter", "Tries to fetch a live feed (retries too).");
    for (const control::FeedView& f : *in.feeds)
      p.Line("greenshift_feed_fetches_total", feed(f), static_cast<double>(f.fetches));
    p.Head("greenshift_feed_failures_total", "counter", "Tries to fetch a live feed that failed.");
    for (const control::FeedView& f : *in.feeds)
      p.Line("greenshift_feed_failures_total", feed(f), static_cast<double>(f.failures));
  }

  p.Head("greenshift_store_up", "gauge",
         "1 while the store takes writes (0: the last write failed, or its file is gone).");
  p.Line("greenshift_store_up", "", in.store_up ? 1 : 0);
  p.Head("greenshift_store_write_failures_total", "counter", "Writes the store refused.");
  p.Line("greenshift_store_write_failures_total", "",
         static_cast<double>(in.store->write_failures));

  p.Head("greenshift_http_requests_total", "counter", "HTTP requests by route and status.");
  for (const auto& [key, count] : *in.requests) {
    p.Line("greenshift_http_requests_total",
           "route=\"" + MetricLabel(key.first) + "\",code=\"" + std::to_string(key.second) + "\"",
           static_cast<double>(count));
  }
  return std::move(p.text());
}

}  // namespace greenshift::api
