// lab up --topology FILE: the JSON a lab is built from, and what a broken file gets.
#include <gtest/gtest.h>

#include "lab/lab.h"

namespace greenshift::lab {
namespace {

LabConfig Base() {
  LabConfig base;
  base.name = "topo";
  base.run_dir_root = "/run/greenshift-test";
  return base;
}

TEST(TopologyTest, SitesLinksAndModes) {
  Result<LabConfig> c = ParseTopology(R"({
    "sites": ["fra", "lon", "ams"], "network": "vxlan", "storage": true,
    "link_mbit": 1000, "link_delay_ms": 2,
    "links": [{"a": "lon", "b": "fra", "mbit": 100, "delay_ms": 20},
              {"a": "ams", "b": "fra", "delay_ms": 5}]})",
                                      "t.json", Base());
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->name, "topo");  // the base's name and directories stay
  EXPECT_EQ(c->run_dir_root, "/run/greenshift-test");
  EXPECT_EQ(c->site_names, (std::vector<std::string>{"fra", "lon", "ams"}));
  EXPECT_EQ(c->network, "vxlan");
  EXPECT_EQ(c->hypervisor, "qemu");
  EXPECT_TRUE(c->storage);
  EXPECT_EQ(c->link_bandwidth_mbit, 1000);
  EXPECT_DOUBLE_EQ(c->link_delay_ms, 2);
  ASSERT_EQ(c->links.size(), 2u);
  EXPECT_EQ(c->links[0].a, "lon");
  EXPECT_EQ(c->links[0].bandwidth_mbit, 100);
  EXPECT_DOUBLE_EQ(c->links[0].delay_ms, 20);
  // A link without a bandwidth gets the lab's.
  EXPECT_EQ(c->links[1].bandwidth_mbit, 1000);
  EXPECT_DOUBLE_EQ(c->links[1].delay_ms, 5);

  Result<LabConfig> minimal = ParseTopology(R"({"sites": ["a", "b"]})", "t.json", Base());
  ASSERT_TRUE(minimal.ok()) << minimal.error();
  EXPECT_EQ(minimal->network, "l2");
  EXPECT_TRUE(minimal->links.empty());
}

TEST(TopologyTest, ABrokenFileIsRefusedNamingTheKey) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "t.json: not valid JSON"},
      {"[1, 2]", "t.json: not a JSON object"},
      {R"({"sites": []})", "key 'sites': is required"},
      {R"({"sites": "a,b"})", "key 'sites': is required"},
      {R"({"sites": ["a", 2]})", "key 'sites[1]': must be a string"},
      {R"({"sites": ["a"], "netwrok": "bgp"})", "key 'netwrok': unknown key"},
      {R"({"sites": ["a"], "network": 3})", "key 'network': must be a string"},
      {R"({"sites": ["a"], "storage": "yes"})", "key 'storage': must be true or false"},
      {R"({"sites": ["a"], "link_mbit": -1})", "key 'link_mbit': = -1 is outside 0 .. 1000000"},
      {R"({"sites": ["a"], "link_delay_ms": 1e9})", "key 'link_delay_ms'"},
      {R"({"sites": ["a"], "link_mbit": 100.5})", "key 'link_mbit': must be a whole number"},
      {R"({"sites": ["a"], "link_delay_ms": "20"})", "key 'link_delay_ms': must be a number"},
      {R"({"sites": ["a", "b"], "links": {}})", "key 'links': must be a list"},
      {R"({"sites": ["a", "b"], "links": [3]})", "key 'links[0]': must be an object"},
      {R"({"sites": ["a", "b"], "links": [{"a": "a"}]})", "key 'links[0].b': is required"},
      {R"({"sites": ["a", "b"], "links": [{"a": "a", "b": "c"}]})",
       "key 'links[0].b': no site is named 'c'"},
      {R"({"sites": ["a", "b"], "links": [{"a": "a", "b": "a"}]})",
       "key 'links[0].b': a link joins two different sites"},
      {R"({"sites": ["a", "b"], "links": [{"a": "a", "b": "b"}, {"a": "b", "b": "a"}]})",
       "key 'links[1]': the link between 'b' and 'a' is given twice"},
      {R"({"sites": ["a", "b"], "links": [{"a": "a", "b": "b", "delay": 5}]})",
       "key 'links[0].delay': unknown key"},
      {R"({"sites": ["a", "b"], "links": [{"a": "a", "b": "b", "delay_ms": -5}]})",
       "key 'links[0].delay_ms'"},
  };
  for (const auto& [text, expect] : cases) {
    Result<LabConfig> r = ParseTopology(text, "t.json", Base());
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_NE(r.error().find(expect), std::string::npos) << text << " -> " << r.error();
  }
}

}  // namespace
}  // namespace greenshift::lab
