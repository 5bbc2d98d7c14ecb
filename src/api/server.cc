#include "api/server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "api/dashboard.h"
#include "core/clock.h"
#include "core/names.h"
#include "energy/csv.h"

namespace greenshift::api {

namespace {

using nlohmann::json;

std::string ErrorBody(const std::string& message) {
  return json{{"error", message}}.dump();
}

// Constant-time comparison: the token's bytes do not leak through the response time.
bool SameToken(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= a[i] ^ b[i % (b.empty() ? 1 : b.size())];
  return diff == 0 && !b.empty();
}

// Debian's libcpp-httplib (0.11) listens with a backlog of 5, compiled into the library: when
// more sensors than that connect at once, the kernel drops their SYNs and each retries after a
// second. Linux lets a listening socket's backlog be raised by calling listen() again: find our
// socket (listening, bound to `port`) among the process's descriptors and do that.
void RaiseListenBacklog(int port) {
  for (const std::filesystem::directory_entry& entry :
       std::filesystem::directory_iterator("/proc/self/fd")) {
    int fd = -1;
    try {
      fd = std::stoi(entry.path().filename().string());
    } catch (const std::exception&) {
      continue;
    }
    int listening = 0;
    socklen_t length = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) != 0 || !listening) continue;
    sockaddr_storage address{};
    socklen_t address_length = sizeof address;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &address_length) != 0) continue;
    int bound = -1;
    if (address.ss_family == AF_INET)
      bound = ntohs(reinterpret_cast<sockaddr_in*>(&address)->sin_port);
    if (address.ss_family == AF_INET6)
      bound = ntohs(reinterpret_cast<sockaddr_in6*>(&address)->sin6_port);
    if (bound == port) ::listen(fd, SOMAXCONN);
  }
}

}  // namespace

ApiServer::ApiServer(const control::ServiceConfig& config, store::Store& store, Clock clock,
                     control::Controller* controller)
    : config_(config),
      store_(store),
      clock_(std::move(clock)),
      controller_(controller),
      http_(new httplib::Server) {
  for (const control::SiteConfig& site : config_.sites) {
    for (const control::SensorConfig& sensor : site.sensors) {
      energy::SensorLimits limits;
      limits.capacity_w = sensor.capacity_w;
      sensors_.emplace(std::make_pair(site.name, sensor.name),
                       SensorState{energy::SensorValidator(limits), 0, -1, sensor.kind});
    }
  }
  Routes();
}

ApiServer::~ApiServer() {
  Stop();
}

Status ApiServer::Start(const std::string& host, int port) {
  if (port == 0) {
    port_ = http_->bind_to_any_port(host);
  } else {
    port_ = http_->bind_to_port(host, port) ? port : -1;
  }
  if (port_ <= 0) {
    return Status::Error("api: cannot listen on " + host + ":" + std::to_string(port) +
                         " (in use, or not an address of this machine?)");
  }
  RaiseListenBacklog(port_);
  thread_ = std::thread([this] { http_->listen_after_bind(); });
  return Status::Ok();
}

void ApiServer::Stop() {
  if (thread_.joinable()) {
    http_->stop();
    thread_.join();
  }
}

