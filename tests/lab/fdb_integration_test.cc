// FdbSocket against the kernel's bridge, in a network namespace of the test's own (root needed;
// CI runs as root): what it writes is what `bridge fdb show` reads back.
#include "lab/fdb.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "core/process.h"

namespace greenshift::lab {
namespace {

// A namespace of this process's own: ctest may run the tests side by side.
const std::string kNetns = "gsfdb-test-" + std::to_string(getpid());
constexpr const char* kMac = "52:54:00:12:34:56";

std::string Run(const std::vector<std::string>& argv) {
  Result<CommandOutput> out = RunCommand(argv);
  return out.ok() ? out->stdout_text : "";
}

// The bridge's entries for kMac, as `bridge fdb show` prints them.
std::string EntriesOfMac() {
  std::string lines;
  const std::string all =
      Run({"ip", "netns", "exec", kNetns, "bridge", "fdb", "show", "br", "br0"});
  size_t start = 0;
  while (start < all.size()) {
    size_t end = all.find('\n', start);
    if (end == std::string::npos) end = all.size();
    const std::string line = all.substr(start, end - start);
    if (line.rfind(kMac, 0) == 0) lines += line + "\n";
    start = end + 1;
  }
  return lines;
}

class FdbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "needs root (network namespaces)";
    (void)RunCommand({"ip", "netns", "del", kNetns});
    for (const std::vector<std::string>& argv : std::vector<std::vector<std::string>>{
             {"ip", "netns", "add", kNetns},
             {"ip", "-n", kNetns, "link", "add", "br0", "type", "bridge"},
             {"ip", "-n", kNetns, "link", "add", "p0", "type", "veth", "peer", "name", "q0"},
             {"ip", "-n", kNetns, "link", "add", "p1", "type", "veth", "peer", "name", "q1"},
             {"ip", "-n", kNetns, "link", "set", "p0", "master", "br0", "up"},
             {"ip", "-n", kNetns, "link", "set", "p1", "master", "br0", "up"},
             {"ip", "-n", kNetns, "link", "set", "br0", "up"}})
      ASSERT_TRUE(RunChecked(argv).ok()) << argv[3];
  }
  void TearDown() override { (void)RunCommand({"ip", "netns", "del", kNetns}); }
};

TEST_F(FdbTest, WritesWhatTheBridgeReadsBack) {
  Result<FdbSocket> fdb = FdbSocket::Open(kNetns);
  ASSERT_TRUE(fdb.ok()) << fdb.error();
  Result<int> p0 = fdb->IfIndex("p0");
  Result<int> p1 = fdb->IfIndex("p1");
  ASSERT_TRUE(p0.ok() && p1.ok());
  EXPECT_NE(*p0, *p1);

  ASSERT_TRUE(fdb->Replace(*p0, kMac).ok());
  EXPECT_EQ(EntriesOfMac(), std::string(kMac) + " dev p0 master br0 static\n");
  // Replacing moves the MAC to the other port: one entry, never two.
  ASSERT_TRUE(fdb->Replace(*p1, kMac).ok());
  EXPECT_EQ(EntriesOfMac(), std::string(kMac) + " dev p1 master br0 static\n");

  // Deleting on the wrong port leaves it; on its port removes it; again is NotFound.
  EXPECT_TRUE(fdb->Delete(*p0, kMac).IsNotFound());
  EXPECT_NE(EntriesOfMac(), "");
  ASSERT_TRUE(fdb->Delete(*p1, kMac).ok());
  EXPECT_EQ(EntriesOfMac(), "");
  Status again = fdb->Delete(*p1, kMac);
  EXPECT_TRUE(again.IsNotFound()) << again.message();
}

TEST_F(FdbTest, RefusesWhatIsNotThere) {
  Result<FdbSocket> fdb = FdbSocket::Open(kNetns);
  ASSERT_TRUE(fdb.ok()) << fdb.error();
  Result<int> missing = fdb->IfIndex("nope0");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.status().IsNotFound());
  EXPECT_NE(missing.error().find("nope0"), std::string::npos) << missing.error();
  Result<int> p0 = fdb->IfIndex("p0");
  ASSERT_TRUE(p0.ok());
  for (const std::string bad :
       {"52:54:00:12:34", "52:54:00:12:34:5g", "52:54:00:12:34:56:78", ""}) {
    Status refused = fdb->Replace(*p0, bad);
    EXPECT_TRUE(refused.IsInvalid()) << "'" << bad << "': " << refused.message();
  }
  // A port that is no bridge port: the kernel's refusal, said.
  Result<int> lo = fdb->IfIndex("lo");
  ASSERT_TRUE(lo.ok());
  Status not_a_port = fdb->Replace(*lo, kMac);
  EXPECT_FALSE(not_a_port.ok());
  EXPECT_NE(not_a_port.message().find(kMac), std::string::npos) << not_a_port.message();

  Result<FdbSocket> nowhere = FdbSocket::Open("gsfdb-none");
  ASSERT_FALSE(nowhere.ok());
  EXPECT_NE(nowhere.error().find("gsfdb-none"), std::string::npos) << nowhere.error();
}

}  // namespace
}  // namespace greenshift::lab
