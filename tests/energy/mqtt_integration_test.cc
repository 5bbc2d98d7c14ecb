// Integration test against a real mosquitto broker that the test starts on a loopback port.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "control/service.h"
#include "core/process.h"
#include "energy/mqtt.h"
#include "hypervisor/sim/sim_driver.h"

namespace greenshift::energy {
namespace {

class Broker {
 public:
  explicit Broker(int port) : port_(port) {
    config_ = "/tmp/greenshift-mqtt-test-" + std::to_string(getpid()) + "-" + std::to_string(port) +
              ".conf";
    std::ofstream(config_) << "listener " << port
                           << " 127.0.0.1\nallow_anonymous true\nlog_dest none\n";
    Start();
  }
  ~Broker() {
    Kill();
    std::remove(config_.c_str());
  }
  void Start() {
    pid_ = fork();
    if (pid_ == 0) {
      execlp("mosquitto", "mosquitto", "-c", config_.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  // Ends the broker at once, as a crash or a restart of its host would (its subscriptions are
  // gone with it).
  void Kill() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
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

// Waits until `done` holds, up to `ms`.
template <typename F>
bool WaitFor(F done, int ms) {
  for (int i = 0; i < ms / 20; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

TEST(MqttIntegrationTest, ReadingsFromARealBrokerArriveParsedProblemsInWords) {
  const int port = 18830 + getpid() % 1000;
  Broker broker(port);
  MqttOptions options;
  options.port = port;
  options.first_subscription_wait_ms = 5000;  // the broker takes a moment to listen
  Result<std::unique_ptr<MqttSensorSubscriber>> subscriber = MqttSensorSubscriber::Connect(options);
  ASSERT_TRUE(subscriber.ok()) << subscriber.error();
  ASSERT_TRUE(WaitFor([&] { return (*subscriber)->subscribed(); }, 5000));

  const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  ASSERT_TRUE(broker.Publish("greenshift/frankfurt/roof/power",
                             R"({"time":")" + Iso(now_s - 20) + R"(","power_w":1500})"));
  ASSERT_TRUE(broker.Publish("greenshift/frankfurt/roof/power", "-40"));    // parsed: judged later
  ASSERT_TRUE(broker.Publish("greenshift/frankfurt/roof/power", "sunny"));  // malformed
  ASSERT_TRUE(broker.Publish("greenshift/london/mast/power", "2100"));

  std::vector<Reading> readings;
  std::vector<std::string> all, problems;
  ASSERT_TRUE(WaitFor(
      [&] {
        (*subscriber)->Take(&readings, &all);
        problems.clear();
        for (const std::string& p : all) {  // not "cannot connect" while the broker started
          if (p.find("MQTT: cannot connect") == std::string::npos) problems.push_back(p);
        }
        return readings.size() >= 3 && problems.size() >= 1;
      },
      5000));
  ASSERT_EQ(readings.size(), 3u);
  EXPECT_EQ(readings[0].power_w, 1500);
  EXPECT_EQ(readings[0].time_utc_ms, (now_s - 20) * 1000);
  EXPECT_EQ(readings[1].power_w, -40);
  EXPECT_EQ(readings[2].site, "london");
  EXPECT_EQ(readings[2].sensor, "mast");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("sunny"), std::string::npos) << problems[0];
}

// A broker that restarts has forgotten every subscription: the subscriber subscribes again when
// it reconnects, and readings flow again (before, they were lost silently from then on).
TEST(MqttIntegrationTest, ItSubscribesAgainAfterTheBrokerRestarts) {
  const int port = 20830 + getpid() % 1000;
  Broker broker(port);
  MqttOptions options;
  options.port = port;
  options.first_subscription_wait_ms = 5000;
  Result<std::unique_ptr<MqttSensorSubscriber>> subscriber = MqttSensorSubscriber::Connect(options);
  ASSERT_TRUE(subscriber.ok()) << subscriber.error();
  ASSERT_TRUE(WaitFor([&] { return (*subscriber)->subscribed(); }, 5000));
  EXPECT_EQ((*subscriber)->subscriptions(), 1);
  ASSERT_TRUE(broker.Publish("greenshift/a/pv/power", "100"));
  std::vector<Reading> readings;
  std::vector<std::string> problems;
  ASSERT_TRUE(WaitFor(
      [&] {
        (*subscriber)->Take(&readings, &problems);
        return readings.size() == 1;
      },
      5000));

  broker.Kill();
  ASSERT_TRUE(WaitFor([&] { return !(*subscriber)->subscribed(); }, 5000));
  broker.Start();
  // libmosquitto retries with backoff (1 s, then longer): well within 15 s.
  ASSERT_TRUE(WaitFor([&] { return (*subscriber)->subscribed(); }, 15000));
  EXPECT_EQ((*subscriber)->subscriptions(), 2);
  ASSERT_TRUE(broker.Publish("greenshift/a/pv/power", "200"));
  ASSERT_TRUE(WaitFor(
      [&] {
        (*subscriber)->Take(&readings, &problems);
        return readings.size() == 2;
      },
      5000));
  EXPECT_EQ(readings[1].power_w, 200);
}

TEST(MqttIntegrationTest, NoBrokerYetMeansNotSubscribedAndItKeepsTrying) {
  const int port = 21830 + getpid() % 1000;
  MqttOptions options;
  options.port = port;  // nothing listens there yet
  options.first_subscription_wait_ms = 300;
  Result<std::unique_ptr<MqttSensorSubscriber>> subscriber = MqttSensorSubscriber::Connect(options);
  ASSERT_TRUE(subscriber.ok()) << subscriber.error();
  EXPECT_FALSE((*subscriber)->subscribed());
  Broker broker(port);
  ASSERT_TRUE(WaitFor([&] { return (*subscriber)->subscribed(); }, 15000));
}

// The service with two MQTT sensors on one broker: readings become the site's green power, each
// sensor is judged against its own capacity (not the largest of all), an unknown sensor is
// stored as rejected with why, a malformed payload is recorded as an event, and the VM follows
// the power.
TEST(MqttIntegrationTest, TheServiceReadsMqttSensors) {
  const int port = 19830 + getpid() % 1000;
  Broker broker(port);
  char dir[] = "/tmp/gs-mqtt-loop-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string address = "127.0.0.1:" + std::to_string(port) + "/gs";
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
address = ")" + address + R"("
capacity_kw = 5
[[sites]]
name = "b"
latitude = 51
longitude = 0
capacity_kw = 1
[[sites.sensors]]
name = "small"
kind = "mqtt"
address = ")" + address + R"("
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
    hypervisor::SimDriverConfig sim;
    sim.hosts = {"a1", "b1"};
    sim.speed = 1000;
    hypervisor::SimDriver driver(sim);
    auto wall = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
    Result<control::Service> service = control::BuildService(*config, **store, driver, wall);
    ASSERT_TRUE(service.ok()) << service.error();
    control::Engine& engine = *service->engine;
    engine.executor().Start();
    hypervisor::SimVm web;
    web.spec.name = "web";
    ASSERT_TRUE(driver.StartVm(web, "b1").ok());
    const int64_t now_s = wall() / 1000;
    ASSERT_TRUE(WaitFor([&] { return engine.observer().Sources()[0].second; }, 5000));
    ASSERT_TRUE(
        broker.Publish("gs/a/pv/power", R"({"time":")" + Iso(now_s - 5) + R"(","power_w":3000})"));
    // 3 kW is fine for a's 5 kW array, and too much for b's 1 kW one.
    ASSERT_TRUE(broker.Publish("gs/b/small/power",
                               R"({"time":")" + Iso(now_s - 6) + R"(","power_w":3000})"));
    ASSERT_TRUE(
        broker.Publish("gs/b/small/power", R"({"time":")" + Iso(now_s - 5) + R"(","power_w":50})"));
    ASSERT_TRUE(broker.Publish("gs/a/roof/power", "200"));  // no such sensor in the config
    ASSERT_TRUE(broker.Publish("gs/a/pv/power", "sunny"));  // malformed
    std::vector<control::SiteView> sites;
    for (int i = 0; i < 50; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      ASSERT_TRUE(engine.Tick(engine.NowMs()).ok());
      sites = engine.Sites();
      if (sites[0].green_w == 3000 && sites[1].green_w == 50 &&
          (*store)->CountRejected().value() == 2)
        break;
    }
    EXPECT_EQ(sites[0].green_w, 3000);
    EXPECT_EQ(sites[1].green_w, 50);  // the 3 kW before it was refused
    EXPECT_EQ((*store)->CountReadings().value(), 2);
    EXPECT_EQ((*store)->CountRejected().value(), 2);  // the unknown sensor and the 3 kW
    const control::ObserverCounters counters = engine.observer().Counters();
    EXPECT_EQ(counters.rejected.at("unknown_sensor"), 1);
    EXPECT_EQ(counters.rejected.at("above_capacity"), 1);
    bool malformed_recorded = false;
    for (const store::Event& e : (*store)->Events(50).value())
      malformed_recorded |= e.kind == "sensor" && e.message.find("sunny") != std::string::npos;
    EXPECT_TRUE(malformed_recorded);
    ASSERT_TRUE(engine.WaitForMoves(5000));
    EXPECT_EQ(engine.Vms()[0].site, 0);  // it followed the green power to a
    engine.Stop();
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace greenshift::energy
