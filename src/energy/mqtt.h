// An MQTT subscriber (libmosquitto) for sensor readings. Topic: <prefix>/<site>/<sensor>/power;
// payload: what ParseReadingPayload reads. It parses and hands over; it does not judge: the
// caller validates each reading against its own sensor's limits (the service's observer does,
// in one place for every kind of sensor).
//
// It subscribes again on every (re)connect: a broker that restarts loses its subscriptions, and
// a subscriber that did not notice would lose every reading from then on. A thread of its own
// connects, reads, and reconnects with backoff (1 s doubling to 30 s) whenever the connection
// fails or drops, also when the broker is not there at the start. Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
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
  int keepalive_s = 30;
  // How long Connect waits for the broker's first subscription acknowledgement. When it does
  // not come (the broker is down), Connect still succeeds: the subscriber keeps trying and
  // reports itself disconnected meanwhile.
  int first_subscription_wait_ms = 2000;
};

class MqttSensorSubscriber {
 public:
  // Starts the network thread and the connection. Errors only for what retrying cannot fix (a
  // client that cannot be created, a bad host name).
  static Result<std::unique_ptr<MqttSensorSubscriber>> Connect(const MqttOptions& options);
  ~MqttSensorSubscriber();

  // What arrived since the last call, in arrival order: parsed readings, and the problems
  // (malformed payloads, topics outside the layout), each in words.
  void Take(std::vector<Reading>* readings, std::vector<std::string>* problems);

  // True while connected and subscribed.
  bool subscribed() const { return subscribed_.load(); }
  // Subscriptions made (1 after the first connect; one more after every reconnect).
  int64_t subscriptions() const { return subscriptions_.load(); }
  std::string Describe() const;

 private:
  explicit MqttSensorSubscriber(MqttOptions options) : options_(std::move(options)) {}
  static void OnConnect(struct mosquitto*, void* self, int rc);
  static void OnSubscribe(struct mosquitto*, void* self, int mid, int count, const int* granted);
  static void OnMessage(struct mosquitto*, void* self, const struct mosquitto_message* message);
  void Handle(const std::string& topic, const std::string& payload);
  void Run();  // the network thread
  void Problem(const std::string& text);

  MqttOptions options_;
  struct mosquitto* client_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::mutex wake_mutex_;
  std::condition_variable wake_;
  std::atomic<bool> subscribed_{false};
  std::atomic<int64_t> subscriptions_{0};
  mutable std::mutex mutex_;
  std::vector<Reading> readings_;
  std::vector<std::string> problems_;
};

}  // namespace greenshift::energy
