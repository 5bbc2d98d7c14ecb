#include "control/config.h"
#include "control/service.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <string>

namespace greenshift::control {
namespace {

const char* kGood = R"(
[service]
token = "0123456789abcdef-secret"
mode = "auto"
period_s = 30
database = "state/greenshift.db"

[policy]
name = "greedy-forecast"
min_dwell_hours = 1
horizon_hours = 2

[[sites]]
name = "frankfurt"
latitude = 50.1
longitude = 8.7
capacity_kw = 5
pv_kwp = 8
weather = "../data/weather/openmeteo_DE-LU_2022.json"
[[sites.sensors]]
name = "pv"
kind = "push"
capacity_kw = 8

[[sites]]
name = "london"
latitude = 51.5
longitude = -0.1
capacity_kw = 5

[[hosts]]
name = "fra1"
site = "frankfurt"
driver = "qemu"
address = "a"

[[vms]]
name = "web"
host = "fra1"
memory_mib = 256
downtime_budget_ms = 300
address = "198.18.128.10/16"
)";

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

TEST(ConfigTest, ReadsEverySection) {
  Result<ServiceConfig> c = ParseConfig(kGood, "/etc/greenshift/greenshift.toml");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->mode, Mode::kAuto);
  EXPECT_EQ(c->listen, "127.0.0.1");  // loopback unless configured otherwise
  EXPECT_EQ(c->database, "/etc/greenshift/state/greenshift.db");
  EXPECT_EQ(c->sites[0].weather, "/etc/data/weather/openmeteo_DE-LU_2022.json");
  EXPECT_DOUBLE_EQ(c->sites[0].capacity_w, 5000);
  ASSERT_EQ(c->sites[0].sensors.size(), 1u);
  EXPECT_DOUBLE_EQ(c->sites[0].sensors[0].capacity_w, 8000);
  EXPECT_EQ(c->policy_options.min_dwell_slots, 120);  // 1 h of 30 s periods
  EXPECT_EQ(c->policy_options.horizon_slots, 240u);
  EXPECT_DOUBLE_EQ(c->vms[0].downtime_budget_s, 0.3);
  EXPECT_EQ(c->FindHost("fra1")->site, "frankfurt");
  EXPECT_EQ(c->driver, "qemu");
  EXPECT_DOUBLE_EQ(c->vms[0].power_w, 100);  // the peak, when not given
  EXPECT_EQ(c->replay_start_utc_s, 0);       // real time
  EXPECT_EQ(c->vms[0].disk_gib, 0);          // diskless unless given one

  // A disk: what a move copies is all of it unless the operator says how much holds data.
  Result<ServiceConfig> disk = ParseConfig(
      Replace(kGood, "downtime_budget_ms = 300",
              "downtime_budget_ms = 300\ndisk_gib = 20\ndisk_write_mb_s = 2\nstorage = \"copy\""),
      "g.toml");
  ASSERT_TRUE(disk.ok()) << disk.error();
  EXPECT_EQ(disk->vms[0].disk_gib, 20);
  EXPECT_DOUBLE_EQ(disk->vms[0].disk_used_gib, 20);
  EXPECT_DOUBLE_EQ(disk->vms[0].disk_write_mb_s, 2);
  EXPECT_EQ(ProblemOf(*disk).vms[0].disk_bytes, int64_t{20} << 30);
  EXPECT_FALSE(ProblemOf(*disk).vms[0].disk_shared);

  // A shared disk: nothing to copy, its writes checked against each site's distance to it.
  std::string shared_text =
      Replace(kGood, "downtime_budget_ms = 300",
              "downtime_budget_ms = 300\ndisk_gib = 20\ndisk_write_mb_s = 2\nstorage = \"iscsi\"");
  shared_text = Replace(shared_text, "latitude = 50.1", "latitude = 50.1\nstorage_rtt_ms = 40");
  Result<ServiceConfig> shared = ParseConfig(shared_text, "g.toml");
  ASSERT_TRUE(shared.ok()) << shared.error();
  EXPECT_EQ(shared->vms[0].storage, "iscsi");
  EXPECT_DOUBLE_EQ(shared->sites[0].storage_rtt_ms, 40);
  const placement::Problem problem = ProblemOf(*shared);
  EXPECT_TRUE(problem.vms[0].disk_shared);
  EXPECT_EQ(problem.vms[0].disk_bytes, 0);
  EXPECT_DOUBLE_EQ(problem.vms[0].disk_write_rate_bytes_s, 2e6);
  EXPECT_DOUBLE_EQ(problem.sites[0].storage_rtt_s, 0.040);
  EXPECT_FALSE(problem.vms[0].postcopy_allowed);  // off unless the operator allows it

