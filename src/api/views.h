// The engine's views and the store's records as the API's JSON. JSON is dumped with invalid
// UTF-8 replaced, never thrown on: a name or a message may hold any bytes a client sent.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "control/config.h"
#include "control/engine.h"
#include "store/store.h"

namespace greenshift::api {

std::string Dump(const nlohmann::json& value);
std::string ErrorBody(const std::string& message);
std::string TimeText(int64_t utc_ms);

// The cost model against the last completed moves: how many, and the median absolute relative
// error of total time, bytes and pause (null where no move had that figure).
nlohmann::json ModelErrorJson(const control::ModelErrorSummary& summary);
// What the moves measured, that prices the next ones: links (configured and measured Mbit/s)
// and VMs (configured and sampled dirty MB/s).
nlohmann::json CalibrationJson(const control::EngineStatus& status);
nlohmann::json StatusJson(const control::ServiceConfig& config, const control::EngineStatus& s,
                          const placement::Problem& problem, int64_t slot_ms);
nlohmann::json PlanViewJson(const control::PlanView& plan, const placement::Problem& problem,
                            int64_t slot_ms);
nlohmann::json PlanRecordJson(const store::PlanRecord& plan);
nlohmann::json MoveRecordJson(const store::MoveRecord& move);
nlohmann::json SitesJson(const control::ServiceConfig& config,
                         const std::vector<control::SiteView>& sites,
                         const std::vector<control::SensorView>& sensors);
nlohmann::json VmsJson(const control::ServiceConfig& config,
                       const std::vector<control::VmView>& vms, const placement::Problem& problem,
                       int64_t slot_ms);
nlohmann::json ForecastsJson(const control::Forecast* forecast, const placement::Problem& problem);

}  // namespace greenshift::api
