#include "energy/mqtt.h"

#include <mosquitto.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

namespace greenshift::energy {

namespace {

int64_t NowUtcMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct LibraryInit {
  LibraryInit() { mosquitto_lib_init(); }
};

}  // namespace

Result<std::unique_ptr<MqttSensorSubscriber>> MqttSensorSubscriber::Connect(
    const MqttOptions& options) {
  static LibraryInit init;
  std::unique_ptr<MqttSensorSubscriber> self(new MqttSensorSubscriber(options));
  self->client_ = mosquitto_new(options.client_id.c_str(), true, self.get());
  if (!self->client_) return Status::Error("MQTT: cannot create a client");
  mosquitto_message_callback_set(self->client_, &MqttSensorSubscriber::OnMessage);
  const std::string where = options.host + ":" + std::to_string(options.port);
  int rc = mosquitto_connect(self->client_, options.host.c_str(), options.port, 30);
  if (rc != MOSQ_ERR_SUCCESS) {
    return Status::Error("MQTT: cannot connect to " + where + ": " +
                         (rc == MOSQ_ERR_ERRNO ? std::string(strerror(errno))
                                               : std::string(mosquitto_strerror(rc))));
  }
  const std::string topic = options.topic_prefix + "/+/+/power";
  rc = mosquitto_subscribe(self->client_, nullptr, topic.c_str(), 1);
  if (rc != MOSQ_ERR_SUCCESS) {
    return Status::Error("MQTT: cannot subscribe to " + topic + ": " + mosquitto_strerror(rc));
  }
  rc = mosquitto_loop_start(self->client_);
  if (rc != MOSQ_ERR_SUCCESS) {
    return Status::Error(std::string("MQTT: cannot start the network loop: ") +
                         mosquitto_strerror(rc));
  }
  // Give the broker a moment to acknowledge the subscription before the caller publishes.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  return self;
}

MqttSensorSubscriber::~MqttSensorSubscriber() {
  if (client_) {
    mosquitto_disconnect(client_);
    mosquitto_loop_stop(client_, false);
    mosquitto_destroy(client_);
  }
}

void MqttSensorSubscriber::OnMessage(struct mosquitto*, void* self,
                                     const struct mosquitto_message* message) {
  std::string payload(static_cast<const char*>(message->payload),
                      static_cast<size_t>(message->payloadlen));
  static_cast<MqttSensorSubscriber*>(self)->Handle(message->topic, payload);
}

void MqttSensorSubscriber::Handle(const std::string& topic, const std::string& payload) {
  // <prefix>/<site>/<sensor>/power
  const std::string prefix = options_.topic_prefix + "/";
  std::lock_guard<std::mutex> lock(mutex_);
  auto problem = [&](const std::string& text) {
    problems_.push_back(text);
    if (problems_.size() > 50) problems_.erase(problems_.begin());
  };
  if (topic.rfind(prefix, 0) != 0) return problem("topic " + topic + " outside " + prefix);
  const std::string rest = topic.substr(prefix.size());
  const size_t slash = rest.find('/');
  const size_t slash2 = rest.find('/', slash + 1);
  if (slash == std::string::npos || slash2 == std::string::npos) {
    return problem("topic " + topic + " is not <prefix>/<site>/<sensor>/power");
  }
  const std::string site = rest.substr(0, slash);
  const std::string sensor = rest.substr(slash + 1, slash2 - slash - 1);
  const std::string key = site + "/" + sensor;
  Counts& counts = counts_[key];
  const int64_t now = NowUtcMs();
  Result<Reading> reading = ParseReadingPayload(payload, site, sensor, now);
  if (!reading.ok()) {
    ++counts.malformed;
    return problem(reading.error());
  }
  auto it = validators_.try_emplace(key, options_.limits).first;
  Verdict verdict = it->second.Check(*reading, now);
  if (!verdict.accepted) {
    ++counts.rejected;
    return problem(verdict.why);
  }
  ++counts.accepted;
  accepted_.push_back(*reading);
}

std::vector<Reading> MqttSensorSubscriber::TakeAccepted() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<Reading> out;
  out.swap(accepted_);
  return out;
}

std::map<std::string, MqttSensorSubscriber::Counts> MqttSensorSubscriber::counts() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return counts_;
}

std::vector<std::string> MqttSensorSubscriber::recent_problems() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return problems_;
}

}  // namespace greenshift::energy