void ApiServer::Routes() {
  httplib::Server& s = *http_;
  // Without TCP_NODELAY a response written in two parts waits for the client's delayed ACK:
  // 40 ms per request.
  s.set_tcp_nodelay(true);
  // Sensors keep their connection open: let them, and keep threads for the connections that
  // wait between requests (httplib's defaults, 5 requests per connection and a thread per
  // core, stall new connections behind idle ones for up to a second).
  s.set_keep_alive_max_count(100000);
  s.new_task_queue = [] { return new httplib::ThreadPool(32); };
  auto reply = [](httplib::Response& res, int status, const std::string& body) {
    res.status = status;
    res.set_content(body, "application/json");
  };
  auto authorized = [this, reply](const httplib::Request& req, httplib::Response& res) {
    const std::string header = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (header.rfind(prefix, 0) == 0 && SameToken(header.substr(prefix.size()), config_.token))
      return true;
    res.set_header("WWW-Authenticate", "Bearer");
    reply(res, 401,
          ErrorBody(header.empty() ? "this endpoint needs 'Authorization: Bearer <token>'"
                                   : "the bearer token is wrong"));
    return false;
  };
  s.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mutex_);
    // Routes, not raw paths: a scan of unknown paths must not grow the metrics without bound.
    const std::string route = req.matches.empty() ? "other" : std::string(req.matches[0]);
    ++requests_[{req.method + " " + route, res.status}];
  });
  s.set_exception_handler(
      [reply](const httplib::Request&, httplib::Response& res, std::exception_ptr e) {
        std::string what = "internal error";
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          what = std::string("internal error: ") + ex.what();
        } catch (...) {
        }
        reply(res, 500, ErrorBody(what));
      });
  s.set_error_handler([reply](const httplib::Request& req, httplib::Response& res) {
    if (res.body.empty()) reply(res, res.status, ErrorBody("no such endpoint: " + req.path));
  });

  s.Get("/api/health", [this, reply](const httplib::Request&, httplib::Response& res) {
    Result<int> version = store_.SchemaVersion();
    Result<int64_t> readings = store_.CountReadings();
    if (!version.ok() || !readings.ok()) {
      reply(res, 503, ErrorBody(version.ok() ? readings.error() : version.error()));
      return;
    }
    reply(res, 200,
          json{{"status", "ok"},
               {"mode", control::ModeName(config_.mode)},
               {"schema_version", *version},
               {"readings", *readings}}
              .dump());
  });

  s.Get("/api/sites", [this, reply](const httplib::Request&, httplib::Response& res) {
    json sites = json::array();
    std::lock_guard<std::mutex> lock(mutex_);
    for (const control::SiteConfig& site : config_.sites) {
      json sensors = json::array();
      for (const control::SensorConfig& sensor : site.sensors) {
        const SensorState& state = sensors_.at({site.name, sensor.name});
        json j{{"name", sensor.name}, {"kind", sensor.kind}, {"capacity_w", sensor.capacity_w}};
        if (state.last_time_ms >= 0) {
          j["last_power_w"] = state.last_power_w;
          j["last_time"] = FormatUtcMinutes(state.last_time_ms / 1000);
          j["last_time_utc_ms"] = state.last_time_ms;
        }
        sensors.push_back(j);
      }
      sites.push_back({{"name", site.name},
                       {"latitude", site.latitude},
                       {"longitude", site.longitude},
                       {"capacity_w", site.capacity_w},
                       {"pv_kwp", site.pv_kwp},
                       {"sensors", sensors}});
    }
    if (controller_) {
      // What the loop knows now: green power, forecast, carbon, load and the VMs there.
      const json now = controller_->SitesJson();
      for (size_t i = 0; i < sites.size() && i < now.size(); ++i) {
        for (const char* key : {"green_w", "forecast_next_w", "carbon_g_per_kwh", "load_w", "vms"})
          sites[i][key] = now[i][key];
      }
    }
    reply(res, 200, sites.dump());
  });

  s.Get("/api/hosts", [this, reply](const httplib::Request&, httplib::Response& res) {
    json hosts = json::array();
    for (const control::HostConfig& h : config_.hosts) {
      hosts.push_back(
          {{"name", h.name}, {"site", h.site}, {"driver", h.driver}, {"address", h.address}});
    }
    reply(res, 200, hosts.dump());
  });

  s.Get("/api/readings", [this, reply](const httplib::Request& req, httplib::Response& res) {
    const std::string site = req.get_param_value("site");
    if (!site.empty() && config_.FindSite(site) == nullptr) {
      reply(res, 404, ErrorBody("no site is named '" + site + "'"));
      return;
    }
    int64_t since = 0;
    size_t limit = 1000;
    try {
      if (req.has_param("since_utc_ms")) since = std::stoll(req.get_param_value("since_utc_ms"));
      if (req.has_param("limit")) limit = std::stoul(req.get_param_value("limit"));
    } catch (const std::exception&) {
      reply(res, 400, ErrorBody("'since_utc_ms' and 'limit' must be whole numbers"));
      return;
    }
    if (limit < 1 || limit > 100000) {
      reply(res, 400, ErrorBody("'limit' must be 1 .. 100000"));
      return;
    }
    Result<std::vector<store::StoredReading>> rows = store_.Readings(site, since, limit);
    if (!rows.ok()) {
      reply(res, 500, ErrorBody(rows.error()));
      return;
    }
    json out = json::array();
    for (const store::StoredReading& r : *rows) {
      out.push_back({{"site", r.site},
                     {"sensor", r.sensor},
                     {"time_utc_ms", r.time_utc_ms},
                     {"power_w", r.power_w}});
    }
    reply(res, 200, out.dump());
  });

  s.Post("/api/readings",
         [this, reply, authorized](const httplib::Request& req, httplib::Response& res) {
           if (!authorized(req, res)) return;
           auto [status, body] = PostReadings(req.body);
           reply(res, status, body);
         });

  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(Metrics(), "text/plain; version=0.0.4");
  });

  if (!controller_) return;
  control::Controller& c = *controller_;
  auto send = [reply](httplib::Response& res, const control::Reply& r) {
    reply(res, r.status, r.body.dump());
  };
  auto limit_of = [](const httplib::Request& req, size_t* limit) {
    if (!req.has_param("limit")) return true;
    try {
      *limit = std::stoul(req.get_param_value("limit"));
    } catch (const std::exception&) {
      return false;
    }
    return *limit >= 1 && *limit <= 10000;
  };
  s.Get("/api/status", [&c, reply](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, c.StatusJson().dump());
  });
  s.Get("/api/vms", [&c, reply](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, c.VmsJson().dump());
  });
  s.Get("/api/forecasts",
        [&c, send](const httplib::Request&, httplib::Response& res) { send(res, c.Forecasts()); });
  s.Get("/api/plans",
        [&c, send, reply, limit_of](const httplib::Request& req, httplib::Response& res) {
          size_t limit = 50;
          if (!limit_of(req, &limit))
            return reply(res, 400, ErrorBody("'limit' must be 1 .. 10000"));
          send(res, c.Plans(limit));
        });
  s.Get(R"(/api/plans/(\d+))", [&c, send](const httplib::Request& req, httplib::Response& res) {
    send(res, c.Plan(std::stoll(req.matches[1])));
  });
  s.Post(R"(/api/plans/(\d+)/(approve|reject))",
         [&c, send, authorized](const httplib::Request& req, httplib::Response& res) {
           if (!authorized(req, res)) return;
           const int64_t id = std::stoll(req.matches[1]);
           send(res, req.matches[2] == "approve" ? c.Approve(id) : c.Reject(id));
         });
  s.Get("/api/moves",
        [&c, send, reply, limit_of](const httplib::Request& req, httplib::Response& res) {
          size_t limit = 100;
          if (!limit_of(req, &limit))
            return reply(res, 400, ErrorBody("'limit' must be 1 .. 10000"));
          send(res, c.Moves(limit));
        });
  s.Post("/api/moves", [&c, send, reply, authorized](const httplib::Request& req,
                                                     httplib::Response& res) {
    if (!authorized(req, res)) return;
    const json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object())
      return reply(res, 400, ErrorBody("the body is not a JSON object {\"vm\": ..., \"to\": ...}"));
    for (auto it = body.begin(); it != body.end(); ++it) {
      if (it.key() != "vm" && it.key() != "to")
        return reply(res, 400, ErrorBody("unknown field '" + it.key() + "' (fields: vm, to)"));
    }
    if (!body.contains("vm") || !body["vm"].is_string() || !body.contains("to") ||
        !body["to"].is_string())
      return reply(res, 400, ErrorBody("'vm' and 'to' (a site) must be strings"));
    send(res, c.RequestMove(body["vm"], body["to"]));
  });
  s.Get("/", [reply](const httplib::Request&, httplib::Response& res) {
    res.set_content(DashboardHtml(), "text/html; charset=utf-8");
  });
  s.Get("/static/chart.js", [reply](const httplib::Request&, httplib::Response& res) {
    Result<std::string> script = ChartJs();
    if (!script.ok()) return reply(res, 500, ErrorBody(script.error()));
    res.set_header("Cache-Control", "max-age=3600");
    res.set_content(*script, "application/javascript");
  });
}

