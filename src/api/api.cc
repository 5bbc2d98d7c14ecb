#include "api/api.h"

#include <cctype>
#include <cmath>
#include <cstdint>
#include <exception>

#include <nlohmann/json.hpp>

#include "api/best_site.h"
#include "api/carbon_aware.h"
#include "api/dashboard.h"
#include "api/metrics.h"
#include "api/views.h"
#include "core/clock.h"
#include "core/json_text.h"
#include "energy/csv.h"
#include "migration/precopy.h"

namespace greenshift::api {

namespace {

using nlohmann::json;

constexpr size_t kMaxJsonDepth = 32;
constexpr size_t kMaxReadingsPerRequest = 10000;

Response Json(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}
Response Error(int status, const std::string& message) {
  return Json(status, ErrorBody(message));
}

// The HTTP status for a failed Status, by its kind.
int HttpStatus(const Status& status) {
  switch (status.kind()) {
    case Status::Kind::kOk:
      return 200;
    case Status::Kind::kInvalid:
      return 422;
    case Status::Kind::kNotFound:
      return 404;
    case Status::Kind::kConflict:
      return 409;
    case Status::Kind::kUnavailable:
      return 503;
    case Status::Kind::kError:
      return 500;
  }
  return 500;
}

// Constant-time comparison: the token's bytes do not leak through the response time.
bool SameToken(const std::string& given, const std::string& token) {
  unsigned char diff = given.size() == token.size() ? 0 : 1;
  for (size_t i = 0; i < given.size(); ++i)
    diff |= static_cast<unsigned char>(given[i] ^ token[i % (token.empty() ? 1 : token.size())]);
  return diff == 0 && !token.empty();
}

// Parses a JSON body, or says what is wrong with it.
Result<json> ParseBody(const std::string& body, const std::string& what) {
  if (JsonNestsDeeperThan(body, kMaxJsonDepth))
    return Status::Invalid("the body nests deeper than " + std::to_string(kMaxJsonDepth) +
                           " levels");
  json parsed = json::parse(body, nullptr, false);
  if (parsed.is_discarded()) return Status::Invalid("the body is not JSON (" + what + ")");
  return parsed;
}

// A whole number in [lo, hi] from a query parameter, or why not (digits only, no overflow).
Result<int64_t> WholeNumber(const std::string& text, const char* name, int64_t lo, int64_t hi) {
  const Status bad = Status::Invalid(std::string("'") + name + "' must be a whole number in " +
                                     std::to_string(lo) + " .. " + std::to_string(hi));
  const bool negative = !text.empty() && text[0] == '-';
  const size_t first = negative ? 1 : 0;
  if (text.size() == first || text.size() > first + 19) return bad;
  uint64_t value = 0;
  for (size_t i = first; i < text.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return bad;
    if (value > (UINT64_MAX - 9) / 10) return bad;
    value = value * 10 + static_cast<uint64_t>(text[i] - '0');
  }
  if (value > static_cast<uint64_t>(INT64_MAX)) return bad;
  const int64_t signed_value =
      negative ? -static_cast<int64_t>(value) : static_cast<int64_t>(value);
  if (signed_value < lo || signed_value > hi) return bad;
  return signed_value;
}

enum class RouteId {
  kUnknown,
  kHealth,
  kStatus,
  kSites,
  kHosts,
  kLinks,
  kVms,
  kReadings,
  kForecasts,
  kPlans,
  kPlan,
  kPlanAction,
  kMoves,
  kMetrics,
  kDashboard,
  kChartJs,
  kEmissions,
  kEmissionsBest,
  kForecastsCurrent,
  kBestSite,
};

struct Matched {
  RouteId id = RouteId::kUnknown;
  const char* name = "other";  // the route's template, for metrics
  bool allows_get = false, allows_post = false;
  bool post_needs_token = true;
  int64_t plan_id = 0;
  std::string action;  // approve | reject
};

// Digits only, at most 18 of them: a plan's id in a path.
bool PlanId(const std::string& text, int64_t* id) {
  if (text.empty() || text.size() > 18) return false;
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  *id = value;
  return true;
}

Matched Match(const std::string& path) {
  Matched m;
  auto simple = [&](RouteId id, const char* name, bool get, bool post) {
    m.id = id;
    m.name = name;
    m.allows_get = get;
    m.allows_post = post;
    return m;
  };
  if (path == "/api/health") return simple(RouteId::kHealth, "/api/health", true, false);
  // The Carbon Aware SDK's paths (carbon_aware.h).
  if (path == "/emissions/bylocations")
    return simple(RouteId::kEmissions, "/emissions/bylocations", true, false);
  if (path == "/emissions/bylocations/best")
    return simple(RouteId::kEmissionsBest, "/emissions/bylocations/best", true, false);
  if (path == "/emissions/forecasts/current")
    return simple(RouteId::kForecastsCurrent, "/emissions/forecasts/current", true, false);
  if (path == "/api/status") return simple(RouteId::kStatus, "/api/status", true, false);
  if (path == "/api/sites") return simple(RouteId::kSites, "/api/sites", true, false);
  if (path == "/api/hosts") return simple(RouteId::kHosts, "/api/hosts", true, false);
  if (path == "/api/links") return simple(RouteId::kLinks, "/api/links", true, false);
  if (path == "/api/vms") return simple(RouteId::kVms, "/api/vms", true, false);
  if (path == "/api/best-site") return simple(RouteId::kBestSite, "/api/best-site", true, false);
  if (path == "/api/readings") return simple(RouteId::kReadings, "/api/readings", true, true);
  if (path == "/api/forecasts") return simple(RouteId::kForecasts, "/api/forecasts", true, false);
  if (path == "/api/plans") return simple(RouteId::kPlans, "/api/plans", true, false);
  if (path == "/api/moves") return simple(RouteId::kMoves, "/api/moves", true, true);
  if (path == "/metrics") return simple(RouteId::kMetrics, "/metrics", true, false);
  if (path == "/") return simple(RouteId::kDashboard, "/", true, false);
  if (path == "/static/chart.js") return simple(RouteId::kChartJs, "/static/chart.js", true, false);
  const std::string prefix = "/api/plans/";
  if (path.rfind(prefix, 0) == 0) {
    const std::string rest = path.substr(prefix.size());
    const size_t slash = rest.find('/');
    int64_t id = 0;
    if (!PlanId(rest.substr(0, slash), &id)) return m;
    m.plan_id = id;
    if (slash == std::string::npos) return simple(RouteId::kPlan, "/api/plans/{id}", true, false);
    const std::string action = rest.substr(slash + 1);
    if (action != "approve" && action != "reject") return m;
    m = simple(RouteId::kPlanAction, "/api/plans/{id}/{action}", false, true);
    m.plan_id = id;
    m.action = action;
    return m;
  }
  return m;
}

// The method as a metrics label: the methods HTTP defines, anything else "OTHER" (a client must
// not be able to add label values).
std::string MethodLabel(const std::string& method) {
  for (const char* known : {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
    if (method == known) return method;
  }
  return "OTHER";
}

}  // namespace

uint64_t MaxBodyBytes(const std::string& method, const std::string& path) {
  if (method != "POST") return 0;
  if (path == "/api/readings") return 2u << 20;  // 10,000 readings of ~100 bytes, and room
  return 16u << 10;
}

Api::Api(const control::ServiceConfig& config, store::Store& store,
         control::StoreRecorder& recorder, control::Engine& engine)
    : config_(config), store_(store), recorder_(recorder), engine_(engine) {}

void Api::Count(const std::string& route, int status) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{route, status}];
}