  Result<ServiceConfig> postcopy = ParseConfig(
      Replace(kGood, "downtime_budget_ms = 300", "downtime_budget_ms = 300\npostcopy = true"),
      "g.toml");
  ASSERT_TRUE(postcopy.ok()) << postcopy.error();
  EXPECT_TRUE(postcopy->vms[0].postcopy);
  EXPECT_TRUE(ProblemOf(*postcopy).vms[0].postcopy_allowed);
}

TEST(ConfigTest, AMalformedTableHeaderIsAnErrorInEveryBuildType) {
  // toml++ 3.3 asserted on this (fuzz_config_toml found it) unless built with NDEBUG.
  Result<ServiceConfig> c = ParseConfig("[service]\ntoken = 2\n[{ites.weather_feed]\n", "g.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().find("g.toml: line 3"), std::string::npos) << c.error();
  EXPECT_NE(c.error().find("saw '{'"), std::string::npos) << c.error();
}

TEST(ConfigTest, ReadsAReplay) {
  std::string text = Replace(kGood, "mode = \"auto\"",
                             "mode = \"auto\"\nreplay_start = \"2022-06-21T00:00:00Z\"\n"
                             "replay_speed = 480");
  text = Replace(text, "kind = \"push\"", "kind = \"replay\"\naddress = \"pv.csv\"");
  Result<ServiceConfig> c = ParseConfig(text, "/etc/gs/g.toml");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->replay_start_utc_s, 1655769600);
  EXPECT_DOUBLE_EQ(c->replay_speed, 480);
  EXPECT_EQ(c->sites[0].sensors[0].address, "/etc/gs/pv.csv");
  EXPECT_EQ(c->sites[0].sensors[0].column, "power_w");
}

// A [[links]] table between the two sites of kGood, put before its hosts.
std::string WithLink(const std::string& link) {
  return Replace(kGood, "[[hosts]]", "[[links]]\n" + link + "\n[[hosts]]");
}

TEST(ConfigTest, LinksBetweenSites) {
  Result<ServiceConfig> none = ParseConfig(kGood, "g.toml");
  ASSERT_TRUE(none.ok()) << none.error();
  EXPECT_TRUE(none->links.empty());
  EXPECT_EQ(none->FindLink("frankfurt", "london"), nullptr);
  EXPECT_DOUBLE_EQ(none->stream_window_mib, 4);

  Result<ServiceConfig> c = ParseConfig(
      WithLink("a = \"london\"\nb = \"frankfurt\"\nmbit = 100\nrtt_ms = 40\nnetwork = \"bgp\""),
      "g.toml");
  ASSERT_TRUE(c.ok()) << c.error();
  ASSERT_EQ(c->links.size(), 1u);
  // Both ways round.
  const LinkConfig* link = c->FindLink("frankfurt", "london");
  ASSERT_NE(link, nullptr);
  EXPECT_EQ(link, c->FindLink("london", "frankfurt"));
  EXPECT_DOUBLE_EQ(link->mbit, 100);
  EXPECT_DOUBLE_EQ(link->rtt_ms, 40);
  EXPECT_EQ(link->network, "bgp");

  // Left out: the service's link_mbit, no round trip, one segment.
  Result<ServiceConfig> plain =
      ParseConfig(Replace(WithLink("a = \"london\"\nb = \"frankfurt\""), "period_s = 30",
                          "period_s = 30\nlink_mbit = 250"),
                  "g.toml");
  ASSERT_TRUE(plain.ok()) << plain.error();
  EXPECT_DOUBLE_EQ(plain->links[0].mbit, 250);
  EXPECT_DOUBLE_EQ(plain->links[0].rtt_ms, 0);
  EXPECT_EQ(plain->links[0].network, "l2");

  // The planner's problem: the link both ways, other pairs (none here) at link_mbit.
  const placement::Problem problem = ProblemOf(*c);
  ASSERT_EQ(problem.sites.size(), 2u);
  EXPECT_DOUBLE_EQ(problem.LinkBetween(0, 1).bandwidth_bytes_s, 100e6 / 8);
  EXPECT_DOUBLE_EQ(problem.LinkBetween(1, 0).rtt_s, 0.040);
  EXPECT_DOUBLE_EQ(problem.stream_window_bytes, 4 << 20);
}