std::pair<int, std::string> ApiServer::PostReadings(const std::string& body) {
  const json parsed = json::parse(body, nullptr, false);
  if (parsed.is_discarded())
    return {400, ErrorBody("the body is not JSON (a reading object, or an array of them)")};
  const json batch = parsed.is_array() ? parsed : json::array({parsed});
  if (batch.empty()) return {400, ErrorBody("no readings in the body")};
  if (batch.size() > 10000) return {413, ErrorBody("at most 10000 readings per request")};
  const int64_t now_ms = clock_();
  std::unique_lock<std::mutex> lock(mutex_);
  // Check everything on copies of the validators; store and commit only if all pass.
  std::map<std::pair<std::string, std::string>, SensorState> trial;
  std::vector<store::StoredReading> rows;
  rows.reserve(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    const json& r = batch[i];
    const std::string where = batch.size() > 1 ? "reading " + std::to_string(i) + ": " : "";
    if (!r.is_object()) return {400, ErrorBody(where + "must be a JSON object")};
    for (auto it = r.begin(); it != r.end(); ++it) {
      if (it.key() != "site" && it.key() != "sensor" && it.key() != "time" &&
          it.key() != "time_utc_ms" && it.key() != "power_w")
        return {400, ErrorBody(where + "unknown field '" + it.key() +
                               "' (fields: site, sensor, time or time_utc_ms, power_w)")};
    }
    if (!r.contains("site") || !r["site"].is_string() || !r.contains("sensor") ||
        !r["sensor"].is_string())
      return {400, ErrorBody(where + "'site' and 'sensor' must be strings")};
    const std::string site = r["site"], sensor = r["sensor"];
    const auto key = std::make_pair(site, sensor);
    auto known = sensors_.find(key);
    if (known == sensors_.end()) {
      if (config_.FindSite(site) == nullptr)
        return {404, ErrorBody(where + "no site is named '" + site + "'")};
      return {404, ErrorBody(where + "site '" + site + "' has no sensor '" + sensor + "'")};
    }
    if (known->second.kind != "push")
      return {409, ErrorBody(where + "sensor '" + sensor + "' of site '" + site + "' is a " +
                             known->second.kind + " sensor: the service reads it, nobody pushes")};
    if (!r.contains("power_w") || !(r["power_w"].is_number() || r["power_w"].is_null()))
      return {400, ErrorBody(where + "'power_w' must be a number")};
    energy::Reading reading{site, sensor, now_ms,
                            r["power_w"].is_null() ? NAN : r["power_w"].get<double>()};
    if (r.contains("time_utc_ms")) {
      if (!r["time_utc_ms"].is_number_integer())
        return {400, ErrorBody(where + "'time_utc_ms' must be a whole number")};
      reading.time_utc_ms = r["time_utc_ms"].get<int64_t>();
    } else if (r.contains("time")) {
      if (!r["time"].is_string()) return {400, ErrorBody(where + "'time' must be a string")};
      Result<int64_t> t = energy::ParseIsoTime(r["time"].get<std::string>(), {"body", 1, "time"});
      if (!t.ok()) return {400, ErrorBody(where + t.error())};
      reading.time_utc_ms = *t * 1000;
    }
    auto state = trial.find(key);
    if (state == trial.end()) state = trial.emplace(key, known->second).first;
    const energy::Verdict verdict = state->second.validator.Check(reading, now_ms);
    if (!verdict.accepted) {
      const std::string reason = energy::RejectReasonName(verdict.reason);
      ++rejected_by_reason_[reason];
      Status kept = store_.AddRejected(
          {site, sensor, reading.time_utc_ms, reading.power_w, reason, verdict.why, now_ms});
      std::string message = where + verdict.why;
      if (batch.size() > 1)
        message += "; none of the " + std::to_string(batch.size()) + " readings was stored";
      if (!kept.ok()) message += " (and recording the rejection failed: " + kept.message() + ")";
      return {422, json{{"error", message}, {"reason", reason}}.dump()};
    }
    state->second.last_power_w = reading.power_w;
    state->second.last_time_ms = reading.time_utc_ms;
    rows.push_back({0, site, sensor, reading.time_utc_ms, reading.power_w, now_ms});
  }
  // The sensors move on now, so that a concurrent request is checked against these readings;
  // the store commits outside the lock, grouped with other requests'.
  std::map<std::pair<std::string, std::string>, SensorState> before;
  std::map<std::pair<std::string, std::string>, int64_t> ours;  // each sensor's last time now
  std::vector<std::pair<std::pair<std::string, std::string>, double>> newest;
  for (auto& [key, state] : trial) {
    before.emplace(key, sensors_.at(key));
    ours[key] = state.last_time_ms;
    newest.push_back({key, state.last_power_w});
    sensors_.at(key) = std::move(state);
  }
  const size_t count = rows.size();
  lock.unlock();
  Status stored = store_.AddReadingsGrouped(std::move(rows));
  lock.lock();
  if (!stored.ok()) {
    // Not stored: put back each sensor that nothing else has moved since, so that the client
    // can send the same readings again.
    for (auto& [key, state] : before) {
      if (sensors_.at(key).last_time_ms == ours.at(key)) sensors_.at(key) = std::move(state);
    }
    return {503, ErrorBody(stored.message() + "; nothing was stored")};
  }
  accepted_ += static_cast<int64_t>(count);
  if (controller_) {
    for (const auto& [key, power] : newest)
      controller_->NoteReading(key.first, key.second, ours.at(key), power);
  }
  return {201, json{{"stored", count}}.dump()};
}

