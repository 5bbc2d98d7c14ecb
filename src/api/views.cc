#include "api/views.h"

#include <cmath>

#include "control/store_recorder.h"
#include "core/clock.h"

namespace greenshift::api {

using nlohmann::json;

std::string Dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string ErrorBody(const std::string& message) {
  return Dump(json{{"error", message}});
}

std::string TimeText(int64_t utc_ms) {
  return FormatUtcSeconds(utc_ms / 1000);
}

namespace {

json NumberOrNull(double v) {
  return std::isnan(v) ? json(nullptr) : json(v);
}

}  // namespace

json PlanViewJson(const control::PlanView& plan, const placement::Problem& problem,
                  int64_t slot_ms) {
  std::vector<std::string> sites, vms;
  for (const placement::Site& s : problem.sites) sites.push_back(s.name);
  for (const placement::Vm& v : problem.vms) vms.push_back(v.name);
  const json moves = control::PlanMovesJson(plan.moves, sites, vms, slot_ms / 1000);
  json j = {{"id", plan.id},
            {"made", TimeText(plan.made_ms)},
            {"slot_start", TimeText(plan.first_slot * slot_ms)},
            {"policy", plan.policy},
            {"mode", plan.mode},
            {"status", plan.status},
            {"moves", moves}};
  if (!plan.note.empty()) j["note"] = plan.note;
  return j;
}

json StatusJson(const control::ServiceConfig& config, const control::EngineStatus& s,
                const placement::Problem& problem, int64_t slot_ms) {
  auto share = [](double used, double total) { return total > 0 ? used / total : 0.0; };
  int64_t queued = static_cast<int64_t>(s.moves.queued);
  json stale = json::array();
  for (const std::string& site : s.stale_sites) stale.push_back(site);
  return {{"now", TimeText(s.now_ms)},
          {"replay", config.replay_start_utc_s != 0},
          {"speed", config.replay_speed},
          {"mode", control::ModeName(s.mode)},
          {"policy", s.policy},
          {"driver", {{"name", config.driver}, {"capabilities", s.driver_capabilities}}},
          {"period_s", config.period_s},
          {"ticks", s.ticks},
          {"last_tick", s.last_tick_ms > 0 ? json(TimeText(s.last_tick_ms)) : json(nullptr)},
          {"last_tick_duration_s", s.last_tick_duration_s},
          {"last_planning_s", s.last_planning_ms / 1000},
          {"last_mip_gap", NumberOrNull(s.last_mip_gap)},
          {"last_error", s.last_error},
          {"inventory_ok", s.inventory_ok},
          {"stale_sites", stale},
          {"moves_queued", queued},
          {"moves_running", s.moves.running},
          {"moves_by_result", s.moves.ended},
          {"load_kwh", s.totals.load_wh / 1000},
          {"green_share", share(s.totals.green_used_wh, s.totals.load_wh)},
          {"static_green_share", share(s.totals.static_green_used_wh, s.totals.load_wh)},
          {"co2_kg", s.totals.co2_kg},
          {"static_co2_kg", s.totals.static_co2_kg},
          {"total_downtime_ms", s.total_pause_ms},
          {"model_error", ModelErrorJson(s.model_errors.Summary())},
          {"calibration", CalibrationJson(s)},
          {"current_plan",
           s.current_plan ? PlanViewJson(*s.current_plan, problem, slot_ms) : json::object()}};
}

json ModelErrorJson(const control::ModelErrorSummary& summary) {
  return {{"moves", summary.moves},
          {"total", NumberOrNull(summary.total)},
          {"bytes", NumberOrNull(summary.bytes)},
          {"pause", NumberOrNull(summary.pause)}};
}

json CalibrationJson(const control::EngineStatus& s) {
  json links = json::array(), vms = json::array();
  for (const control::LinkCalibration& l : s.calibrated_links) {
    links.push_back(
        {{"from", l.from},
         {"to", l.to},
         {"configured_mbit", l.configured_bytes_s * 8 / 1e6},
         {"measured_mbit",
          l.measured_bytes_s < 0 ? json(nullptr) : json(l.measured_bytes_s * 8 / 1e6)},
         {"moves", l.moves},
         {"switchover_ms", l.switchover_s < 0 ? json(nullptr) : json(l.switchover_s * 1e3)},
         {"switchovers", l.switchovers}});
  }
  for (const control::VmCalibration& v : s.calibrated_vms) {
    vms.push_back(
        {{"vm", v.vm},
         {"configured_dirty_mb_s", v.configured_dirty_bytes_s / 1e6},
         {"sampled_dirty_mb_s",
          v.sampled_dirty_bytes_s < 0 ? json(nullptr) : json(v.sampled_dirty_bytes_s / 1e6)},
         {"samples", v.samples},
         {"memory_mib", v.memory_bytes / 1048576.0},
         {"data_mib", v.data_bytes < 0 ? json(nullptr) : json(v.data_bytes / 1048576.0)},
         {"moves", v.moves},
         {"resent_wire_fraction",
          v.resent_wire_fraction < 0 ? json(nullptr) : json(v.resent_wire_fraction)},
         {"encoded_moves", v.encoded_moves}});
  }
  return {{"links", links}, {"vms", vms}};
}

json PlanRecordJson(const store::PlanRecord& p) {
  json body = json::parse(p.body, nullptr, false);
  json j = {{"id", p.id},
            {"made", TimeText(p.created_utc_ms)},
            {"policy", p.policy},
            {"mode", p.mode},
            {"status", p.status},
            {"moves", body.is_object() ? body.value("moves", json::array()) : json::array()}};
  if (body.is_object() && body.contains("slot_start")) j["slot_start"] = body["slot_start"];
  if (body.is_object() && body.contains("note")) j["note"] = body["note"];
  return j;
}

json MoveRecordJson(const store::MoveRecord& m) {
  json j = {{"id", m.id},
            {"plan", m.plan_id > 0 ? json(m.plan_id) : json(nullptr)},
            {"vm", m.vm},
            {"from", m.from_site},
            {"to", m.to_site},
            {"reason", m.reason},
            {"state", m.state},
            {"requested", TimeText(m.requested_utc_ms)},
            {"started", m.started_utc_ms > 0 ? json(TimeText(m.started_utc_ms)) : json(nullptr)},
            {"finished", m.finished_utc_ms > 0 ? json(TimeText(m.finished_utc_ms)) : json(nullptr)},
            {"downtime_ms", m.downtime_ms >= 0 ? json(m.downtime_ms) : json(nullptr)}};
  json result = json::parse(m.result.empty() ? "null" : m.result, nullptr, false);
  j["result"] = result.is_discarded() ? json(m.result) : result;
  return j;
}

json SitesJson(const control::ServiceConfig& config, const std::vector<control::SiteView>& sites,
               const std::vector<control::SensorView>& sensors) {
  json out = json::array();
  for (size_t s = 0; s < config.sites.size(); ++s) {
    const control::SiteConfig& site = config.sites[s];
    json list = json::array();
    for (const control::SensorView& sensor : sensors) {
      if (sensor.spec.site != site.name) continue;
      json j{{"name", sensor.spec.name},
             {"kind", sensor.spec.kind},
             {"measures", control::MeasuresName(sensor.spec.measures)},
             {"capacity_w", sensor.spec.capacity_w},
             {"accepted", sensor.accepted},
             {"rejected", sensor.rejected}};
      if (sensor.has_reading) {
        j["last_power_w"] = sensor.last_power_w;
        j["last_time"] = TimeText(sensor.last_time_ms);
        j["last_time_utc_ms"] = sensor.last_time_ms;
      }
      list.push_back(j);
    }
    json j = {{"name", site.name},           {"latitude", site.latitude},
              {"longitude", site.longitude}, {"capacity_w", site.capacity_w},
              {"pv_kwp", site.pv_kwp},       {"sensors", list}};
    if (s < sites.size()) {
      const control::SiteView& v = sites[s];
      j["green_w"] = NumberOrNull(v.green_w);
      j["forecast_next_w"] = NumberOrNull(v.forecast_next_w);
      j["carbon_g_per_kwh"] = NumberOrNull(v.carbon_g_per_kwh);
      j["load_w"] = v.load_w;
      j["vms"] = v.vms;
      j["forecast_method"] = v.forecast_method;
      j["stale"] = v.stale.empty() ? json(nullptr) : json(v.stale);
    }
    out.push_back(j);
  }
  return out;
}

json VmsJson(const control::ServiceConfig& config, const std::vector<control::VmView>& vms,
             const placement::Problem& problem, int64_t slot_ms) {
  json out = json::array();
  for (size_t v = 0; v < vms.size() && v < config.vms.size(); ++v) {
    const control::VmView& vm = vms[v];
    const control::VmConfig& c = config.vms[v];
    out.push_back({{"name", vm.name},
                   {"site", vm.site >= 0 ? json(problem.sites[static_cast<size_t>(vm.site)].name)
                                         : json(nullptr)},
                   {"home_site", problem.sites[static_cast<size_t>(vm.home_site)].name},
                   {"host", vm.host},
                   {"state", hypervisor::VmStateName(vm.state)},
                   {"moving", vm.moving},
                   {"memory_mib", c.memory_mib},
                   {"power_w", c.power_w},
                   {"address", c.address},
                   {"downtime_budget_ms", c.downtime_budget_s * 1000},
                   {"last_move", vm.last_move_slot > control::kNeverMoved
                                     ? json(TimeText(vm.last_move_slot * slot_ms))
                                     : json(nullptr)}});
  }
  return out;
}

json ForecastsJson(const control::Forecast* forecast, const placement::Problem& problem) {
  json out = json::array();
  for (size_t s = 0; s < problem.sites.size(); ++s) {
    json points = json::array();
    json j = {{"site", problem.sites[s].name}, {"issued", nullptr}, {"slots", points}};
    if (forecast && s < forecast->sites.size()) {
      const control::SiteForecast& f = forecast->sites[s];
      for (size_t k = 0; k < f.green_w.size(); ++k) {
        const int64_t at = (forecast->first_slot + static_cast<int64_t>(k)) * forecast->slot_s;
        json point = {{"time", TimeText(at * 1000)},
                      {"power_w", f.green_w[k]},
                      {"carbon_g_per_kwh", f.carbon_g_per_kwh[k]}};
        // What a move counts on: the share of such forecasts' green that came lately.
        if (k < f.green_realized_share.size())
          point["green_realized_share"] = f.green_realized_share[k];
        points.push_back(std::move(point));
      }
      j["issued"] = TimeText(forecast->issued_ms);
      j["slots"] = points;
      j["method"] = f.method;
      j["stale"] = f.stale.empty() ? json(nullptr) : json(f.stale);
    }
    out.push_back(j);
  }
  return out;
}

}  // namespace greenshift::api
