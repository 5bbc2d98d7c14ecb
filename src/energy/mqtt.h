// An MQTT subscriber (libmosquitto) that receives sensor readings, validates each one and keeps
// the accepted readings for the caller. Topic: <prefix>/<site>/<sensor>/power.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/status.h"
#include "energy/sensor.h"

struct mosquitto;
struct mosquitto_message;

namespace greenshift::energy {

struct MqttOptions {
  std::string host = "127.0.0.1";
  int port = 1883;
  std::string topic_prefix = "greenshift";
  std::string client_id = "greenshift-sensors";
  SensorLimits limits;  // applied to every sensor
};

class MqttSensorSubscriber {
 public:
  // Connects and subscribes; returns once the broker acknowledged the subscription.
  static Result<std::unique_ptr<MqttSensorSubscriber>> Connect(const MqttOptions& options);
  ~MqttSensorSubscriber();

  // Readings accepted since the last call, in arrival order.
  std::vector<Reading> TakeAccepted();
  // Counts per sensor ("site/sensor"): accepted and rejected, and malformed payloads.
  struct Counts {
    int64_t accepted = 0, rejected = 0, malformed = 0;
  };
  std::map<std::string, Counts> counts() const;
  std::vector<std::string> recent_problems() const;

 private:
  explicit MqttSensorSubscriber(MqttOptions options) : options_(std::move(options)) {}
  static void OnMessage(struct mosquitto*, void* self, const struct mosquitto_message* message);
  void Handle(const std::string& topic, const std::string& payload);

  MqttOptions options_;
  struct mosquitto* client_ = nullptr;
  mutable std::mutex mutex_;
  std::vector<Reading> accepted_;
  std::map<std::string, SensorValidator> validators_;
  std::map<std::string, Counts> counts_;
  std::vector<std::string> problems_;
};

}  // namespace greenshift::energy