// An array faces the equator unless told otherwise; one told to face the pole is kept, and said.
TEST(ConfigTest, PvFacesTheEquatorByDefaultAndThePoleIsWarnedOf) {
  Result<ServiceConfig> north = ParseConfig(kGood, "g.toml");
  ASSERT_TRUE(north.ok()) << north.error();
  EXPECT_DOUBLE_EQ(north->sites[0].pv_azimuth_deg, 180);
  EXPECT_TRUE(north->warnings.empty());
  Result<ServiceConfig> south =
      ParseConfig(Replace(kGood, "latitude = 50.1", "latitude = -33.9"), "g.toml");
  ASSERT_TRUE(south.ok()) << south.error();
  EXPECT_DOUBLE_EQ(south->sites[0].pv_azimuth_deg, 0);  // Cape Town's arrays face north
  EXPECT_TRUE(south->warnings.empty());
  Result<ServiceConfig> wrong = ParseConfig(
      Replace(kGood, "latitude = 50.1", "latitude = -33.9\npv_azimuth = 180"), "g.toml");
  ASSERT_TRUE(wrong.ok()) << wrong.error();
  EXPECT_DOUBLE_EQ(wrong->sites[0].pv_azimuth_deg, 180);
  ASSERT_EQ(wrong->warnings.size(), 1u);
  EXPECT_EQ(wrong->warnings[0],
            "sites[0].pv_azimuth: 180 faces the pole at latitude -33.9 (the equator is at 0); if "
            "the array really faces away from the sun, ignore this");
  // East and west are not the pole; a site without PV has no array to face anywhere.
  Result<ServiceConfig> east =
      ParseConfig(Replace(kGood, "pv_kwp = 8", "pv_kwp = 8\npv_azimuth = 90"), "g.toml");
  ASSERT_TRUE(east.ok()) << east.error();
  EXPECT_TRUE(east->warnings.empty());
  Result<ServiceConfig> no_pv =  // london has no PV
      ParseConfig(Replace(kGood, "latitude = 51.5", "latitude = 51.5\npv_azimuth = 0"), "g.toml");
  ASSERT_TRUE(no_pv.ok()) << no_pv.error();
  EXPECT_TRUE(no_pv->warnings.empty());
}

TEST(ConfigTest, LibvirtHostsSayWhichDirectoriesTheyShare) {
  Result<ServiceConfig> c =
      ParseConfig(Replace(kGood, "driver = \"qemu\"\naddress = \"a\"",
                          "driver = \"libvirt\"\naddress = \"qemu+tls://fra1.example/system\"\n"
                          "shared_paths = [\"/srv/nfs/vms\", \"/mnt/gfs2/\"]"),
                  "g.toml");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->hosts[0].shared_paths, (std::vector<std::string>{"/srv/nfs/vms", "/mnt/gfs2/"}));
  Result<ServiceConfig> none =
      ParseConfig(Replace(kGood, "driver = \"qemu\"\naddress = \"a\"",
                          "driver = \"libvirt\"\naddress = \"qemu+tls://fra1.example/system\""),
                  "g.toml");
  ASSERT_TRUE(none.ok()) << none.error();
  EXPECT_TRUE(none->hosts[0].shared_paths.empty());  // every file disk is copied
}

