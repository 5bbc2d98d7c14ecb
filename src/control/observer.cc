#include "control/observer.h"

#include <algorithm>

namespace greenshift::control {

Observer::Observer(std::vector<std::string> site_names, std::vector<SensorSpec> sensors,
                   std::shared_ptr<const Inputs> inputs, Recorder& recorder,
                   ObserverOptions options)
    : site_names_(std::move(site_names)),
      inputs_(std::move(inputs)),
      recorder_(recorder),
      options_(std::move(options)) {
  for (SensorSpec& spec : sensors) {
    energy::SensorLimits limits = options_.limits;
    limits.capacity_w = spec.capacity_w;  // each sensor against its own capacity
    limits.stale_after_ms = options_.stale_ms;
    SensorState state{spec, 0, energy::SensorValidator(limits)};
    auto site = std::find(site_names_.begin(), site_names_.end(), spec.site);
    state.site = static_cast<size_t>(site - site_names_.begin());
    index_[{spec.site, spec.name}] = sensors_.size();
    sensors_.push_back(std::move(state));
  }
}

void Observer::AddSource(std::unique_ptr<SensorSource> source) {
  sources_.push_back(std::move(source));
}

void Observer::SetLoadSource(std::unique_ptr<LoadSource> load) {
  load_ = std::move(load);
}

int64_t Observer::Received(int64_t now_ms) const {
  return options_.received_clock ? options_.received_clock() : now_ms;
}

int Observer::SensorIndex(const std::string& site, const std::string& sensor) const {
  auto it = index_.find({site, sensor});
  return it == index_.end() ? -1 : static_cast<int>(it->second);
}

void Observer::Seed(const std::vector<store::StoredReading>& newest) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const store::StoredReading& r : newest) {
    auto it = index_.find({r.site, r.sensor});
    if (it != index_.end()) sensors_[it->second].validator.Seed(r.time_utc_ms, r.power_w);
  }
}

energy::Verdict Observer::Check(SensorState& state, const energy::Reading& reading,
                                int64_t now_ms) {
  energy::Verdict verdict = state.validator.Check(reading, now_ms);
  if (verdict.accepted || verdict.duplicate ||
      verdict.reason != energy::RejectReason::kOutOfOrder) {
    return verdict;
  }
  // Older than the newest: a reading sent again after a lost answer is a duplicate, not an
  // error, when the store has exactly it.
  Result<bool> stored =
      recorder_.HasReading(reading.site, reading.sensor, reading.time_utc_ms, reading.power_w);
  if (stored.ok() && *stored) {
    verdict.duplicate = true;
    verdict.why.clear();
  }
  return verdict;
}

void Observer::RecordRejected(const energy::Reading& reading, const std::string& reason,
                              const std::string& why, int64_t received_ms) {
  recorder_.Rejected({reading.site, reading.sensor, reading.time_utc_ms, reading.power_w, reason,
                      why, received_ms});
}

Result<PushOutcome> Observer::Push(const std::vector<energy::Reading>& readings, int64_t now_ms) {
  const int64_t received = Received(now_ms);
  PushOutcome outcome;
  std::unique_lock<std::mutex> lock(mutex_);
  // Check everything on copies of the sensors; store and commit only if all pass.
  std::map<size_t, SensorState> trial;
  std::vector<store::StoredReading> rows;
  rows.reserve(readings.size());
  for (size_t i = 0; i < readings.size(); ++i) {
    const energy::Reading& reading = readings[i];
    const std::string where = readings.size() > 1 ? "reading " + std::to_string(i) + ": " : "";
    auto known = index_.find({reading.site, reading.sensor});
    if (known == index_.end()) {
      if (std::find(site_names_.begin(), site_names_.end(), reading.site) == site_names_.end())
        return Status::NotFound(where + "no site is named '" + reading.site + "'");
      return Status::NotFound(where + "site '" + reading.site + "' has no sensor '" +
                              reading.sensor + "'");
    }
    const SensorState& real = sensors_[known->second];
    if (real.spec.kind != "push")
      return Status::Conflict(where + "sensor '" + reading.sensor + "' of site '" + reading.site +
                              "' is a " + real.spec.kind +
                              " sensor: the service reads it, nobody pushes");
    auto state = trial.find(known->second);
    if (state == trial.end()) state = trial.emplace(known->second, real).first;
    const energy::Verdict verdict = Check(state->second, reading, now_ms);
    if (verdict.duplicate) {
      ++outcome.duplicates;
      continue;
    }
    if (!verdict.accepted) {
      const std::string reason = energy::RejectReasonName(verdict.reason);
      ++counters_.rejected[reason];
      ++sensors_[known->second].rejected;
      lock.unlock();
      RecordRejected(reading, reason, verdict.why, received);
      std::string message = where + verdict.why;
      if (readings.size() > 1)
        message += "; none of the " + std::to_string(readings.size()) + " readings was stored";
      return Status::Invalid(message + " [" + reason + "]");
    }
    rows.push_back(
        {0, reading.site, reading.sensor, reading.time_utc_ms, reading.power_w, received});
  }
  // The sensors move on now, so that a concurrent request is checked against these readings;
  // the store commits outside the lock, grouped with other requests'.
  std::map<size_t, SensorState> before;
  for (auto& [index, state] : trial) {
    before.emplace(index, sensors_[index]);
    sensors_[index] = std::move(state);
  }
  std::map<size_t, int64_t> ours;  // each sensor's newest time after this batch
  for (const auto& [index, state] : before)
    ours[index] = sensors_[index].validator.last_accepted_ms();
  outcome.stored = rows.size();
  lock.unlock();
  Status stored = rows.empty() ? Status::Ok() : recorder_.Readings(std::move(rows), true);
  lock.lock();
  if (!stored.ok()) {
    // Not stored: put back each sensor that nothing else has moved since, so that the client
    // can send the same readings again.
    for (auto& [index, state] : before) {
      if (sensors_[index].validator.last_accepted_ms() == ours.at(index))
        sensors_[index] = std::move(state);
    }
    return Status::Unavailable(stored.message() + "; nothing was stored");
  }
  counters_.accepted += static_cast<int64_t>(outcome.stored);
  counters_.duplicates += static_cast<int64_t>(outcome.duplicates);
  return outcome;
}

