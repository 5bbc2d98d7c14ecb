#include <gtest/gtest.h>

#include "lab/lab.h"

namespace greenshift::lab {
namespace {

TEST(LabAddressingTest, DefaultSiteNames) {
  EXPECT_EQ(DefaultSiteNames(3), (std::vector<std::string>{"a", "b", "c"}));
  const auto many = DefaultSiteNames(28);
  EXPECT_EQ(many[25], "z");
  EXPECT_EQ(many[26], "aa");
  EXPECT_EQ(many[27], "ab");
}

TEST(LabAddressingTest, VmAddressesAreTheLowestFreeInTheBenchmarkRange) {
  EXPECT_EQ(*NextVmAddress({}), "198.18.128.10");
  EXPECT_EQ(*NextVmAddress({"198.18.128.10", "198.18.128.12"}), "198.18.128.11");
  std::vector<std::string> full;
  for (int i = 10; i < 255; ++i) full.push_back("198.18.128." + std::to_string(i));
  EXPECT_EQ(*NextVmAddress(full), "198.18.129.1");
}

TEST(LabAddressingTest, MacsAreStableAndLocal) {
  EXPECT_EQ(MacFor("gs", "web"), MacFor("gs", "web"));
  EXPECT_NE(MacFor("gs", "web"), MacFor("gs", "db"));
  EXPECT_EQ(MacFor("gs", "web").rfind("52:54:00:", 0), 0u);
  EXPECT_EQ(MacFor("gs", "web").size(), 17u);
}

TEST(LabAddressingTest, StateRoundTripsThroughJson) {
  LabState state;
  state.name = "t";
  state.run_dir = "/run/greenshift/t";
  state.sites = {{"a", "t-a", "br0", "198.19.255.1"}};
  state.links = {{"a", "b", "l-b", "l-a", "198.19.1.1", "198.19.1.2", 100, 5}};
  state.wan_netns = "t-wan";
  state.client_netns = "t-client";
  state.client_address = "198.18.0.2";
  state.created_namespaces = {"t-wan", "t-client", "t-a"};
  Result<LabState> back = LabStateFromJson(ToJson(state));
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(back->sites[0].migration_address, "198.19.255.1");
  EXPECT_EQ(back->links[0].bandwidth_mbit, 100);
  EXPECT_EQ(back->created_namespaces, state.created_namespaces);
  EXPECT_FALSE(back->has_storage);
  EXPECT_FALSE(LabStateFromJson(nlohmann::json{{"lab", "x"}}).ok());

  // With shared storage: a node that links join, found by name, but no site.
  state.has_storage = true;
  state.storage = {"storage", "t-st", "", "198.19.254.1"};
  state.disk_dir = "/var/lib/greenshift/lab-disks/t";
  back = LabStateFromJson(ToJson(state));
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_TRUE(back->has_storage);
  EXPECT_EQ(back->storage.netns, "t-st");
  EXPECT_EQ(back->disk_dir, state.disk_dir);
  ASSERT_NE(FindNode(*back, "storage"), nullptr);
  EXPECT_EQ(FindNode(*back, "storage")->migration_address, "198.19.254.1");
  EXPECT_EQ(FindSite(*back, "storage"), nullptr);
  EXPECT_EQ(FindNode(*back, "a")->netns, "t-a");
}

}  // namespace
}  // namespace greenshift::lab