TEST(ConfigTest, HostileLinksAreRefusedNamingTheKey) {
  const std::pair<std::string, std::string> cases[] = {
      {"a = \"london\"\nb = \"paris\"", "key 'links[0].b': no site is named 'paris'"},
      {"a = \"\"\nb = \"london\"", "key 'links[0].a': no site is named ''"},
      {"b = \"london\"", "key 'links[0].a': is required"},
      {"a = \"london\"\nb = \"london\"", "key 'links[0].b': a link joins two different sites"},
      {"a = \"london\"\nb = \"frankfurt\"\n[[links]]\na = \"frankfurt\"\nb = \"london\"",
       "key 'links[1].b': the link between 'frankfurt' and 'london' is defined twice"},
      {"a = \"london\"\nb = \"frankfurt\"\nnetwork = \"gre\"",
       "key 'links[0].network': must be \"l2\", \"bgp\" or \"vxlan\", got \"gre\""},
      {"a = \"london\"\nb = \"frankfurt\"\nnetwork = 3",
       "key 'links[0].network': must be a string"},
      {"a = \"london\"\nb = \"frankfurt\"\nrtt_ms = -1", "key 'links[0].rtt_ms'"},
      {"a = \"london\"\nb = \"frankfurt\"\nrtt_ms = nan", "key 'links[0].rtt_ms'"},
      {"a = \"london\"\nb = \"frankfurt\"\nrtt_ms = inf", "key 'links[0].rtt_ms'"},
      {"a = \"london\"\nb = \"frankfurt\"\nmbit = 0", "key 'links[0].mbit'"},
      {"a = \"london\"\nb = \"frankfurt\"\ndelay_ms = 20", "key 'links[0].delay_ms': unknown key"},
  };
  for (const auto& [link, expect] : cases) {
    Result<ServiceConfig> r = ParseConfig(WithLink(link), "g.toml");
    ASSERT_FALSE(r.ok()) << link;
    EXPECT_NE(r.error().find(expect), std::string::npos) << r.error();
  }
  Result<ServiceConfig> window = ParseConfig(
      Replace(kGood, "period_s = 30", "period_s = 30\nstream_window_mib = 0"), "g.toml");
  ASSERT_FALSE(window.ok());
  EXPECT_NE(window.error().find("key 'service.stream_window_mib'"), std::string::npos)
      << window.error();
}