Observation Observer::Observe(int64_t now_ms) {
  const int64_t received = Received(now_ms);
  std::vector<energy::Reading> polled;
  std::vector<std::string> problems;
  for (const std::unique_ptr<SensorSource>& source : sources_)
    source->Poll(now_ms, &polled, &problems);

  std::vector<store::StoredReading> rows;
  struct Rejection {
    energy::Reading reading;
    std::string reason, why;
  };
  std::vector<Rejection> rejected;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    counters_.problems += static_cast<int64_t>(problems.size());
    for (const energy::Reading& reading : polled) {
      auto known = index_.find({reading.site, reading.sensor});
      if (known == index_.end()) {
        ++counters_.rejected["unknown_sensor"];
        rejected.push_back(
            {reading, "unknown_sensor",
             "no sensor '" + reading.sensor + "' at site '" + reading.site + "' in the config"});
        continue;
      }
      SensorState& state = sensors_[known->second];
      energy::Verdict verdict = state.validator.Check(reading, now_ms);
      if (verdict.duplicate) {
        ++counters_.duplicates;
        continue;
      }
      if (!verdict.accepted) {
        const std::string reason = energy::RejectReasonName(verdict.reason);
        ++counters_.rejected[reason];
        ++state.rejected;
        rejected.push_back({reading, reason, verdict.why});
        continue;
      }
      rows.push_back(
          {0, reading.site, reading.sensor, reading.time_utc_ms, reading.power_w, received});
    }
  }
  for (const std::string& problem : problems)
    recorder_.Event(LogLevel::kWarning, "sensor", problem, now_ms);
  for (const Rejection& r : rejected) RecordRejected(r.reading, r.reason, r.why, received);
  if (!rows.empty()) {
    const size_t count = rows.size();
    std::vector<store::StoredReading> kept = rows;
    Status stored = recorder_.Readings(std::move(rows), false);
    std::lock_guard<std::mutex> lock(mutex_);
    if (stored.ok()) {
      counters_.accepted += static_cast<int64_t>(count);
    } else {
      // A polled reading cannot be asked for again: it is recorded as rejected by the store
      // (with why), and the site still sees it now.
      counters_.rejected["store"] += static_cast<int64_t>(count);
      for (const store::StoredReading& r : kept) {
        recorder_.Rejected(
            {r.site, r.sensor, r.time_utc_ms, r.power_w, "store", stored.message(), received});
      }
    }
  }

  Observation observation;
  observation.time_ms = now_ms;
  observation.sites.resize(site_names_.size());
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const SensorState& state : sensors_) {
      const energy::SensorValidator& v = state.validator;
      if (!v.has_last()) continue;
      const int64_t t = v.last_accepted_ms();
      if (t < now_ms - options_.stale_ms || t > now_ms + options_.limits.max_clock_skew_ms)
        continue;
      SiteObservation& site = observation.sites[state.site];
      if (std::isnan(site.green_w)) site.green_w = 0;
      site.green_w += v.last_power_w();
      (state.spec.measures == Measures::kWind ? site.wind_w : site.pv_w) += v.last_power_w();
      ++site.fresh_sensors;
    }
  }
  // The grid's intensity over the period that just ended: the step that holds its last moment
  // (a series that does not reach now gives its nearest value; the forecaster says it is stale).
  const int64_t period_end_s = (now_ms - 1) / 1000;
  for (size_t s = 0; s < observation.sites.size(); ++s)
    observation.sites[s].carbon_g_per_kwh = inputs_->Site(s)->CarbonAt(period_end_s);
  if (load_) load_->Read(now_ms, &vm_power_w_);
  observation.vm_power_w = vm_power_w_;
  return observation;
}

std::vector<SensorView> Observer::Sensors() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<SensorView> out;
  for (const SensorState& state : sensors_) {
    const energy::SensorValidator& v = state.validator;
    out.push_back({state.spec, v.has_last(), v.last_accepted_ms(), v.last_power_w(), v.accepted(),
                   state.rejected});
  }
  return out;
}

ObserverCounters Observer::Counters() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return counters_;
}

std::vector<std::pair<std::string, bool>> Observer::Sources() const {
  std::vector<std::pair<std::string, bool>> out;
  for (const std::unique_ptr<SensorSource>& source : sources_)
    out.push_back({source->Describe(), source->Connected()});
  return out;
}

}  // namespace greenshift::control
