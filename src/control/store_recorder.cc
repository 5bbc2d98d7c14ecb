#include "control/store_recorder.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "control/accounts.h"
#include "control/forecaster.h"
#include "control/model_check.h"
#include "core/clock.h"

namespace greenshift::control {

using nlohmann::json;

StoreRecorder::StoreRecorder(store::Store& store, std::vector<std::string> site_names,
                             std::vector<std::string> vm_names, int64_t slot_s,
                             std::function<int64_t()> wall_clock)
    : store_(store),
      site_names_(std::move(site_names)),
      vm_names_(std::move(vm_names)),
      slot_s_(slot_s),
      wall_(std::move(wall_clock)) {}

void StoreRecorder::Wrote(const Status& status, const char* what) {
  std::lock_guard<std::mutex> lock(mutex_);
  const int64_t now = wall_();
  if (status.ok()) {
    health_.last_success_ms = now;
    health_.failing = false;
    return;
  }
  ++health_.write_failures;
  health_.last_failure = std::string(what) + ": " + status.message();
  health_.last_failure_ms = now;
  health_.failing = true;
  Log(LogLevel::kError, "store.write_failed", {{"what", what}, {"error", status.message()}});
}

StoreHealth StoreRecorder::Health() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return health_;
}

Status StoreRecorder::Check() {
  GS_RETURN_IF_ERROR(store_.Check());
  const StoreHealth health = Health();
  if (health.failing)
    return Status::Unavailable("the last write to the store failed: " + health.last_failure);
  return Status::Ok();
}

Status StoreRecorder::Readings(std::vector<store::StoredReading> readings, bool grouped) {
  const size_t count = readings.size();
  Status stored =
      grouped ? store_.AddReadingsGrouped(std::move(readings)) : store_.AddReadings(readings);
  Wrote(stored, "readings");
  if (stored.ok()) Log(LogLevel::kDebug, "readings.stored", {{"count", count}});
  return stored;
}

Result<bool> StoreRecorder::HasReading(const std::string& site, const std::string& sensor,
                                       int64_t time_utc_ms, double power_w) {
  return store_.HasReading(site, sensor, time_utc_ms, power_w);
}

void StoreRecorder::Rejected(const store::RejectedReading& r) {
  Log(LogLevel::kWarning, "reading.rejected",
      {{"site", r.site},
       {"sensor", r.sensor},
       {"time_utc_ms", static_cast<long long>(r.time_utc_ms)},
       {"power_w", r.power_w},
       {"reason", r.reason},
       {"why", r.why}});
  Wrote(store_.AddRejected(r), "a rejected reading");
}

void StoreRecorder::ForecastIssued(const Forecast& forecast) {
  const int64_t slot_ms = forecast.slot_s * 1000;
  for (size_t s = 0; s < forecast.sites.size() && s < site_names_.size(); ++s) {
    std::vector<store::ForecastPoint> points;
    const SiteForecast& site = forecast.sites[s];
    for (size_t k = 0; k < site.green_w.size(); ++k)
      points.push_back(
          {(forecast.first_slot + static_cast<int64_t>(k)) * slot_ms, site.green_w[k]});
    Wrote(store_.AddForecast(site_names_[s], forecast.issued_ms, points), "a forecast");
    if (!site.stale.empty()) {
      Log(LogLevel::kWarning, "input.stale", {{"site", site_names_[s]}, {"why", site.stale}});
    }
  }
}

json PlanMovesJson(const std::vector<placement::Move>& moves,
                   const std::vector<std::string>& site_names,
                   const std::vector<std::string>& vm_names, int64_t slot_s) {
  json out = json::array();
  for (const placement::Move& m : moves) {
    out.push_back({{"vm", vm_names[m.vm]},
                   {"from", site_names[m.from]},
                   {"to", site_names[m.to]},
                   {"slot", m.slot},
                   {"at", FormatUtcSeconds(m.slot * slot_s)},
                   {"reason", m.reason},
                   {"predicted_downtime_s", m.predicted.downtime_s},
                   {"predicted_total_s", m.predicted.total_s},
                   {"predicted_bytes", m.predicted.bytes},
                   {"predicted_energy_j", m.predicted.energy_j},
                   {"predicted_saving_kg", m.predicted_saving_kg}});
  }
  return out;
}

Result<int64_t> StoreRecorder::PlanMade(const PlanEntry& plan) {
  const json moves = PlanMovesJson(plan.plan->moves, site_names_, vm_names_, slot_s_);
  json body = {{"slot_start", FormatUtcSeconds(plan.first_slot * slot_s_)},
               {"first_slot", plan.first_slot},
               {"policy", plan.policy},
               {"moves", moves}};
  if (!plan.note.empty()) body["note"] = plan.note;
  Result<int64_t> id = store_.AddPlan({0, plan.made_ms, plan.policy, plan.mode, plan.status,
                                       body.dump(-1, ' ', false, json::error_handler_t::replace)});
  Wrote(id.ok() ? Status::Ok() : id.status(), "a plan");
  if (id.ok() && (!plan.plan->moves.empty() || !plan.note.empty())) {
    Log(LogLevel::kInfo, "plan.made",
        {{"id", static_cast<long long>(*id)},
         {"policy", plan.policy},
         {"status", plan.status},
         {"moves", plan.plan->moves.size()},
         {"slot_start", FormatUtcSeconds(plan.first_slot * slot_s_)},
         {"note", plan.note}});
  }
  return id;
}

