// Integration test of the SunSpec reader against a real Modbus TCP server on loopback, served
// with libmodbus's server side from a register map laid out as a SunSpec inverter.
#include "energy/sunspec.h"

#include <modbus/modbus.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace greenshift::energy {
namespace {

// A SunSpec map at 40000: "SunS", common model 1 (66 registers), inverter model `model` (50),
// end marker.
class SunSpecServer {
 public:
  SunSpecServer(int port, int model, int16_t watts, int16_t scale) {
    mapping_ = modbus_mapping_new_start_address(0, 0, 0, 0, 40000, 200, 0, 0);
    uint16_t* r = mapping_->tab_registers;
    r[0] = 0x5375;
    r[1] = 0x6e53;
    r[2] = 1;  // common model
    r[3] = 66;
    int at = 4 + 66;
    r[at] = static_cast<uint16_t>(model);
    r[at + 1] = 50;
    r[at + 2 + 12] = static_cast<uint16_t>(watts);
    r[at + 2 + 13] = static_cast<uint16_t>(scale);
    r[at + 2 + 50] = 0xFFFF;
    r[at + 2 + 51] = 0;
    ctx_ = modbus_new_tcp("127.0.0.1", port);
    listen_socket_ = modbus_tcp_listen(ctx_, 1);
    thread_ = std::thread([this] { Serve(); });
  }
  ~SunSpecServer() {
    stop_ = true;
    shutdown(listen_socket_, SHUT_RDWR);
    close(listen_socket_);
    thread_.join();
    modbus_mapping_free(mapping_);
    modbus_free(ctx_);
  }
  bool listening() const { return listen_socket_ >= 0; }

 private:
  void Serve() {
    while (!stop_) {
      int client = modbus_tcp_accept(ctx_, &listen_socket_);
      if (client < 0) return;
      uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
      while (true) {
        const int length = modbus_receive(ctx_, query);
        if (length <= 0) break;  // the client closed the connection
        modbus_reply(ctx_, query, length, mapping_);
      }
      close(client);
    }
  }
  modbus_t* ctx_ = nullptr;
  modbus_mapping_t* mapping_ = nullptr;
  int listen_socket_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

int TestPort(int offset) {
  return 15020 + offset + getpid() % 500;
}

TEST(SunSpecIntegrationTest, ReadsThePowerOfAThreePhaseInverter) {
  const int port = TestPort(0);
  SunSpecServer server(port, 103, 4321, -1);  // 432.1 W
  ASSERT_TRUE(server.listening());
  SunSpecOptions options;
  options.port = port;
  Result<InverterPower> power = ReadSunSpecPower(options);
  ASSERT_TRUE(power.ok()) << power.error();
  EXPECT_EQ(power->model, 103);
  EXPECT_EQ(power->base_register, 40000);
  EXPECT_NEAR(power->power_w, 432.1, 1e-9);
}

TEST(SunSpecIntegrationTest, ScaleFactorUpAndSinglePhase) {
  const int port = TestPort(600);
  SunSpecServer server(port, 101, 52, 2);  // 5200 W
  ASSERT_TRUE(server.listening());
  SunSpecOptions options;
  options.port = port;
  Result<InverterPower> power = ReadSunSpecPower(options);
  ASSERT_TRUE(power.ok()) << power.error();
  EXPECT_EQ(power->model, 101);
  EXPECT_DOUBLE_EQ(power->power_w, 5200);
}

TEST(SunSpecIntegrationTest, NoServerIsAClearError) {
  SunSpecOptions options;
  options.port = 1;
  Result<InverterPower> power = ReadSunSpecPower(options);
  ASSERT_FALSE(power.ok());
  EXPECT_NE(power.error().find("127.0.0.1:1 unit 1: cannot connect"), std::string::npos)
      << power.error();
}

TEST(SunSpecDecodeTest, NotImplementedAndWrongModels) {
  std::vector<uint16_t> block(52, 0);
  block[0] = 103;
  block[1] = 50;
  block[14] = 0x8000;
  EXPECT_NE(DecodeInverterModel(block).error().find("does not implement"), std::string::npos);
  block[0] = 1;
  EXPECT_NE(DecodeInverterModel(block).error().find("not an inverter model"), std::string::npos);
  EXPECT_NE(DecodeInverterModel({103, 50, 0}).error().find("too short"), std::string::npos);
  block = std::vector<uint16_t>(52, 0);
  block[0] = 101;
  block[1] = 50;
  block[14] = static_cast<uint16_t>(-150);  // negative: standby draw, kept for the validator
  block[15] = 0;
  EXPECT_DOUBLE_EQ(DecodeInverterModel(block)->power_w, -150);
}

}  // namespace
}  // namespace greenshift::energy