TEST(ConfigTest, ErrorsNameTheKey) {
  struct Case {
    std::string from, to, expect;
  };
  const Case cases[] = {
      {"mode = \"auto\"", "mode = \"yolo\"", "key 'service.mode': 'yolo' is not one of"},
      {"capacity_kw = 5\npv_kwp", "capacity_kw = -5\npv_kwp", "key 'sites[0].capacity_kw'"},
      {"pv_kwp = 8", "pv_kwp = 8\npv_kwq = 3", "key 'sites[0].pv_kwq': unknown key"},
      {"site = \"frankfurt\"", "site = \"paris\"", "key 'hosts[0].site': no site is named 'paris'"},
      {"host = \"fra1\"", "host = \"nowhere\"", "key 'vms[0].host'"},
      {"token = \"0123456789abcdef-secret\"", "token = \"short\"", "key 'service.token'"},
      {"name = \"greedy-forecast\"", "name = \"random\"", "key 'policy.name': unknown policy"},
      {"kind = \"push\"", "kind = \"mqtt\"", "key 'sites[0].sensors[0].address': is required"},
      {"latitude = 50.1", "latitude = \"north\"", "key 'sites[0].latitude': must be a number"},
      {"address = \"a\"", "address = \"\"", "key 'hosts[0].address': is required for a qemu"},
      {"driver = \"qemu\"", "driver = \"qemu\"\npeer_uri = \"qemu+tcp://x/system\"",
       "key 'hosts[0].peer_uri': is for libvirt hosts, not qemu ones"},
      {"driver = \"qemu\"", "driver = \"qemu\"\nshared_paths = [\"/srv/nfs\"]",
       "key 'hosts[0].shared_paths': is for libvirt hosts, not qemu ones"},
      {"driver = \"qemu\"\naddress = \"a\"",
       "driver = \"libvirt\"\naddress = \"qemu+tcp://a/system\"\nshared_paths = \"/srv\"",
       "key 'hosts[0].shared_paths': must be an array of strings"},
      {"driver = \"qemu\"\naddress = \"a\"",
       "driver = \"libvirt\"\naddress = \"qemu+tcp://a/system\"\nshared_paths = [\"/srv\", 3]",
       "key 'hosts[0].shared_paths': must be an array of strings"},
      {"driver = \"qemu\"\naddress = \"a\"",
       "driver = \"libvirt\"\naddress = \"qemu+tcp://a/system\"\nshared_paths = [\"srv/nfs\"]",
       "key 'hosts[0].shared_paths': 'srv/nfs' is not an absolute path"},
      {"driver = \"qemu\"\naddress = \"a\"",
       "driver = \"libvirt\"\naddress = \"qemu+tcp://a/system\"\nshared_paths = "
       "[\"/srv/nfs/../etc\"]",
       "key 'hosts[0].shared_paths': '/srv/nfs/../etc' is not an absolute path without . or .."},
      {"driver = \"qemu\"\naddress = \"a\"",
       "driver = \"libvirt\"\naddress = \"qemu+tcp://a/system\"\nshared_paths = [\"/srv/.\"]",
       "key 'hosts[0].shared_paths': '/srv/.' is not an absolute path without . or .."},
      {"driver = \"qemu\"\naddress = \"a\"",
       "driver = \"libvirt\"\naddress = \"qemu+tcp://a/system\"\nshared_paths = [\"/..\"]",
       "key 'hosts[0].shared_paths': '/..' is not an absolute path without . or .."},
      {"driver = \"qemu\"\naddress = \"a\"",
       "driver = \"libvirt\"\naddress = \"qemu+tcp://a/system\"\nshared_paths = [\"\"]",
       "key 'hosts[0].shared_paths': '' is not an absolute path"},
      {"driver = \"qemu\"", "driver = \"xen\"",
       "key 'hosts[0].driver': 'xen' is not one of qemu, sim, libvirt"},
      {"address = \"198.18.128.10/16\"", "power_w = 5", "key 'vms[0].address': is required"},
      {"memory_mib = 256", "memory_mib = 256\npeak_w = 50\npower_w = 60", "key 'vms[0].power_w'"},
      {"mode = \"auto\"", "mode = \"auto\"\nreplay_start = \"2022-06-21 12:00\"",
       "key 'service.replay_start'"},
      {"mode = \"auto\"", "mode = \"auto\"\nreplay_speed = 100",
       "key 'service.replay_speed': needs replay_start"},
      {"mode = \"auto\"", "mode = \"auto\"\ndirty_rate_sample_s = 1.5",
       "key 'service.dirty_rate_sample_s': must be a whole number"},
      {"mode = \"auto\"", "mode = \"auto\"\ndirty_rate_sample_s = 61",
       "key 'service.dirty_rate_sample_s'"},
      {"mode = \"auto\"", "mode = \"auto\"\ndirty_rate_sample_s = -1",
       "key 'service.dirty_rate_sample_s'"},
      {"kind = \"push\"", "kind = \"replay\"", "key 'sites[0].sensors[0].address': is required"},
      {"address = \"a\"", "address = \"a\"\nmemory_mib = 8", "key 'hosts[0].memory_mib': must be"},
      {"address = \"a\"", "address = \"a\"\nmemory_mib = 128",
       "key 'vms[0].memory_mib': is 256, more than its host 'fra1' has (128)"},
      {"address = \"a\"",
       "address = \"a\"\nmemory_mib = 4096\n[[hosts]]\nname = \"fra2\"\nsite = "
       "\"frankfurt\"\ndriver = \"qemu\"\naddress = \"b\"",
       "key 'hosts[1].memory_mib': is missing but host 'fra1' of the same site has one: give "
       "every host of site 'frankfurt' its memory, or none"},
      {"downtime_budget_ms = 300", "downtime_budget_ms = 300\ndisk_write_mb_s = 5",
       "key 'vms[0].disk_write_mb_s': needs a disk (disk_gib)"},
      {"downtime_budget_ms = 300", "downtime_budget_ms = 300\ndisk_gib = 1.5",
       "key 'vms[0].disk_gib': must be a whole number"},
      {"downtime_budget_ms = 300", "downtime_budget_ms = 300\ndisk_gib = 10\ndisk_used_gib = 11",
       "key 'vms[0].disk_used_gib'"},
      {"downtime_budget_ms = 300", "downtime_budget_ms = 300\ndisk_gib = 10\nstorage = \"ceph\"",
       "key 'vms[0].storage': must be \"copy\" (the disk lives on the VM's host and moves with "
       "it), or \"nbd\", \"iscsi\" or \"nfs\" (shared storage), got \"ceph\""},
      {"downtime_budget_ms = 300", "downtime_budget_ms = 300\nstorage = \"iscsi\"",
       "key 'vms[0].storage': is iscsi but the VM has no disk (disk_gib)"},
      {"downtime_budget_ms = 300", "downtime_budget_ms = 300\npostcopy = \"yes\"",
       "key 'vms[0].postcopy'"},
      {"latitude = 50.1", "latitude = 50.1\nstorage_rtt_ms = -1", "key 'sites[0].storage_rtt_ms'"},
      {"downtime_budget_ms = 300", "downtime_budget_ms = 300\ndisk_gib = -1",
       "key 'vms[0].disk_gib'"},
      {"horizon_hours = 2", "horizon_hours = 2\noptimal_max_steps = 2.5",
       "key 'policy.optimal_max_steps': must be a whole number"},
      {"horizon_hours = 2", "horizon_hours = 2\noptimal_max_nodes = -1",
       "key 'policy.optimal_max_nodes'"},
      {"horizon_hours = 2", "horizon_hours = 2\noptimal_max_rounds = \"50\"",
       "key 'policy.optimal_max_rounds': must be a number"},
      {"horizon_hours = 2", "horizon_hours = 2\ngreen_margin_fraction = 1",
       "key 'policy.green_margin_fraction'"},
      {"name = \"london\"", "name = \"frankfurt\"",
       "key 'sites[1].name': site 'frankfurt' is "
       "defined twice"},
  };
  for (const Case& c : cases) {
    Result<ServiceConfig> r = ParseConfig(Replace(kGood, c.from, c.to), "g.toml");
    ASSERT_FALSE(r.ok()) << c.to;
    EXPECT_NE(r.error().find(c.expect), std::string::npos) << r.error();
    EXPECT_EQ(r.error().rfind("g.toml: ", 0), 0u) << r.error();
  }
}