Status StoreRecorder::PlanStatus(int64_t id, const std::string& from, const std::string& to) {
  Status changed = store_.SetPlanStatus(id, from, to);
  if (changed.ok() || changed.IsNotFound() || changed.IsConflict()) {
    Wrote(Status::Ok(), "a plan's status");
  } else {
    Wrote(changed, "a plan's status");
  }
  if (changed.ok())
    Log(LogLevel::kInfo, "plan.status", {{"id", static_cast<long long>(id)}, {"status", to}});
  return changed;
}

Status StoreRecorder::SupersedePending() {
  Status done = store_.SupersedePendingPlans();
  Wrote(done, "superseding pending plans");
  return done;
}

store::MoveRecord StoreRecorder::RecordOf(const MoveOrder& order) const {
  store::MoveRecord r;
  r.id = order.id;
  r.plan_id = order.plan_id;
  r.vm = vm_names_[order.move.vm];
  r.from_site = site_names_[order.move.from];
  r.to_site = site_names_[order.move.to];
  r.reason = order.move.reason;
  return r;
}

Result<int64_t> StoreRecorder::MoveQueued(const MoveOrder& order, int64_t at_ms) {
  store::MoveRecord r = RecordOf(order);
  r.state = "queued";
  r.requested_utc_ms = at_ms;
  Result<int64_t> id = store_.AddMove(r);
  Wrote(id.ok() ? Status::Ok() : id.status(), "a move");
  if (!id.ok()) return id;
  r.id = *id;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    in_flight_[r.id] = r;
  }
  Log(LogLevel::kInfo, "move.queued",
      {{"id", static_cast<long long>(r.id)},
       {"plan", static_cast<long long>(r.plan_id)},
       {"vm", r.vm},
       {"from", r.from_site},
       {"to", r.to_site},
       {"reason", r.reason}});
  return id;
}

void StoreRecorder::MoveStarted(const MoveOrder& order, int64_t at_ms) {
  store::MoveRecord r;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = in_flight_.find(order.id);
    r = it != in_flight_.end() ? it->second : RecordOf(order);
    r.state = "running";
    r.started_utc_ms = at_ms;
    in_flight_[order.id] = r;
  }
  Wrote(store_.UpdateMove(r), "a move");
  Log(LogLevel::kInfo, "move.started",
      {{"id", static_cast<long long>(r.id)},
       {"vm", r.vm},
       {"from", r.from_site},
       {"to", r.to_site}});
}

void StoreRecorder::MoveEnded(const MoveOrder& order, const MoveOutcome& outcome) {
  store::MoveRecord r;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = in_flight_.find(order.id);
    if (it != in_flight_.end()) {
      r = it->second;
      in_flight_.erase(it);
    } else {
      r = RecordOf(order);
    }
  }
  r.state = outcome.state;
  r.finished_utc_ms = outcome.finished_ms;
  if (outcome.ran && outcome.state == "completed") {
    r.downtime_ms =
        outcome.result.paused_ms >= 0 ? outcome.result.paused_ms : outcome.result.downtime_ms;
  }
  json result;
  if (outcome.ran) {
    result = hypervisor::ToJson(outcome.result);
    result["running_on_site"] = outcome.running_on >= 0
                                    ? json(site_names_[static_cast<size_t>(outcome.running_on)])
                                    : json(nullptr);
    if (!outcome.why.empty()) result["why"] = outcome.why;
    // What the planner priced the move at, and how far the measurement was from it.
    const placement::MoveCost& predicted = order.move.predicted;
    if (predicted.total_s > 0) {
      result["predicted"] = {{"total_ms", predicted.total_s * 1000},
                             {"bytes", predicted.bytes},
                             {"pause_ms", predicted.downtime_s * 1000},
                             {"postcopy", predicted.postcopy}};
    }
    if (outcome.sampled_dirty_rate_bytes_s >= 0)
      result["dirty_rate_sampled_mb_s"] = outcome.sampled_dirty_rate_bytes_s / 1e6;
    if (outcome.compared) {
      const ModelError& error = outcome.model_error;
      auto number = [](double v) { return std::isnan(v) ? json(nullptr) : json(v); };
      result["model_error"] = {{"total", number(error.total)},
                               {"bytes", number(error.bytes)},
                               {"pause", number(error.pause)}};
    }
  } else {
    result = {{"note", outcome.why}};
  }
  r.result = result.dump(-1, ' ', false, json::error_handler_t::replace);
  Wrote(store_.UpdateMove(r), "a move");
  const LogLevel level = outcome.state == "completed"   ? LogLevel::kInfo
                         : outcome.state == "cancelled" ? LogLevel::kWarning
                                                        : LogLevel::kError;
  Log(level, "move." + outcome.state,
      {{"id", static_cast<long long>(r.id)},
       {"vm", r.vm},
       {"from", r.from_site},
       {"to", r.to_site},
       {"downtime_ms", r.downtime_ms},
       {"total_ms", outcome.result.total_ms},
       {"running_on", outcome.running_on >= 0 ? site_names_[static_cast<size_t>(outcome.running_on)]
                                              : std::string("nowhere")},
       {"why", outcome.why}});
}

void StoreRecorder::PeriodClosed(const PeriodAccount& account) {
  Log(LogLevel::kDebug, "period.closed",
      {{"end", FormatUtcSeconds(account.end_ms / 1000)},
       {"load_wh", account.load_wh},
       {"green_wh", account.green_used_wh},
       {"co2_kg", account.co2_kg}});
}

void StoreRecorder::Event(LogLevel level, const std::string& kind, const std::string& message,
                          int64_t at_ms) {
  Log(level, kind, {{"message", message}});
  Wrote(store_.AddEvent(at_ms, kind, message), "an event");
}

}  // namespace greenshift::control