void Api::CountServerResponse(int status) {
  Count("server", status);
}

std::optional<Response> Api::Admit(const std::string& method, const std::string& path,
                                   const std::string& authorization, uint64_t content_length) {
  const Matched m = Match(path);
  const std::string route = MethodLabel(method) + " " + m.name;
  auto refuse = [&](Response r) {
    Count(route, r.status);
    return std::optional<Response>(std::move(r));
  };
  if (m.id == RouteId::kUnknown) {
    if (content_length > 0) return refuse(Error(404, "no such endpoint"));
    return std::nullopt;  // Handle answers 404 (with the path)
  }
  const bool get = method == "GET" || method == "HEAD";
  const bool post = method == "POST";
  if (!(get && m.allows_get) && !(post && m.allows_post)) {
    Response r = Error(405, "method " + method + " is not allowed on " + m.name);
    r.headers.push_back({"Allow", std::string(m.allows_get ? "GET, HEAD" : "") +
                                      (m.allows_get && m.allows_post ? ", " : "") +
                                      (m.allows_post ? "POST" : "")});
    return refuse(std::move(r));
  }
  if (post) {
    // The token before anything else: a body nobody is allowed to send is never read.
    const std::string bearer = "Bearer ";
    if (authorization.rfind(bearer, 0) != 0 ||
        !SameToken(authorization.substr(bearer.size()), config_.token)) {
      Response r =
          Error(401, authorization.empty() ? "this endpoint needs 'Authorization: Bearer <token>'"
                                           : "the bearer token is wrong");
      r.headers.push_back({"WWW-Authenticate", "Bearer"});
      return refuse(std::move(r));
    }
  }
  const uint64_t most = MaxBodyBytes(method, path);
  if (content_length > most) {
    return refuse(Error(413, "the body is " + std::to_string(content_length) +
                                 " bytes; this endpoint takes at most " + std::to_string(most)));
  }
  return std::nullopt;
}

