// Where sensor readings come from: each kind of sensor the loop reads is a SensorSource, polled
// once a tick. A source only delivers what it got (parsed readings, and its problems in words);
// the observer validates every reading, whatever its source, in one place. Readings pushed
// through the API reach the observer directly.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "energy/sensor.h"

namespace greenshift::energy {
class MqttSensorSubscriber;
}

namespace greenshift::control {

class SensorSource {
 public:
  virtual ~SensorSource() = default;
  // What this source reads, for logs and the health page ("modbus 10.0.0.5:502 (a/pv)").
  virtual std::string Describe() const = 0;
  // Readings (and problems) since the last poll, as of `now_ms`. Called from the loop's thread
  // only; may block for the source's own timeout.
  virtual void Poll(int64_t now_ms, std::vector<energy::Reading>* readings,
                    std::vector<std::string>* problems) = 0;
  // False while the source cannot be reached (a broker down); its readings then stop coming.
  virtual bool Connected() const { return true; }
};

// A recorded power series played back as one sensor: at `now` it reads the series linearly
// between the recorded rows (exactly a row's value at its time); before the first row it is
// silent, and after the last one for longer than `silent_after_s` too. A NaN row is a gap (a
// logger that was offline): silent from the gap's row until the next value, and the row before
// it holds its value until the gap begins.
std::unique_ptr<SensorSource> MakeReplaySource(std::string site, std::string sensor,
                                               std::vector<int64_t> time_utc_s,
                                               std::vector<double> power_w, int64_t silent_after_s);

// A SunSpec inverter read over Modbus TCP at every poll.
std::unique_ptr<SensorSource> MakeModbusSource(std::string site, std::string sensor,
                                               std::string host, int port);

// Every sensor that publishes to one MQTT broker under one topic prefix.
std::unique_ptr<SensorSource> MakeMqttSource(
    std::unique_ptr<energy::MqttSensorSubscriber> subscriber);

// "host:port/rest" (port optional) into its parts; errors name the address.
Status SplitAddress(const std::string& address, int default_port, std::string* host, int* port,
                    std::string* rest);

}  // namespace greenshift::control