TEST(ConfigTest, TheTokenComesFromTheFileAFileOfItsOwnOrTheEnvironment) {
  char dir[] = "/tmp/gs-config-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string base =
      "[[sites]]\nname = \"a\"\nlatitude = 0\nlongitude = 0\ncapacity_kw = 1\n";
  const std::string file = std::string(dir) + "/g.toml";
  // A token file: read, trimmed; refused while others may read it.
  const std::string token_path = std::string(dir) + "/token";
  { std::ofstream(token_path) << "  7f3a9c2e51b84d06a1e2c3b4d5e6f708\n"; }
  ::chmod(token_path.c_str(), 0644);
  Result<ServiceConfig> open_file = ParseConfig("[service]\ntoken_file = \"token\"\n" + base, file);
  ASSERT_FALSE(open_file.ok());
  EXPECT_NE(open_file.error().find("chmod 600"), std::string::npos) << open_file.error();
  ::chmod(token_path.c_str(), 0600);
  Result<ServiceConfig> from_file = ParseConfig("[service]\ntoken_file = \"token\"\n" + base, file);
  ASSERT_TRUE(from_file.ok()) << from_file.error();
  EXPECT_EQ(from_file->token, "7f3a9c2e51b84d06a1e2c3b4d5e6f708");
  EXPECT_EQ(from_file->token_source, "token_file " + token_path);
  // Both in the file and in a file: which one was meant?
  EXPECT_FALSE(
      ParseConfig(
          "[service]\ntoken = \"7f3a9c2e51b84d06a1e2c3b4\"\ntoken_file = \"token\"\n" + base, file)
          .ok());
  // The environment, when the file says nothing.
  ::setenv("GREENSHIFT_TOKEN", "0b1c2d3e4f5a6b7c8d9e", 1);
  Result<ServiceConfig> from_env = ParseConfig(base, file);
  ASSERT_TRUE(from_env.ok()) << from_env.error();
  EXPECT_EQ(from_env->token, "0b1c2d3e4f5a6b7c8d9e");
  // Placeholders and blanks are refused, wherever they come from.
  for (const char* bad : {"change-me-to-a-long-random-secret", "aaaaaaaaaaaaaaaaaaaa",
                          "your-token-goes-here-please", "                    "}) {
    ::setenv("GREENSHIFT_TOKEN", bad, 1);
    Result<ServiceConfig> refused = ParseConfig(base, file);
    EXPECT_FALSE(refused.ok()) << bad;
  }
  ::unsetenv("GREENSHIFT_TOKEN");
  Result<ServiceConfig> none = ParseConfig(base, file);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().find("GREENSHIFT_TOKEN"), std::string::npos) << none.error();
  std::filesystem::remove_all(dir);
}