Response Api::Handle(const Request& request) {
  std::string route = "other";
  Response response;
  try {
    std::optional<Response> refused =
        Admit(request.method, request.path, request.authorization, request.body.size());
    if (refused) return *refused;  // counted by Admit
    response = Route(request, &route);
  } catch (const std::exception& e) {
    response = Error(500, std::string("internal error: ") + e.what());
  } catch (...) {
    response = Error(500, "internal error");
  }
  Count(MethodLabel(request.method) + " " + route, response.status);
  return response;
}

Response Api::Route(const Request& request, std::string* route_name) {
  const Matched m = Match(request.path);
  *route_name = m.name;
  const bool post = request.method == "POST";
  const placement::Problem& problem = engine_.problem();
  const int64_t slot_ms = engine_.slot_ms();
  auto limit_of = [&](size_t fallback, size_t most) -> Result<size_t> {
    auto it = request.query.find("limit");
    if (it == request.query.end()) return fallback;
    Result<int64_t> limit = WholeNumber(it->second, "limit", 1, static_cast<int64_t>(most));
    if (!limit.ok()) return limit.status();
    return static_cast<size_t>(*limit);
  };

  switch (m.id) {
    case RouteId::kUnknown:
      return Error(404, "no such endpoint: " + request.path.substr(0, 200));

    case RouteId::kHealth: {
      // 503 when what the service writes is lost (the store refuses writes, or its file is
      // gone); "degraded" when it runs but some site's inputs do not cover now.
      Status store_ok = recorder_.Check();
      const control::EngineStatus status = engine_.GetStatus();
      const control::StoreHealth health = recorder_.Health();
      json stale = json::object();
      for (const control::SiteView& site : engine_.Sites()) {
        if (!site.stale.empty()) stale[site.name] = site.stale;
      }
      json sources = json::object();
      bool sources_up = true;
      for (const auto& [source, up] : engine_.observer().Sources()) {
        sources[source] = up;
        sources_up &= up;
      }
      // Live feeds: their data's age, and why the last try failed.
      json feeds = json::array();
      bool feeds_fresh = true;
      if (feeds_ != nullptr) {
        for (const control::FeedView& f : feeds_->States()) {
          feeds_fresh &= !f.stale;
          feeds.push_back(
              {{"site", f.site},
               {"feed", f.what},
               {"kind", f.kind},
               {"url", f.url},
               {"stale", f.stale},
               {"age_s", f.age_s >= 0 ? json(std::round(f.age_s)) : json(nullptr)},
               {"fetched_at", f.last_ok_ms > 0 ? json(TimeText(f.last_ok_ms)) : json(nullptr)},
               {"from_cache", f.from_cache},
               {"data_until",
                f.data_until_utc_s > 0 ? json(TimeText(f.data_until_utc_s * 1000)) : json(nullptr)},
               {"last_error", f.last_error.empty() ? json(nullptr) : json(f.last_error)},
               {"fetches", f.fetches},
               {"failures", f.failures}});
        }
      }
      const int64_t period_ms = static_cast<int64_t>(config_.period_s * 1000);
      const bool loop_late =
          status.ticks > 0 && status.now_ms - status.last_tick_ms > 3 * period_ms + 60000;
      std::string verdict = "ok";
      if (!stale.empty() || !sources_up || !status.inventory_ok || !feeds_fresh)
        verdict = "degraded";
      if (!store_ok.ok() || loop_late) verdict = "failing";
      Result<int> version = store_.SchemaVersion();
      json body = {{"status", verdict},
                   {"mode", control::ModeName(config_.mode)},
                   {"schema_version", version.ok() ? json(*version) : json(nullptr)},
                   {"store",
                    {{"ok", store_ok.ok()},
                     {"error", store_ok.ok() ? json(nullptr) : json(store_ok.message())},
                     {"write_failures", health.write_failures}}},
                   {"loop",
                    {{"ticks", status.ticks},
                     {"last_tick", status.last_tick_ms > 0 ? json(TimeText(status.last_tick_ms))
                                                           : json(nullptr)},
                     {"late", loop_late},
                     {"last_error", status.last_error}}},
                   {"inventory_ok", status.inventory_ok},
                   {"stale_sites", stale},
                   {"sensor_sources", sources},
                   {"feeds", feeds},
                   {"readings_accepted", engine_.observer().Counters().accepted}};
      return Json(verdict == "failing" ? 503 : 200, Dump(body));
    }

    case RouteId::kStatus:
      return Json(200, Dump(StatusJson(config_, engine_.GetStatus(), problem, slot_ms)));

    case RouteId::kSites:
      return Json(200, Dump(SitesJson(config_, engine_.Sites(), engine_.observer().Sensors())));

    case RouteId::kHosts: {
      // The engine's hosts are the config's, in its order.
      const std::vector<control::HostView> views = engine_.GetStatus().hosts;
      json hosts = json::array();
      for (size_t i = 0; i < config_.hosts.size(); ++i) {
        const control::HostConfig& h = config_.hosts[i];
        json host = {{"name", h.name},
                     {"site", h.site},
                     {"driver", h.driver},
                     {"address", h.address},
                     {"memory_mib", h.memory_mib > 0 ? json(h.memory_mib) : json(nullptr)}};
        if (i < views.size()) host["memory_used_mib"] = views[i].memory_used_mib;
        hosts.push_back(host);
      }
      return Json(200, Dump(hosts));
    }

    case RouteId::kLinks: {
      // Every pair of sites, as the planner prices a move between them.
      json links = json::array();
      for (size_t a = 0; a < problem.sites.size(); ++a) {
        for (size_t b = a + 1; b < problem.sites.size(); ++b) {
          const placement::Link& link = problem.LinkBetween(a, b);
          const control::LinkConfig* given =
              config_.FindLink(problem.sites[a].name, problem.sites[b].name);
          const migration::TcpStream stream = migration::TcpStreamOver(
              link.bandwidth_bytes_s, link.rtt_s, problem.stream_window_bytes);
          links.push_back(
              {{"a", problem.sites[a].name},
               {"b", problem.sites[b].name},
               {"configured", given != nullptr},
               {"mbit", link.bandwidth_bytes_s * 8 / 1e6},
               {"rtt_ms", link.rtt_s * 1e3},
               {"network", config_.NetworkBetween(problem.sites[a].name, problem.sites[b].name)},
               {"stream_mbit", stream.bandwidth_bytes_s * 8 / 1e6},
               {"stream_ramp_ms", stream.ramp_s * 1e3}});
        }
      }
      return Json(200, Dump(links));
    }

    case RouteId::kVms:
      return Json(200, Dump(VmsJson(config_, engine_.Vms(), problem, slot_ms)));

    case RouteId::kEmissions:
    case RouteId::kEmissionsBest:
    case RouteId::kForecastsCurrent: {
      const std::shared_ptr<const control::Forecast> forecast = engine_.LatestForecast();
      const CarbonAwareData data{config_, engine_.inputs(), forecast.get(), engine_.NowMs(),
                                 problem.slot_s};
      const CarbonAwareAnswer answer =
          m.id == RouteId::kForecastsCurrent
              ? CurrentForecasts(data, request.query_pairs)
              : EmissionsByLocations(data, request.query_pairs, m.id == RouteId::kEmissionsBest);
      Response r = Json(answer.status, answer.body);
      if (answer.status == 400 || answer.status == 503) r.content_type = "application/problem+json";
      return r;
    }

    case RouteId::kBestSite: {
      auto it = request.query.find("vm");
      if (it == request.query.end()) return Error(400, "'vm' is required: the VM to place");
      size_t vm = problem.vms.size();
      for (size_t v = 0; v < problem.vms.size(); ++v) {
        if (problem.vms[v].name == it->second) vm = v;
      }
      if (vm == problem.vms.size())
        return Error(404, "no VM is named '" + it->second.substr(0, 100) + "'");
      const std::shared_ptr<const control::Forecast> forecast = engine_.LatestForecast();
      if (!forecast || forecast->slots == 0)
        return Error(503, "no forecast yet: the service has not made its first");
      const int64_t hours_most =
          std::max<int64_t>(1, static_cast<int64_t>(forecast->slots) * forecast->slot_s / 3600);
      size_t slots = forecast->slots;
      if (auto h = request.query.find("hours"); h != request.query.end()) {
        Result<int64_t> hours = WholeNumber(h->second, "hours", 1, hours_most);
        if (!hours.ok()) return Error(400, hours.error() + " (the forecast's length)");
        slots = std::min(
            forecast->slots,
            static_cast<size_t>((*hours * 3600 + forecast->slot_s - 1) / forecast->slot_s));
      }
      const std::vector<control::VmView> vms = engine_.Vms();
      return Json(200, Dump(BestSite({*forecast, problem, vms, vm, slots})));
    }

    case RouteId::kForecasts: {
      const std::shared_ptr<const control::Forecast> forecast = engine_.LatestForecast();
      return Json(200, Dump(ForecastsJson(forecast.get(), problem)));
    }

    case RouteId::kReadings: {
      if (!post) {
        std::string site;
        if (auto it = request.query.find("site"); it != request.query.end()) site = it->second;
        if (!site.empty() && config_.FindSite(site) == nullptr)
          return Error(404, "no site is named '" + site.substr(0, 100) + "'");
        int64_t since = 0;
        if (auto it = request.query.find("since_utc_ms"); it != request.query.end()) {
          Result<int64_t> parsed =
              WholeNumber(it->second, "since_utc_ms", INT64_MIN / 2, INT64_MAX / 2);
          if (!parsed.ok()) return Error(400, parsed.error());
          since = *parsed;
        }
        Result<size_t> limit = limit_of(1000, 100000);
        if (!limit.ok()) return Error(400, limit.error());
        Result<std::vector<store::StoredReading>> rows = store_.Readings(site, since, *limit);
        if (!rows.ok()) return Error(HttpStatus(rows.status()), rows.error());
        json out = json::array();
        for (const store::StoredReading& r : *rows) {
          out.push_back({{"site", r.site},
                         {"sensor", r.sensor},
                         {"time_utc_ms", r.time_utc_ms},
                         {"power_w", r.power_w}});
        }
        return Json(200, Dump(out));
      }
      Result<json> parsed = ParseBody(request.body, "a reading object, or an array of them");
      if (!parsed.ok()) return Error(400, parsed.error());
      const json batch = parsed->is_array() ? *parsed : json::array({*parsed});
      if (batch.empty()) return Error(400, "no readings in the body");
      if (batch.size() > kMaxReadingsPerRequest)
        return Error(413,
                     "at most " + std::to_string(kMaxReadingsPerRequest) + " readings per request");
      const int64_t now_ms = engine_.NowMs();
      std::vector<energy::Reading> readings;
      readings.reserve(batch.size());
      for (size_t i = 0; i < batch.size(); ++i) {
        const json& r = batch[i];
        const std::string where = batch.size() > 1 ? "reading " + std::to_string(i) + ": " : "";
        if (!r.is_object()) return Error(400, where + "must be a JSON object");
        for (auto it = r.begin(); it != r.end(); ++it) {
          if (it.key() != "site" && it.key() != "sensor" && it.key() != "time" &&
              it.key() != "time_utc_ms" && it.key() != "power_w")
            return Error(400, where + "unknown field '" + it.key().substr(0, 64) +
                                  "' (fields: site, sensor, time or time_utc_ms, power_w)");
        }
        if (!r.contains("site") || !r["site"].is_string() || !r.contains("sensor") ||
            !r["sensor"].is_string())
          return Error(400, where + "'site' and 'sensor' must be strings");
        if (!r.contains("power_w") || !(r["power_w"].is_number() || r["power_w"].is_null()))
          return Error(400, where + "'power_w' must be a number");
        energy::Reading reading{r["site"].get<std::string>(), r["sensor"].get<std::string>(),
                                now_ms, r["power_w"].is_null() ? NAN : r["power_w"].get<double>()};
        if (r.contains("time_utc_ms")) {
          if (!r["time_utc_ms"].is_number_integer())
            return Error(400, where + "'time_utc_ms' must be a whole number");
          reading.time_utc_ms = r["time_utc_ms"].get<int64_t>();
        } else if (r.contains("time")) {
          if (!r["time"].is_string()) return Error(400, where + "'time' must be a string");
          // RFC 3339 to the millisecond, as time_utc_ms would give it.
          const std::string text = r["time"].get<std::string>();
          Result<int64_t> t = ParseRfc3339Ms(text);
          if (!t.ok()) return Error(400, where + "'time': '" + text + "' " + t.error());
          reading.time_utc_ms = *t;
        }
        readings.push_back(std::move(reading));
      }
      Result<control::PushOutcome> pushed = engine_.Push(readings);
      if (!pushed.ok()) {
        json body = {{"error", pushed.error()}};
        const std::string& text = pushed.error();
        // The validator's reason, for clients that branch on it: "... [reason]".
        if (pushed.status().IsInvalid() && !text.empty() && text.back() == ']') {
          const size_t open = text.rfind('[');
          if (open != std::string::npos)
            body["reason"] = text.substr(open + 1, text.size() - open - 2);
        }
        return Json(HttpStatus(pushed.status()), Dump(body));
      }
      return Json(201, Dump(json{{"stored", pushed->stored}, {"duplicates", pushed->duplicates}}));
    }

    case RouteId::kPlans: {
      Result<size_t> limit = limit_of(50, 10000);
      if (!limit.ok()) return Error(400, limit.error());
      Result<std::vector<store::PlanRecord>> plans = store_.Plans(*limit);
      if (!plans.ok()) return Error(HttpStatus(plans.status()), plans.error());
      json out = json::array();
      for (const store::PlanRecord& p : *plans) out.push_back(PlanRecordJson(p));
      const control::EngineStatus status = engine_.GetStatus();
      return Json(200,
                  Dump(json{{"current", status.current_plan
                                            ? PlanViewJson(*status.current_plan, problem, slot_ms)
                                            : json::object()},
                            {"plans", out}}));
    }

    case RouteId::kPlan: {
      Result<store::PlanRecord> plan = store_.GetPlan(m.plan_id);
      if (!plan.ok()) return Error(HttpStatus(plan.status()), plan.error());
      return Json(200, Dump(PlanRecordJson(*plan)));
    }

    case RouteId::kPlanAction: {
      if (m.action == "approve") {
        Result<control::PlanView> approved = engine_.Approve(m.plan_id);
        if (!approved.ok()) return Error(HttpStatus(approved.status()), approved.error());
        return Json(200, Dump(json{{"plan", m.plan_id},
                                   {"status", "approved"},
                                   {"moves", approved->moves.size()}}));
      }
      Status rejected = engine_.Reject(m.plan_id);
      if (!rejected.ok()) return Error(HttpStatus(rejected), rejected.message());
      return Json(200, Dump(json{{"plan", m.plan_id}, {"status", "rejected"}}));
    }

    case RouteId::kMoves: {
      if (!post) {
        Result<size_t> limit = limit_of(100, 10000);
        if (!limit.ok()) return Error(400, limit.error());
        Result<std::vector<store::MoveRecord>> moves = store_.Moves(*limit);
        if (!moves.ok()) return Error(HttpStatus(moves.status()), moves.error());
        json out = json::array();
        for (const store::MoveRecord& move : *moves) out.push_back(MoveRecordJson(move));
        return Json(200, Dump(out));
      }
      Result<json> body = ParseBody(request.body, "an object {\"vm\": ..., \"to\": ...}");
      if (!body.ok()) return Error(400, body.error());
      if (!body->is_object())
        return Error(400, "the body is not a JSON object {\"vm\": ..., \"to\": ...}");
      for (auto it = body->begin(); it != body->end(); ++it) {
        if (it.key() != "vm" && it.key() != "to")
          return Error(400, "unknown field '" + it.key().substr(0, 64) + "' (fields: vm, to)");
      }
      if (!body->contains("vm") || !(*body)["vm"].is_string() || !body->contains("to") ||
          !(*body)["to"].is_string())
        return Error(400, "'vm' and 'to' (a site) must be strings");
      Result<control::MoveOrder> order =
          engine_.RequestMove((*body)["vm"].get<std::string>(), (*body)["to"].get<std::string>());
      if (!order.ok()) return Error(HttpStatus(order.status()), order.error());
      const placement::Move& move = order->move;
      return Json(202, Dump(json{{"id", order->id},
                                 {"plan", nullptr},
                                 {"vm", problem.vms[move.vm].name},
                                 {"from", problem.sites[move.from].name},
                                 {"to", problem.sites[move.to].name},
                                 {"reason", move.reason},
                                 {"state", "queued"}}));
    }

    case RouteId::kMetrics: {
      Response r;
      r.content_type = "text/plain; version=0.0.4";
      r.body = Metrics();
      return r;
    }

    case RouteId::kDashboard: {
      Response r;
      r.content_type = "text/html; charset=utf-8";
      r.body = DashboardHtml();
      return r;
    }

    case RouteId::kChartJs: {
      Result<std::string> script = ChartJs();
      if (!script.ok()) return Error(500, script.error());
      Response r;
      r.content_type = "application/javascript";
      r.body = std::move(*script);
      r.headers.push_back({"Cache-Control", "max-age=3600"});
      return r;
    }
  }
  return Error(404, "no such endpoint");
}

std::string Api::Metrics() {
  const control::EngineStatus status = engine_.GetStatus();
  const std::vector<control::SiteView> sites = engine_.Sites();
  const std::vector<control::SensorView> sensors = engine_.observer().Sensors();
  const control::ObserverCounters readings = engine_.observer().Counters();
  const std::vector<std::pair<std::string, bool>> sources = engine_.observer().Sources();
  const control::StoreHealth store = recorder_.Health();
  const bool store_up = recorder_.Check().ok();
  std::map<std::pair<std::string, int>, int64_t> requests;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    requests = requests_;
  }
  MetricsInput in;
  in.status = &status;
  in.sites = &sites;
  in.sensors = &sensors;
  in.readings = &readings;
  in.sources = &sources;
  in.store = &store;
  in.store_up = store_up;
  in.requests = &requests;
  const std::vector<control::FeedView> feeds =
      feeds_ != nullptr ? feeds_->States() : std::vector<control::FeedView>();
  in.feeds = &feeds;
  return RenderMetrics(in);
}

}  // namespace greenshift::api
