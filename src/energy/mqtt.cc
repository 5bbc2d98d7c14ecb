#include "energy/mqtt.h"

#include <mosquitto.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "core/clock.h"

namespace greenshift::energy {

namespace {

int64_t NowUtcMs() {
  return UnixMillis(WallNow());
}

struct LibraryInit {
  LibraryInit() { mosquitto_lib_init(); }
};

// At most this many readings wait for the caller; beyond, the oldest are dropped and said so
// (a caller that stopped taking must not grow the process without bound).
constexpr size_t kMaxWaiting = 100000;

}  // namespace

Result<std::unique_ptr<MqttSensorSubscriber>> MqttSensorSubscriber::Connect(
    const MqttOptions& options) {
  static LibraryInit init;
  if (options.host.empty() || options.port <= 0 || options.port > 65535)
    return Status::Invalid("MQTT: '" + options.host + ":" + std::to_string(options.port) +
                           "' is not a broker address");
  std::unique_ptr<MqttSensorSubscriber> self(new MqttSensorSubscriber(options));
  self->client_ = mosquitto_new(options.client_id.c_str(), true, self.get());
  if (!self->client_) return Status::Error("MQTT: cannot create a client");
  mosquitto_connect_callback_set(self->client_, &MqttSensorSubscriber::OnConnect);
  mosquitto_subscribe_callback_set(self->client_, &MqttSensorSubscriber::OnSubscribe);
  mosquitto_message_callback_set(self->client_, &MqttSensorSubscriber::OnMessage);
  MqttSensorSubscriber* raw = self.get();
  self->thread_ = std::thread([raw] { raw->Run(); });
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(options.first_subscription_wait_ms);
  while (!self->subscribed() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return self;
}

MqttSensorSubscriber::~MqttSensorSubscriber() {
  {
    std::lock_guard<std::mutex> lock(wake_mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (client_) {
    mosquitto_disconnect(client_);
    mosquitto_destroy(client_);
  }
}

std::string MqttSensorSubscriber::Describe() const {
  return "mqtt://" + options_.host + ":" + std::to_string(options_.port) + "/" +
         options_.topic_prefix;
}

void MqttSensorSubscriber::Problem(const std::string& text) {
  std::lock_guard<std::mutex> lock(mutex_);
  problems_.push_back(text);
  if (problems_.size() > kMaxWaiting) problems_.erase(problems_.begin());
}

void MqttSensorSubscriber::Run() {
  int backoff_ms = 1000;
  bool said = false;  // a broker that stays away is reported once, not every retry
  while (!stopping_) {
    int rc = mosquitto_connect(client_, options_.host.c_str(), options_.port, options_.keepalive_s);
    if (rc == MOSQ_ERR_SUCCESS) {
      backoff_ms = 1000;
      said = false;
      // Connected: OnConnect subscribes. Read until the connection fails or we stop.
      while (!stopping_ && rc == MOSQ_ERR_SUCCESS) rc = mosquitto_loop(client_, 100, 1);
      subscribed_ = false;
      mosquitto_disconnect(client_);
      if (stopping_) break;
      Problem("MQTT: the connection to " + Describe() + " was lost (" + mosquitto_strerror(rc) +
              "); reconnecting");
    } else if (!said) {
      said = true;
      Problem("MQTT: cannot connect to " + Describe() + ": " +
              (rc == MOSQ_ERR_ERRNO ? std::string(strerror(errno))
                                    : std::string(mosquitto_strerror(rc))) +
              "; retrying");
    }
    std::unique_lock<std::mutex> lock(wake_mutex_);
    wake_.wait_for(lock, std::chrono::milliseconds(backoff_ms),
                   [this] { return stopping_.load(); });
    backoff_ms = std::min(backoff_ms * 2, 30000);
  }
}

void MqttSensorSubscriber::OnConnect(struct mosquitto* client, void* self_ptr, int rc) {
  auto* self = static_cast<MqttSensorSubscriber*>(self_ptr);
  if (rc != 0) return;  // refused: the connection ends and the thread tries again
  // Every connect, not just the first: a restarted broker has forgotten the subscription.
  const std::string topic = self->options_.topic_prefix + "/+/+/power";
  const int sub = mosquitto_subscribe(client, nullptr, topic.c_str(), 1);
  if (sub != MOSQ_ERR_SUCCESS)
    self->Problem("MQTT: cannot subscribe to " + topic + ": " + mosquitto_strerror(sub));
}

void MqttSensorSubscriber::OnSubscribe(struct mosquitto*, void* self_ptr, int, int count,
                                       const int* granted) {
  auto* self = static_cast<MqttSensorSubscriber*>(self_ptr);
  if (count > 0 && granted[0] <= 2) {
    self->subscribed_ = true;
    ++self->subscriptions_;
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
  auto problem = [&](const std::string& text) { Problem(text); };
  if (topic.rfind(prefix, 0) != 0) return problem("topic " + topic + " outside " + prefix);
  const std::string rest = topic.substr(prefix.size());
  const size_t slash = rest.find('/');
  const size_t slash2 = slash == std::string::npos ? slash : rest.find('/', slash + 1);
  if (slash == std::string::npos || slash2 == std::string::npos ||
      rest.substr(slash2) != "/power") {
    return problem("topic " + topic + " is not <prefix>/<site>/<sensor>/power");
  }
  const std::string site = rest.substr(0, slash);
  const std::string sensor = rest.substr(slash + 1, slash2 - slash - 1);
  Result<Reading> reading = ParseReadingPayload(payload, site, sensor, NowUtcMs());
  if (!reading.ok()) return problem(reading.error());
  bool dropped = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (readings_.size() >= kMaxWaiting) {
      readings_.erase(readings_.begin());
      dropped = true;
    }
    readings_.push_back(std::move(*reading));
  }
  if (dropped)
    problem("MQTT: more than " + std::to_string(kMaxWaiting) +
            " readings waited to be taken; the oldest was dropped");
}

void MqttSensorSubscriber::Take(std::vector<Reading>* readings,
                                std::vector<std::string>* problems) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (Reading& r : readings_) readings->push_back(std::move(r));
  for (std::string& p : problems_) problems->push_back(std::move(p));
  readings_.clear();
  problems_.clear();
}

}  // namespace greenshift::energy
