#include "lab/relay.h"

#include <unistd.h>

#include <gtest/gtest.h>

namespace greenshift::lab {
namespace {

TEST(RelayDelay, ParsesMilliseconds) {
  EXPECT_DOUBLE_EQ(*ParseRelayDelay("20"), 20.0);
  EXPECT_DOUBLE_EQ(*ParseRelayDelay("0.25\n"), 0.25);
  EXPECT_DOUBLE_EQ(*ParseRelayDelay("0"), 0.0);
  EXPECT_DOUBLE_EQ(*ParseRelayDelay("10000"), 10000.0);
}

// What a broken or hostile writer of the delay file could leave there: the relay keeps its delay.
TEST(RelayDelay, RefusesWhatIsNotADelay) {
  for (const char* text :
       {"", "twenty", "20ms", "-1", "10000.5", "nan", "inf", "1e999", "20 30", "0x14"}) {
    Result<double> delay = ParseRelayDelay(text);
    EXPECT_FALSE(delay.ok()) << "'" << text << "' gave " << (delay.ok() ? *delay : -1);
    if (!delay.ok()) {
      EXPECT_NE(delay.status().message().find("milliseconds"), std::string::npos);
    }
  }
}

TEST(Relay, RefusesOneInterfaceTwiceAndAMissingOne) {
  RelayConfig config;
  config.interface_a = config.interface_b = "lo";
  EXPECT_FALSE(RunRelay(config, nullptr).ok());
  config.interface_b = "gs-no-such-if";
  Status status = RunRelay(config, nullptr);
  ASSERT_FALSE(status.ok());
  // As root, the socket opens and the missing interface is named; otherwise the socket fails.
  if (geteuid() == 0) {
    EXPECT_NE(status.message().find("gs-no-such-if"), std::string::npos) << status.message();
  }
  config.interface_b = "lo";
  config.interface_a = "lo2";
  config.queue_limit_bytes = 1000;
  Status tiny = RunRelay(config, nullptr);
  ASSERT_FALSE(tiny.ok());
  EXPECT_NE(tiny.message().find("queue limit"), std::string::npos) << tiny.message();
}

}  // namespace
}  // namespace greenshift::lab