TEST(ConfigTest, TlsNeedsBothCertificateAndKey) {
  const std::string base =
      "[service]\ntoken = \"0123456789abcdef-secret\"\n%s\n[[sites]]\nname = \"a\"\n"
      "latitude = 0\nlongitude = 0\ncapacity_kw = 1\n";
  auto with = [&](const std::string& lines) {
    std::string text = base;
    text.replace(text.find("%s"), 2, lines);
    return ParseConfig(text, "/etc/gs/g.toml");
  };
  Result<ServiceConfig> only_cert = with("tls_cert = \"cert.pem\"");
  ASSERT_FALSE(only_cert.ok());
  EXPECT_NE(only_cert.error().find("tls_key"), std::string::npos) << only_cert.error();
  Result<ServiceConfig> both = with("tls_cert = \"cert.pem\"\ntls_key = \"key.pem\"");
  ASSERT_TRUE(both.ok()) << both.error();
  EXPECT_EQ(both->tls_cert, "/etc/gs/cert.pem");
  EXPECT_EQ(both->tls_key, "/etc/gs/key.pem");
}

// Debian's toml++ 3.3.0 reaches undefined behaviour on characters beyond ASCII in several places
// (found by fuzz_config_toml): the config is ASCII outside its comments, checked first.
TEST(ConfigTest, CharactersBeyondAsciiOnlyInComments) {
  const std::string base =
      "[service]\ntoken = \"0123456789abcdef-secret\"  # \xc3\xa9t\xc3\xa9, 20 \xc2\xb0"
      "C\n"
      "[[sites]]\nname = \"a\"\nlatitude = 0\nlongitude = 0\ncapacity_kw = 1\n";
  EXPECT_TRUE(ParseConfig(base, "g.toml").ok());
  for (const std::string& crash :
       {std::string("\xef\xba\xbf"
                    "2=ta\n"),
        std::string("\"\"\"\\\"\\\xc5\x99\"m"), std::string("a =4ta\\0_\\;\"\\(\xef\xbb\xbe"),
        std::string("weather = \"M\xc3\xbcnchen.json\"\n")}) {
    Result<ServiceConfig> r = ParseConfig(base + crash, "g.toml");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().find("g.toml: line 8"), std::string::npos) << r.error();
    EXPECT_NE(r.error().find("beyond ASCII"), std::string::npos) << r.error();
  }
}

TEST(ConfigTest, SyntaxErrorsGiveTheLine) {
  Result<ServiceConfig> r = ParseConfig("[service]\ntoken = \"unterminated\n", "g.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("g.toml: line 2"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace greenshift::control

namespace greenshift::control {
namespace {

TEST(ConfigTest, TheShippedExampleIsValid) {
  // It takes its token from the environment, as the README says.
  ::setenv("GREENSHIFT_TOKEN", "d41d8cd98f00b204e9800998ecf8427e", 1);
  Result<ServiceConfig> c =
      LoadConfig(std::string(GREENSHIFT_SOURCE_DIR) + "/config/greenshift.example.toml");
  ::unsetenv("GREENSHIFT_TOKEN");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->token_source, "GREENSHIFT_TOKEN");
  EXPECT_EQ(c->sites.size(), 3u);
  EXPECT_EQ(c->mode, Mode::kDryRun);
  EXPECT_EQ(c->listen, "127.0.0.1");
}

}  // namespace
}  // namespace greenshift::control
