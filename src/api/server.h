// The REST API (JSON over HTTP, cpp-httplib) and the Prometheus metrics. Reads are open;
// every change (readings pushed by sensors, plan approvals, manual moves) needs the bearer
// token from the config. Errors are JSON {"error": "..."} with the status code that fits:
// 400 malformed, 401 no or wrong token, 404 unknown site/sensor/VM, 422 a value that cannot be.
// Listens on loopback unless the config says otherwise.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "control/config.h"
#include "control/controller.h"
#include "core/status.h"
#include "energy/sensor.h"
#include "store/store.h"

namespace httplib {
class Server;
}

namespace greenshift::api {

class ApiServer {
 public:
  using Clock = std::function<int64_t()>;  // now, UTC ms
  // `controller` (may be null: readings only) serves the loop's views and actions.
  ApiServer(const control::ServiceConfig& config, store::Store& store, Clock clock,
            control::Controller* controller = nullptr);
  ~ApiServer();

  // Binds (port 0: any free port) and serves on a thread of its own.
  Status Start(const std::string& host, int port);
  int port() const { return port_; }
  void Stop();

  // The metrics page, as /metrics serves it.
  std::string Metrics();

 private:
  struct SensorState {
    energy::SensorValidator validator;
    double last_power_w = 0;
    int64_t last_time_ms = -1;
    std::string kind;  // only "push" sensors take POSTed readings
  };
  void Routes();
  // Validates and stores a batch: all of it or none. Returns the HTTP status and the body.
  std::pair<int, std::string> PostReadings(const std::string& body);

  const control::ServiceConfig& config_;
  store::Store& store_;
  Clock clock_;
  control::Controller* controller_;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mutex_;  // guards sensors_ and the counters
  std::map<std::pair<std::string, std::string>, SensorState> sensors_;
  int64_t accepted_ = 0;
  std::map<std::string, int64_t> rejected_by_reason_;
  std::map<std::pair<std::string, int>, int64_t> requests_;  // (route, status) -> count
};

}  // namespace greenshift::api
