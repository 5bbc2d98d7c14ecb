// Integration test against a real mosquitto broker that the test starts on a loopback port.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "control/controller.h"
#include "core/process.h"
#include "energy/mqtt.h"
#include "hypervisor/sim/sim_driver.h"

namespace greenshift::energy {
namespace {

class Broker {
 public:
  explicit Broker(int port) : port_(port) {
    config_ = "/tmp/greenshift-mqtt-test-" + std::to_string(getpid()) + ".conf";
    std::ofstream(config_) << "listener " << port
                           << " 127.0.0.1\nallow_anonymous true\nlog_dest none\n";
    pid_ = fork();
    if (pid_ == 0) {
      execlp("mosquitto", "mosquitto", "-c", config_.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~Broker() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    std::remove(config_.c_str());
  }
  bool Publish(const std::string& topic, const std::string& payload) const {
    Result<CommandOutput> out =
        RunCommand({"mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(port_), "-q", "1",
                    "-t", topic, "-m", payload});
    return out.ok() && out->exit_code == 0;
  }

 private:
  int port_;
  pid_t pid_ = -1;
  std::string config_;
};

std::string Iso(int64_t utc_s) {
  char buffer[32];
  const time_t t = static_cast<time_t>(utc_s);
  std::tm parts{};
  gmtime_r(&t, &parts);
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S+00:00", &parts);
  return buffer;
}

TEST(MqttIntegrationTest, ReadingsFromARealBrokerAreValidatedAndCounted) {
  const int port = 18830 + getpid() % 1000;
  Broker broker(port);
  MqttOptions options;
  options.port = port;
  options.limits.capacity_w = 5000;
  Result<std::unique_ptr<MqttSensorSubscriber>> subscriber = Status::Error("not tried");
  for (int i = 0; i < 50; ++i) {  // the broker takes a moment to listen
    subscriber = MqttSensorSubscriber::Connect(options);
    if (subscriber.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(subscriber.ok()) << subscriber.error();

  const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  ASSERT_TRUE(broker.Publish("greenshift/frankfurt/roof/power",
                             R"({"time":")" + Iso(now_s - 20) + R"(","power_w":1500})"));
  ASSERT_TRUE(broker.Publish("greenshift/frankfurt/roof/power",
                             R"({"time":")" + Iso(now_s - 10) + R"(","power_w":1700})"));
  ASSERT_TRUE(broker.Publish("greenshift/frankfurt/roof/power",  // out of order
                             R"({"time":")" + Iso(now_s - 15) + R"(","power_w":1600})"));
  ASSERT_TRUE(broker.Publish("greenshift/frankfurt/roof/power", "-40"));     // negative
  ASSERT_TRUE(broker.Publish("greenshift/frankfurt/roof/power", "999999"));  // above capacity
  ASSERT_TRUE(broker.Publish("greenshift/frankfurt/roof/power", "sunny"));   // malformed
  ASSERT_TRUE(broker.Publish("greenshift/london/mast/power", "2100"));       // other sensor

  std::vector<Reading> accepted;
  for (int i = 0; i < 50 && accepted.size() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (Reading& r : (*subscriber)->TakeAccepted()) accepted.push_back(r);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(accepted.size(), 3u);
  EXPECT_EQ(accepted[0].power_w, 1500);
  EXPECT_EQ(accepted[0].time_utc_ms, (now_s - 20) * 1000);
  EXPECT_EQ(accepted[1].power_w, 1700);
  EXPECT_EQ(accepted[2].site, "london");
  EXPECT_EQ(accepted[2].sensor, "mast");
  auto counts = (*subscriber)->counts();
  EXPECT_EQ(counts["frankfurt/roof"].accepted, 2);
  EXPECT_EQ(counts["frankfurt/roof"].rejected, 3);
  EXPECT_EQ(counts["frankfurt/roof"].malformed, 1);
  EXPECT_EQ(counts["london/mast"].accepted, 1);
  EXPECT_EQ((*subscriber)->recent_problems().size(), 4u);  // each one with its reason
}

// The service's loop with an MQTT sensor: readings from the broker become the site's green power,
// unknown sensors and bad values are recorded, and the VM follows the power.
TEST(MqttIntegrationTest, TheControlLoopReadsAnMqttSensor) {
  const int port = 19830 + getpid() % 1000;
  Broker broker(port);
  char dir[] = "/tmp/gs-mqtt-loop-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string toml = R"(
[service]
token = "mqtt-loop-test-token-0123"
mode = "auto"
[policy]
min_dwell_hours = 1
horizon_hours = 1
[[sites]]
name = "a"
latitude = 50
longitude = 8
capacity_kw = 1
[[sites.sensors]]
name = "pv"
kind = "mqtt"
address = "127.0.0.1:)" + std::to_string(port) +
                           R"(/gs"
capacity_kw = 5
[[sites]]
name = "b"
latitude = 51
longitude = 0
capacity_kw = 1
[[hosts]]
name = "a1"
site = "a"
driver = "sim"
[[hosts]]
name = "b1"
site = "b"
driver = "sim"
[[vms]]
name = "web"
host = "b1"
memory_mib = 256
)";
  Result<control::ServiceConfig> config = control::ParseConfig(toml, std::string(dir) + "/g.toml");
  ASSERT_TRUE(config.ok()) << config.error();
  {
    Result<std::unique_ptr<store::Store>> store = store::Store::Open(std::string(dir) + "/g.db");
    ASSERT_TRUE(store.ok()) << store.error();
    hypervisor::SimDriver driver({{"a1", "b1"}, 125e6, 1000});
    auto wall = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
    Result<std::unique_ptr<control::Controller>> loop = Status::Error("not tried");
    for (int i = 0; i < 50; ++i) {  // the broker takes a moment to listen
      loop = control::Controller::Create(*config, **store, driver, wall);
      if (loop.ok()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(loop.ok()) << loop.error();
    ASSERT_TRUE((*loop)->Reconcile().ok());
    const int64_t now_s = wall() / 1000;
    ASSERT_TRUE(
        broker.Publish("gs/a/pv/power", R"({"time":")" + Iso(now_s - 5) + R"(","power_w":3000})"));
    ASSERT_TRUE(broker.Publish("gs/a/roof/power", "200"));  // no such sensor in the config
    ASSERT_TRUE(broker.Publish("gs/a/pv/power", "sunny"));  // malformed
    nlohmann::json sites;
    for (int i = 0; i < 50; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      ASSERT_TRUE((*loop)->Tick().ok());
      sites = (*loop)->SitesJson();
      if (sites[0]["green_w"] == 3000 && (*store)->CountRejected().value() == 1) break;
    }
    EXPECT_EQ(sites[0]["green_w"], 3000);
    EXPECT_EQ((*store)->CountReadings().value(), 1);
    EXPECT_EQ((*store)->CountRejected().value(), 1);  // the unknown sensor, with its reason
    bool malformed_recorded = false;
    for (const store::Event& e : (*store)->Events(50).value())
      malformed_recorded |= e.kind == "rejected" && e.message.find("sunny") != std::string::npos;
    EXPECT_TRUE(malformed_recorded);
    ASSERT_TRUE((*loop)->WaitForMoves(5000));
    EXPECT_EQ((*loop)->VmsJson()[0]["site"], "a");  // it followed the green power
    (*loop)->Stop();
  }
  std::filesystem::remove_all(dir);
}

TEST(MqttIntegrationTest, NoBrokerIsAClearError) {
  MqttOptions options;
  options.port = 1;  // nothing listens there
  Result<std::unique_ptr<MqttSensorSubscriber>> subscriber = MqttSensorSubscriber::Connect(options);
  ASSERT_FALSE(subscriber.ok());
  EXPECT_NE(subscriber.error().find("cannot connect to 127.0.0.1:1"), std::string::npos)
      << subscriber.error();
}

}  // namespace
}  // namespace greenshift::energy
