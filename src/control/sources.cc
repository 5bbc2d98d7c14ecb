#include "control/sources.h"

#include <algorithm>
#include <cmath>

#include "energy/mqtt.h"
#include "energy/sunspec.h"

namespace greenshift::control {

namespace {

class ReplaySource : public SensorSource {
 public:
  ReplaySource(std::string site, std::string sensor, std::vector<int64_t> time_utc_s,
               std::vector<double> power_w, int64_t silent_after_s)
      : site_(std::move(site)),
        sensor_(std::move(sensor)),
        time_s_(std::move(time_utc_s)),
        power_w_(std::move(power_w)),
        silent_after_s_(silent_after_s) {}

  std::string Describe() const override { return "replay (" + site_ + "/" + sensor_ + ")"; }

  void Poll(int64_t now_ms, std::vector<energy::Reading>* readings,
            std::vector<std::string>*) override {
    // Whole milliseconds: a row's value exactly at its time.
    const double now_s = static_cast<double>(now_ms) / 1000;
    auto it = std::upper_bound(time_s_.begin(), time_s_.end(), now_ms / 1000);
    if (time_s_.empty() || it == time_s_.begin()) return;  // before the recording
    const size_t i = static_cast<size_t>(it - time_s_.begin()) - 1;
    double power = power_w_[i];
    // A gap in the recording: the sensor is silent until the next value, as a logger that was
    // offline; the row before a gap is not drawn towards it.
    if (std::isnan(power)) return;
    if (i + 1 < time_s_.size()) {
      if (std::isnan(power_w_[i + 1])) {
        readings->push_back({site_, sensor_, now_ms, power});  // held until the gap
        return;
      }
      const double f = (now_s - static_cast<double>(time_s_[i])) /
                       static_cast<double>(time_s_[i + 1] - time_s_[i]);
      if (f > 0) power = power_w_[i] + f * (power_w_[i + 1] - power_w_[i]);
    } else if (now_s - static_cast<double>(time_s_[i]) > static_cast<double>(silent_after_s_)) {
      return;  // past the end of the recording: the sensor falls silent
    }
    readings->push_back({site_, sensor_, now_ms, power});
  }

 private:
  std::string site_, sensor_;
  std::vector<int64_t> time_s_;
  std::vector<double> power_w_;
  int64_t silent_after_s_;
};

class ModbusSource : public SensorSource {
 public:
  ModbusSource(std::string site, std::string sensor, std::string host, int port)
      : site_(std::move(site)), sensor_(std::move(sensor)) {
    options_.host = std::move(host);
    options_.port = port;
  }
  std::string Describe() const override {
    return "modbus " + options_.host + ":" + std::to_string(options_.port) + " (" + site_ + "/" +
           sensor_ + ")";
  }
  void Poll(int64_t now_ms, std::vector<energy::Reading>* readings,
            std::vector<std::string>* problems) override {
    Result<energy::InverterPower> power = energy::ReadSunSpecPower(options_);
    connected_ = power.ok();
    if (!power.ok()) {
      problems->push_back(site_ + "/" + sensor_ + ": " + power.error());
      return;
    }
    readings->push_back({site_, sensor_, now_ms, power->power_w});
  }
  bool Connected() const override { return connected_; }

 private:
  std::string site_, sensor_;
  energy::SunSpecOptions options_;
  bool connected_ = true;
};

class MqttSource : public SensorSource {
 public:
  explicit MqttSource(std::unique_ptr<energy::MqttSensorSubscriber> subscriber)
      : subscriber_(std::move(subscriber)) {}
  std::string Describe() const override { return subscriber_->Describe(); }
  void Poll(int64_t, std::vector<energy::Reading>* readings,
            std::vector<std::string>* problems) override {
    subscriber_->Take(readings, problems);
  }
  bool Connected() const override { return subscriber_->subscribed(); }

 private:
  std::unique_ptr<energy::MqttSensorSubscriber> subscriber_;
};

}  // namespace

std::unique_ptr<SensorSource> MakeReplaySource(std::string site, std::string sensor,
                                               std::vector<int64_t> time_utc_s,
                                               std::vector<double> power_w,
                                               int64_t silent_after_s) {
  return std::make_unique<ReplaySource>(std::move(site), std::move(sensor), std::move(time_utc_s),
                                        std::move(power_w), silent_after_s);
}

std::unique_ptr<SensorSource> MakeModbusSource(std::string site, std::string sensor,
                                               std::string host, int port) {
  return std::make_unique<ModbusSource>(std::move(site), std::move(sensor), std::move(host), port);
}

std::unique_ptr<SensorSource> MakeMqttSource(
    std::unique_ptr<energy::MqttSensorSubscriber> subscriber) {
  return std::make_unique<MqttSource>(std::move(subscriber));
}

Status SplitAddress(const std::string& address, int default_port, std::string* host, int* port,
                    std::string* rest) {
  const size_t slash = address.find('/');
  const std::string hostport = address.substr(0, slash);
  if (rest) *rest = slash == std::string::npos ? "" : address.substr(slash + 1);
  const size_t colon = hostport.rfind(':');
  *host = hostport.substr(0, colon);
  *port = default_port;
  if (colon != std::string::npos) {
    try {
      *port = std::stoi(hostport.substr(colon + 1));
    } catch (...) {
      *port = -1;
    }
  }
  if (host->empty() || *port <= 0 || *port > 65535)
    return Status::Invalid("'" + address + "' is not host:port");
  return Status::Ok();
}

}  // namespace greenshift::control
