#include "lab/routing.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

namespace greenshift::lab {
namespace {

TEST(Routing, TransitAddressesAndAsNumbersPerSite) {
  EXPECT_EQ(SiteTransitAddress(0), "198.18.16.2");
  EXPECT_EQ(WanTransitAddress(0), "198.18.16.1");
  EXPECT_EQ(SiteTransitAddress(99), "198.18.115.2");
  EXPECT_EQ(SiteAs(0), 65001);
  EXPECT_EQ(SiteAs(1), 65002);
  EXPECT_TRUE(IsNetworkMode("l2"));
  EXPECT_TRUE(IsNetworkMode("bgp"));
  EXPECT_TRUE(IsNetworkMode("vxlan"));
  EXPECT_FALSE(IsNetworkMode("VXLAN"));
  EXPECT_FALSE(IsNetworkMode("gre"));  // this kernel cannot make it
  EXPECT_FALSE(IsNetworkMode(""));
  EXPECT_FALSE(IsRouted("l2"));
  EXPECT_TRUE(IsRouted("bgp"));
  EXPECT_TRUE(IsRouted("vxlan"));
  // Only BGP has to propagate before the source may stop forwarding.
  EXPECT_EQ(SettleTime("bgp"), kPropagation);
  EXPECT_EQ(SettleTime("vxlan").count(), 0);
}

TEST(Routing, SiteConfigAnnouncesOnlyVmRoutesAndPrependsForwardingOnes) {
  const std::string config = SiteBirdConfig("198.18.16.2", 65001, "198.18.16.1", "/tmp/a.log");
  EXPECT_NE(config.find("router id 198.18.16.2;"), std::string::npos);
  EXPECT_NE(config.find("local 198.18.16.2 as 65001;"), std::string::npos);
  EXPECT_NE(config.find("neighbor 198.18.16.1 as 65000;"), std::string::npos);
  // Only the VMs' /32s, only from the two protocol numbers the lab sets.
  EXPECT_NE(config.find("198.18.128.0/17{32,32}"), std::string::npos);
  EXPECT_NE(config.find("krt_source = 250"), std::string::npos);
  EXPECT_NE(config.find("krt_source = 251"), std::string::npos);
  EXPECT_NE(config.find("bgp_path.prepend(65001)"), std::string::npos);
  EXPECT_NE(config.find("import none;"), std::string::npos);
}

TEST(Routing, WanConfigHasASessionPerSite) {
  const std::string config = WanBirdConfig(
      "198.18.1.1", {{"a", "198.18.16.2", 65001}, {"b", "198.18.17.2", 65002}}, "/tmp/w.log");
  EXPECT_NE(config.find("protocol bgp site_a"), std::string::npos);
  EXPECT_NE(config.find("neighbor 198.18.17.2 as 65002;"), std::string::npos);
  EXPECT_NE(config.find("export all;"), std::string::npos);
}

// BIRD itself parses both (bird -p), where it is installed (scripts/setup.sh installs it).
TEST(Routing, BirdAcceptsBothConfigurations) {
  if (std::system("command -v bird >/dev/null 2>&1") != 0) GTEST_SKIP() << "bird not installed";
  const std::string dir = ::testing::TempDir();
  const std::pair<std::string, std::string> configs[] = {
      {"site", SiteBirdConfig("198.18.16.2", 65001, "198.18.16.1", dir + "/site.log")},
      {"wan",
       WanBirdConfig("198.18.1.1", {{"a", "198.18.16.2", 65001}, {"b", "198.18.17.2", 65002}},
                     dir + "/wan.log")}};
  for (const auto& [name, text] : configs) {
    const std::string path = dir + "/gs-routing-" + name + "-" + std::to_string(getpid()) + ".conf";
    std::ofstream(path) << text;
    const std::string command = "bird -p -c " + path + " >/dev/null 2>" + path + ".err";
    EXPECT_EQ(std::system(command.c_str()), 0) << name << " config refused:\n"
                                               << text << "\nsee " << path << ".err";
  }
}

}  // namespace
}  // namespace greenshift::lab