std::string ApiServer::Metrics() {
  std::string out = controller_ ? controller_->Metrics() : "";
  std::lock_guard<std::mutex> lock(mutex_);
  out += "# HELP greenshift_green_power_watts Green power last measured, per site and sensor.\n";
  out += "# TYPE greenshift_green_power_watts gauge\n";
  for (const auto& [key, state] : sensors_) {
    if (state.last_time_ms < 0) continue;
    char watts[32];
    std::snprintf(watts, sizeof watts, "%.3f", state.last_power_w);
    out += "greenshift_green_power_watts{site=\"" + MetricLabel(key.first) + "\",sensor=\"" +
           MetricLabel(key.second) + "\"} " + watts + "\n";
  }
  out += "# HELP greenshift_readings_accepted_total Sensor readings accepted and stored.\n";
  out += "# TYPE greenshift_readings_accepted_total counter\n";
  out += "greenshift_readings_accepted_total " + std::to_string(accepted_) + "\n";
  out += "# HELP greenshift_readings_rejected_total Sensor readings rejected, by reason.\n";
  out += "# TYPE greenshift_readings_rejected_total counter\n";
  for (energy::RejectReason r :
       {energy::RejectReason::kNotANumber, energy::RejectReason::kNegative,
        energy::RejectReason::kAboveCapacity, energy::RejectReason::kInTheFuture,
        energy::RejectReason::kOutOfOrder}) {
    const std::string reason = energy::RejectReasonName(r);
    auto it = rejected_by_reason_.find(reason);
    out += "greenshift_readings_rejected_total{reason=\"" + reason + "\"} " +
           std::to_string(it == rejected_by_reason_.end() ? 0 : it->second) + "\n";
  }
  out += "# HELP greenshift_http_requests_total HTTP requests by route and status.\n";
  out += "# TYPE greenshift_http_requests_total counter\n";
  for (const auto& [key, count] : requests_) {
    out += "greenshift_http_requests_total{route=\"" + MetricLabel(key.first) + "\",code=\"" +
           std::to_string(key.second) + "\"} " + std::to_string(count) + "\n";
  }
  return out;
}

}  // namespace greenshift::api
