// One conformance suite for every driver: the same tests against `sim`, `qemu` (QEMU guests in a
// lab of its own), `libvirt` (a libvirt daemon per site of a lab of its own) and libvirt's
// `test:///default` (no daemon, no migrations: the listing and lifecycle parts). A test of
// something a driver may lack is skipped by the driver's capability, never by its name.
//
// Run one driver at a time: driver_conformance_tests --gtest_filter='*/qemu' (the lab drivers
// need root and the guest image; ctest runs each driver as its own test).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "core/files.h"
#include "core/process.h"
#include "hypervisor/libvirt/libvirt_driver.h"
#include "hypervisor/qemu/qemu_driver.h"
#include "hypervisor/sim/sim_driver.h"
#include "lab/experiment.h"
#include "lab/guest.h"
#include "lab/lab.h"
#include "lab/lab_driver.h"
#include "lab/libvirt_hosts.h"

namespace greenshift::hypervisor {
namespace {

using std::chrono::milliseconds;

// What the suite needs besides the driver: how to make a VM (the creator's business), and the
// means to break things.
class Bed {
 public:
  virtual ~Bed() = default;
  virtual Driver& driver() = 0;
  virtual std::vector<std::string> hosts() const = 0;
  // Starts a VM through the driver's creator (the lab's guest, a sim record); returns once it
  // runs.
  virtual Status Start(const std::string& vm, const std::string& host) = 0;
  // The same, the guest rewriting `mib` MiB of its memory at `mb_s` MB/s, one word a page (the
  // lab's dirtier), from the moment it runs.
  virtual Status StartDirty(const std::string&, const std::string&, double, int) {
    return Status::Invalid("this bed has no guest that writes its memory");
  }
  // Starts a VM behind the driver's back (another client of the hypervisor), for `adopt`.
  virtual Status StartElsewhere(const std::string&, const std::string&) {
    return Status::Invalid("no other client of this hypervisor");
  }
  // Breaks, or mends, the path between the first two hosts.
  virtual Status BreakLink(bool broken) = 0;
  // Kills the destination's hypervisor process of a migration that runs (false: none to kill).
  virtual bool KillDestination(const std::string&, const std::string&) { return false; }
  // A command that migrates `vm` to `to` as a separate process (empty: none).
  virtual std::vector<std::string> MigrateCommand(const std::string&, const std::string&) {
    return {};
  }
  // Options under which a migration takes several seconds (time to cancel, kill, break).
  virtual MigrationOptions Slow() {
    MigrationOptions options;
    options.max_bandwidth_bytes_s = 4 << 20;
    return options;
  }
  // Limits the link between the first two hosts (0: no limit), for a caller killed mid-way.
  virtual Status LimitLink(int) { return Status::Ok(); }
  virtual bool migrates() const { return true; }
  // The VM answers its service (the lab's guest over HTTP); true where there is none to ask.
  virtual bool Answers(const std::string&) { return true; }
};

class SimBed : public Bed {
 public:
  SimBed() {
    SimDriverConfig config;
    config.hosts = {"h1", "h2"};
    config.speed = 10;  // 256 MiB at 125 MB/s: 0.2 s; at the slow 4 MiB/s: 6 s
    driver_ = std::make_unique<SimDriver>(config);
  }
  Driver& driver() override { return *driver_; }
  std::vector<std::string> hosts() const override { return {"h1", "h2"}; }
  Status Start(const std::string& vm, const std::string& host) override {
    SimVm v;
    v.spec.name = vm;
    v.resent_wire_fraction = 0.3;  // pages sent again encode as the lab's dirty guest's do
    return driver_->StartVm(v, host);
  }
  Status StartDirty(const std::string& vm, const std::string& host, double mb_s, int mib) override {
    SimVm v;
    v.spec.name = vm;
    v.dirty_mb_s = mb_s;
    v.working_set_mib = mib;
    v.resent_wire_fraction = 0.3;
    return driver_->StartVm(v, host);
  }
  Status BreakLink(bool broken) override {
    driver_->FailMigrations(broken);
    return Status::Ok();
  }

 private:
  std::unique_ptr<SimDriver> driver_;
};

// A lab of the suite's own, under qemu or libvirt.
class LabBed : public Bed {
 public:
  explicit LabBed(const std::string& hypervisor) {
    config_.name = hypervisor == "qemu" ? "cf-q" : "cf-l";
    config_.site_names = {"a", "b"};
    config_.hypervisor = hypervisor;
    const char* guest = std::getenv("GREENSHIFT_GUEST_DIR");
    guest_dir_ = guest != nullptr ? guest : "";
    (void)lab::LabDown(config_);
    Result<lab::LabState> state = lab::LabUp(config_);
    if (!state.ok()) {
      error_ = state.error();
      return;
    }
    state_ = *state;
    lab_ = lab::OpenLabDriver(state_, guest_dir_, "tcg");
  }
  ~LabBed() override {
    lab_.driver.reset();
    (void)lab::LabDown(config_);
  }
  const std::string& error() const { return error_; }
  Driver& driver() override { return *lab_.driver; }
  std::vector<std::string> hosts() const override { return {"a", "b"}; }
  Status Start(const std::string& vm, const std::string& host) override {
    const lab::GuestSpec guest = NextGuest(vm);
    GS_RETURN_IF_ERROR(lab_.start(guest, host));
    return WaitUp(guest);
  }
  Status StartDirty(const std::string& vm, const std::string& host, double mb_s, int mib) override {
    lab::GuestSpec guest = NextGuest(vm);
    guest.dirty_mb_s = mb_s;
    guest.dirty_size_mib = mib;
    GS_RETURN_IF_ERROR(lab_.start(guest, host));
    return WaitUp(guest);
  }
  Status BreakLink(bool broken) override { return lab::SetLinkUp(config_, "a", "b", !broken); }
  Status LimitLink(int mbit) override { return lab::SetLink(config_, "a", "b", mbit, 0); }
  std::vector<std::string> MigrateCommand(const std::string& vm, const std::string& to) override {
    const char* binary = std::getenv("GREENSHIFT");
    if (binary == nullptr) return {};
    return {binary, "--lab", config_.name, "--guest-dir", guest_dir_, "migrate", vm, "--to", to};
  }
  bool Answers(const std::string& vm) override {
    return lab::WaitForGuest(state_, ips_[vm], std::chrono::seconds(10)).ok();
  }

 protected:
  // A 256 MiB lab guest at the next free address.
  lab::GuestSpec NextGuest(const std::string& vm) {
    lab::GuestSpec guest;
    guest.vm.name = vm;
    guest.vm.memory_mib = 256;
    guest.mac = lab::MacFor(config_.name, vm);
    guest.ip_cidr = "198.18.128." + std::to_string(10 + next_ip_++) + "/16";
    return guest;
  }
  // Until the started guest answers HTTP.
  Status WaitUp(const lab::GuestSpec& guest) {
    ips_[guest.vm.name] = lab::HostAddress(guest.ip_cidr);
    return lab::WaitForGuest(state_, ips_[guest.vm.name], std::chrono::seconds(90)).status();
  }

  lab::LabConfig config_;
  lab::LabState state_;
  lab::LabDriver lab_;
  std::string guest_dir_, error_;
  std::map<std::string, std::string> ips_;
  int next_ip_ = 0;
};

class QemuBed : public LabBed {
 public:
  QemuBed() : LabBed("qemu") {}
  bool KillDestination(const std::string& vm, const std::string& to) override {
    const int pid = lab_.qemu->InstancePid(vm, to);
    return pid > 0 && kill(pid, SIGKILL) == 0;
  }
};

class LibvirtBed : public LabBed {
 public:
  LibvirtBed() : LabBed("libvirt") {}
  bool KillDestination(const std::string& vm, const std::string& to) override {
    // The destination QEMU the daemon started: its pid file is in the site's /run/libvirt.
    Result<std::string> pid =
        ReadFile(state_.run_dir + "/libvirt/" + to + "/run/qemu/" + vm + ".pid");
    return pid.ok() && std::atoi(pid->c_str()) > 0 && kill(std::atoi(pid->c_str()), SIGKILL) == 0;
  }
  Status StartElsewhere(const std::string& vm, const std::string& host) override {
    // Through virsh, a client greenshift knows nothing of.
    const lab::GuestSpec guest = NextGuest(vm);
    const std::string xml_path = state_.run_dir + "/" + vm + ".xml";
    GS_RETURN_IF_ERROR(WriteFileAtomic(
        xml_path,
        lab::GuestDomainXml(guest, std::filesystem::absolute(guest_dir_).string(), "tcg", "br0")));
    const lab::LabSite* site = lab::FindSite(state_, host);
    if (site == nullptr) return Status::NotFound("no site " + host);
    GS_RETURN_IF_ERROR(
        RunChecked({"virsh", "-c", lab::LibvirtHostFor(state_, *site).uri, "create", xml_path}));
    return WaitUp(guest);
  }
};

// libvirt's test driver: domains in memory of the client itself; one host, no migrations.
class LibvirtTestBed : public Bed {
 public:
  LibvirtTestBed() {
    libvirt::LibvirtDriverConfig config;
    config.hosts = {{"t1", "test:///default", "", "", {}}};
    driver_ = std::make_unique<libvirt::LibvirtDriver>(config);
  }
  Driver& driver() override { return *driver_; }
  std::vector<std::string> hosts() const override { return {"t1"}; }
  Status Start(const std::string& vm, const std::string& host) override {
    return driver_->CreateDomain(host, "<domain type='test'><name>" + vm +
                                           "</name><memory unit='MiB'>256</memory><vcpu>1</vcpu>"
                                           "<metadata>" +
                                           libvirt::MetadataElement({{"made_by", "conformance"}}) +
                                           "</metadata><os><type>hvm</type></os></domain>");
  }
  Status BreakLink(bool) override { return Status::Invalid("one host"); }
  bool migrates() const override { return false; }

 private:
  std::unique_ptr<libvirt::LibvirtDriver> driver_;
};

// One bed per driver for the whole run (a lab takes seconds to build), torn down at the end.
std::map<std::string, std::unique_ptr<Bed>>& Beds() {
  static std::map<std::string, std::unique_ptr<Bed>> beds;
  return beds;
}

class BedsEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { Beds().clear(); }
};
const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new BedsEnvironment);

class DriverTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string& kind = GetParam();
    const bool lab = kind == "qemu" || kind == "libvirt";
    if (lab && !IsRoot()) GTEST_SKIP() << "the " << kind << " lab needs root";
    if (lab && std::getenv("GREENSHIFT_GUEST_DIR") == nullptr)
      FAIL() << "GREENSHIFT_GUEST_DIR is not set (the guest image; ctest sets it)";
    auto& bed = Beds()[kind];
    if (!bed) {
      if (kind == "sim") bed = std::make_unique<SimBed>();
      if (kind == "qemu") bed = std::make_unique<QemuBed>();
      if (kind == "libvirt") bed = std::make_unique<LibvirtBed>();
      if (kind == "libvirt-test") bed = std::make_unique<LibvirtTestBed>();
    }
    if (auto* lab_bed = dynamic_cast<LabBed*>(bed.get()); lab_bed && !lab_bed->error().empty())
      FAIL() << "the " << kind << " lab did not come up: " << lab_bed->error();
    bed_ = bed.get();
    caps_ = bed_->driver().GetCapabilities();
    vm_ = "c" + std::to_string(++counter_);
  }
  void TearDown() override {
    if (bed_ == nullptr) return;
    (void)bed_->BreakLink(false);
    (void)bed_->LimitLink(0);
    for (const std::string& vm : started_) (void)bed_->driver().StopVm(vm);
  }
  Status Start(const std::string& vm, const std::string& host) {
    started_.push_back(vm);
    return bed_->Start(vm, host);
  }
  Status StartDirty(const std::string& vm, const std::string& host, double mb_s, int mib) {
    started_.push_back(vm);
    return bed_->StartDirty(vm, host, mb_s, mib);
  }
  Driver& driver() { return bed_->driver(); }
  std::string A() { return bed_->hosts()[0]; }
  std::string B() { return bed_->hosts()[1]; }
  // The VM runs in exactly one place, `host`, and nowhere else.
  void ExpectRunsOnlyOn(const std::string& vm, const std::string& host) {
    Result<VmInfo> info = driver().GetVm(vm);
    ASSERT_TRUE(info.ok()) << info.error();
    EXPECT_EQ(info->host, host);
    EXPECT_EQ(info->state, VmState::kRunning) << VmStateName(info->state);
    EXPECT_EQ(info->copies, std::vector<std::string>{host});
    EXPECT_TRUE(bed_->Answers(vm)) << vm << " does not answer on " << host;
  }
  // Runs Migrate on a thread of its own.
  std::thread MigrateLater(const std::string& vm, const std::string& to, MigrationOptions options,
                           MigrationResult* out) {
    return std::thread(
        [this, vm, to, options, out] { *out = driver().Migrate(vm, to, options, nullptr); });
  }
  // Waits until the driver says `vm` is migrating.
  bool WaitMigrating(const std::string& vm) {
    for (int i = 0; i < 200; ++i) {
      Result<VmInfo> info = driver().GetVm(vm);
      if (info.ok() && info->state == VmState::kMigrating) return true;
      std::this_thread::sleep_for(milliseconds(50));
    }
    return false;
  }

  // Moves the VM (on A) slowly to B, cancels the move `after` it shows as migrating, and checks
  // that the cancel was taken and the move ended, cancelled, with the VM on A only.
  void ExpectCancelLeavesTheVmOnA(milliseconds after) {
    MigrationResult r;
    std::thread migration = MigrateLater(vm_, B(), bed_->Slow(), &r);
    const bool migrating = WaitMigrating(vm_);
    std::this_thread::sleep_for(after);
    Status cancelled = migrating ? driver().CancelMigration(vm_) : Status::Ok();
    migration.join();
    ASSERT_TRUE(migrating) << "the migration never showed as running";
    EXPECT_TRUE(cancelled.ok()) << cancelled.message();
    EXPECT_FALSE(r.completed);
    EXPECT_NE(r.error.find("cancel"), std::string::npos) << r.error;
    EXPECT_EQ(r.running_on, A());
    ExpectRunsOnlyOn(vm_, A());
  }

  Bed* bed_ = nullptr;
  Capabilities caps_;
  std::string vm_;
  std::vector<std::string> started_;
  static inline int counter_ = 0;
};

TEST_P(DriverTest, AStartedVmIsListedWhereItRunsWithItsMetadata) {
  ASSERT_TRUE(Start(vm_, A()).ok());
  Result<std::vector<VmInfo>> all = driver().ListVms();
  ASSERT_TRUE(all.ok()) << all.error();
  bool listed = false;
  for (const VmInfo& info : *all) {
    if (info.spec.name != vm_) continue;
    listed = true;
    EXPECT_EQ(info.host, A());
    EXPECT_EQ(info.state, VmState::kRunning);
    EXPECT_EQ(info.spec.memory_mib, 256);
    EXPECT_EQ(info.unanswered, "") << "a hypervisor that answers leaves nothing unanswered";
  }
  EXPECT_TRUE(listed);
  ExpectRunsOnlyOn(vm_, A());
  // Starting it again anywhere is a conflict, not a second VM.
  const std::string other = bed_->hosts().size() > 1 ? B() : A();
  Status again = bed_->Start(vm_, other);
  EXPECT_FALSE(again.ok());
  EXPECT_TRUE(again.IsConflict()) << again.message();
  ExpectRunsOnlyOn(vm_, A());
}

TEST_P(DriverTest, AnUnknownVmIsNotFoundAndNothingHappens) {
  EXPECT_TRUE(driver().GetVm("nosuchvm").status().IsNotFound());
  EXPECT_TRUE(driver().StopVm("nosuchvm").IsNotFound());
  if (!bed_->migrates()) return;
  MigrationResult r = driver().Migrate("nosuchvm", B(), MigrationOptions{}, nullptr);
  EXPECT_FALSE(r.completed);
  EXPECT_NE(r.error.find("no VM is named"), std::string::npos) << r.error;
}

TEST_P(DriverTest, AStoppedVmIsGone) {
  ASSERT_TRUE(Start(vm_, A()).ok());
  ASSERT_TRUE(driver().StopVm(vm_).ok());
  Result<VmInfo> info = driver().GetVm(vm_);
  EXPECT_TRUE(!info.ok() || info->state == VmState::kStopped);
}

TEST_P(DriverTest, ALiveMigrationMovesTheVmAndSaysHow) {
  if (!bed_->migrates() || !caps_.live_migration) GTEST_SKIP() << "no live migration";
  ASSERT_TRUE(Start(vm_, A()).ok());
  MigrationResult r = driver().Migrate(vm_, B(), MigrationOptions{}, nullptr);
  ASSERT_TRUE(r.completed) << r.error;
  EXPECT_EQ(r.from, A());
  EXPECT_EQ(r.to, B());
  EXPECT_EQ(r.running_on, B());
  EXPECT_GT(r.total_ms, 0);
  EXPECT_GE(r.downtime_ms, 0);
  EXPECT_LT(r.downtime_ms, 2000);
  ASSERT_FALSE(r.events.empty());
  EXPECT_EQ(r.events.back().detail, "completed");
  // What it found all zero of the memory (the cost model learns from it what the VM holds,
  // control/calibration.h): said by the real hypervisors (the sim models no page contents),
  // never more than the VM's 256 MiB, and with what was sent, all of it.
  const int64_t memory = int64_t{256} << 20;
  if (GetParam() == "qemu" || GetParam() == "libvirt") {
    EXPECT_GE(r.zero_bytes, 0);
  }
  if (r.zero_bytes >= 0) {
    EXPECT_LE(r.zero_bytes, memory);
    EXPECT_GE(r.zero_bytes + r.bytes, memory) << r.zero_bytes << " zero, " << r.bytes << " sent";
  }
  // What its pages sent again from the third pass on cost (the model learns that too): only a
  // driver that encodes them says (for a guest that rewrites its memory, tested below); what
  // they took is part of what was sent, and never more than the pages.
  if (!caps_.delta_encoding) {
    EXPECT_EQ(r.resent_page_bytes, -1);  // it sends pages whole
  }
  if (r.resent_page_bytes >= 0) {
    EXPECT_GE(r.resent_wire_bytes, 0);
    EXPECT_LE(r.resent_wire_bytes, r.resent_page_bytes);
    EXPECT_LE(r.resent_wire_bytes, r.bytes);
  }
  ExpectRunsOnlyOn(vm_, B());
  // And back.
  r = driver().Migrate(vm_, A(), MigrationOptions{}, nullptr);
  ASSERT_TRUE(r.completed) << r.error;
  ExpectRunsOnlyOn(vm_, A());
}

// A guest that keeps rewriting its memory has pages sent again in every pass from the third on.
// A driver that encodes them says what they took: less than the pages, since the lab's dirtier
// changes one word a page. How much less depends on which pages the cache still holds (QEMU's
// is direct-mapped): measured here 1-50 % of the pages' size under qemu, 28-61 % under libvirt.
TEST_P(DriverTest, PagesSentAgainAreEncodedWhereTheDriverSaysSo) {
  if (!bed_->migrates() || !caps_.live_migration || !caps_.delta_encoding)
    GTEST_SKIP() << "pages sent again go whole";
  ASSERT_TRUE(StartDirty(vm_, A(), 20, 64).ok());
  MigrationOptions options;
  options.max_bandwidth_bytes_s = 32 << 20;  // a pass of the 64 MiB takes 2 s: several passes
  MigrationResult r = driver().Migrate(vm_, B(), options, nullptr);
  ASSERT_TRUE(r.completed) << r.error;
  ASSERT_GT(r.passes, 3) << "too few passes to say anything";
  EXPECT_GT(r.resent_page_bytes, int64_t{8} << 20) << "the guest rewrote 20 MB/s";
  EXPECT_GE(r.resent_wire_bytes, 0);
  EXPECT_LE(r.resent_wire_bytes, r.bytes);
  const double fraction = ResentWireFraction(r);
  std::printf("%s: %d passes, %.1f MB sent, from the third pass %.1f MB of pages took %.1f MB\n",
              GetParam().c_str(), r.passes, r.bytes / 1e6, r.resent_page_bytes / 1e6,
              r.resent_wire_bytes / 1e6);
  EXPECT_GT(fraction, 0);
  EXPECT_LT(r.resent_wire_bytes, r.resent_page_bytes) << "no page sent again was encoded";
  ExpectRunsOnlyOn(vm_, B());
}

// The network follows the guest from these (the lab steers its frames at the pause): each
// called once, in order, from the migration's own events, before Migrate returns.
TEST_P(DriverTest, TheSwitchoverHooksRunOnceEachInOrder) {
  if (!bed_->migrates() || !caps_.live_migration || !caps_.switchover_hooks)
    GTEST_SKIP() << "no switchover hooks";
  ASSERT_TRUE(Start(vm_, A()).ok());
  std::mutex mutex;
  std::vector<std::string> calls;
  auto note = [&](const char* what) {
    return [&mutex, &calls, what] {
      std::lock_guard<std::mutex> lock(mutex);
      calls.push_back(what);
    };
  };
  MigrationOptions options;
  options.switchover.source_paused = note("source_paused");
  options.switchover.destination_running = note("destination_running");
  options.switchover.source_running_again = note("source_running_again");
  MigrationResult r = driver().Migrate(vm_, B(), options, nullptr);
  ASSERT_TRUE(r.completed) << r.error;
  {
    std::lock_guard<std::mutex> lock(mutex);
    EXPECT_EQ(calls, (std::vector<std::string>{"source_paused", "destination_running"}));
    calls.clear();
  }
  ExpectRunsOnlyOn(vm_, B());
  // A migration refused before it began pauses nothing.
  MigrationResult same = driver().Migrate(vm_, B(), options, nullptr);
  EXPECT_FALSE(same.completed);
  std::this_thread::sleep_for(milliseconds(200));  // an event that would trail the call
  std::lock_guard<std::mutex> lock(mutex);
  EXPECT_TRUE(calls.empty()) << calls.front();
}

TEST_P(DriverTest, AnOfflineMigrationPausesTheGuestForTheWholeCopy) {
  if (!bed_->migrates() || !caps_.offline_migration) GTEST_SKIP() << "no offline migration";
  ASSERT_TRUE(Start(vm_, A()).ok());
  MigrationOptions options;
  options.mode = MigrationMode::kOffline;
  MigrationResult r = driver().Migrate(vm_, B(), options, nullptr);
  ASSERT_TRUE(r.completed) << r.error;
  EXPECT_EQ(r.mode, MigrationMode::kOffline);
  ExpectRunsOnlyOn(vm_, B());
}

TEST_P(DriverTest, AMigrationToWhereItRunsOrToNowhereFailsAndTheVmStays) {
  if (!bed_->migrates()) GTEST_SKIP() << "no migrations";
  ASSERT_TRUE(Start(vm_, A()).ok());
  MigrationResult same = driver().Migrate(vm_, A(), MigrationOptions{}, nullptr);
  EXPECT_FALSE(same.completed);
  EXPECT_NE(same.error.find("already runs on"), std::string::npos) << same.error;
  MigrationResult nowhere = driver().Migrate(vm_, "nowhere", MigrationOptions{}, nullptr);
  EXPECT_FALSE(nowhere.completed);
  EXPECT_NE(nowhere.error.find("no host is named 'nowhere'"), std::string::npos) << nowhere.error;
  ExpectRunsOnlyOn(vm_, A());
}

TEST_P(DriverTest, ABrokenLinkFailsTheMigrationAndTheVmStaysOnItsSource) {
  if (!bed_->migrates()) GTEST_SKIP() << "no migrations";
  ASSERT_TRUE(Start(vm_, A()).ok());
  ASSERT_TRUE(bed_->BreakLink(true).ok());
  MigrationOptions options;
  options.timeout = std::chrono::seconds(20);
  MigrationResult r = driver().Migrate(vm_, B(), options, nullptr);
  ASSERT_TRUE(bed_->BreakLink(false).ok());
  EXPECT_FALSE(r.completed);
  EXPECT_FALSE(r.error.empty());
  EXPECT_EQ(r.running_on, A());
  ExpectRunsOnlyOn(vm_, A());
  // A later migration works.
  MigrationResult later = driver().Migrate(vm_, B(), MigrationOptions{}, nullptr);
  EXPECT_TRUE(later.completed) << later.error;
}

TEST_P(DriverTest, ACancelledMigrationLeavesTheVmOnItsSource) {
  if (!bed_->migrates() || !caps_.cancel || !caps_.bandwidth_limit)
    GTEST_SKIP() << "no cancel, or no way to make a migration last";
  ASSERT_TRUE(Start(vm_, A()).ok());
  ExpectCancelLeavesTheVmOnA(milliseconds(500));
  // The cancel flag of the options does the same, from the caller's side.
  MigrationResult r;
  std::atomic<bool> stop{false};
  MigrationOptions options = bed_->Slow();
  options.cancel_requested = &stop;
  std::thread second = MigrateLater(vm_, B(), options, &r);
  WaitMigrating(vm_);
  stop = true;
  second.join();
  EXPECT_FALSE(r.completed);
  ExpectRunsOnlyOn(vm_, A());
}

// A cancel as soon as the VM shows as migrating, while the driver still sets the move up (the
// destination's QEMU starting): QEMU's own migrate_cancel does nothing before its `migrate`, so
// a driver that only passed it on returned OK and the VM moved (seen on a slow CI machine, where
// the setup outlasted the test above's 500 ms).
TEST_P(DriverTest, ACancelDuringTheSetUpStillLeavesTheVmOnItsSource) {
  if (!bed_->migrates() || !caps_.cancel || !caps_.bandwidth_limit)
    GTEST_SKIP() << "no cancel, or no way to make a migration last";
  ASSERT_TRUE(Start(vm_, A()).ok());
  ExpectCancelLeavesTheVmOnA(milliseconds(0));
  // The cancel was this migration's only: the next one is not cancelled by it.
  MigrationResult later = driver().Migrate(vm_, B(), MigrationOptions{}, nullptr);
  EXPECT_TRUE(later.completed) << later.error;
  ExpectRunsOnlyOn(vm_, B());
}

TEST_P(DriverTest, ADeadDestinationFailsTheMigrationAndTheVmStaysOnItsSource) {
  if (!bed_->migrates() || !caps_.bandwidth_limit) GTEST_SKIP() << "no migrations to last";
  ASSERT_TRUE(Start(vm_, A()).ok());
  MigrationResult r;
  std::thread migration = MigrateLater(vm_, B(), bed_->Slow(), &r);
  WaitMigrating(vm_);
  std::this_thread::sleep_for(milliseconds(500));
  const bool killed = bed_->KillDestination(vm_, B());
  if (!killed) (void)driver().CancelMigration(vm_);  // nothing to kill: end it anyway
  migration.join();
  if (!killed) GTEST_SKIP() << "this driver's destination is no process to kill";
  EXPECT_FALSE(r.completed);
  EXPECT_FALSE(r.error.empty());
  EXPECT_EQ(r.running_on, A());
  ExpectRunsOnlyOn(vm_, A());
}

TEST_P(DriverTest, AMigrationWhoseCallerWasKilledIsSettledByRecover) {
  if (!bed_->migrates() || !caps_.recovery) GTEST_SKIP() << "no recovery";
  ASSERT_TRUE(Start(vm_, A()).ok());
  const std::vector<std::string> command = bed_->MigrateCommand(vm_, B());
  if (command.empty()) GTEST_SKIP() << "no separate caller to kill (GREENSHIFT not set)";
  ASSERT_TRUE(bed_->LimitLink(20).ok());  // 256 MiB at 20 Mbit/s: long enough to be killed
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::vector<char*> argv;
    for (const std::string& arg : command) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  const bool migrating = WaitMigrating(vm_);
  std::this_thread::sleep_for(milliseconds(1000));
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  ASSERT_TRUE(migrating);
  Result<VmInfo> settled = driver().Recover(vm_, std::chrono::seconds(2));
  ASSERT_TRUE(bed_->LimitLink(0).ok());
  ASSERT_TRUE(settled.ok()) << settled.error();
  EXPECT_EQ(settled->copies.size(), 1u);
  ExpectRunsOnlyOn(vm_, settled->host);
}

TEST_P(DriverTest, ItListsAndMovesAVmItDidNotStart) {
  if (!caps_.adopt) GTEST_SKIP() << "does not adopt VMs";
  Status started = bed_->StartElsewhere(vm_, A());
  started_.push_back(vm_);
  if (!started.ok() && started.IsInvalid()) GTEST_SKIP() << started.message();
  ASSERT_TRUE(started.ok()) << started.message();
  ExpectRunsOnlyOn(vm_, A());
  if (!bed_->migrates()) return;
  MigrationResult r = driver().Migrate(vm_, B(), MigrationOptions{}, nullptr);
  ASSERT_TRUE(r.completed) << r.error;
  ExpectRunsOnlyOn(vm_, B());
}

TEST_P(DriverTest, WhatItCannotDoItSaysAndRefuses) {
  // Every driver moves VMs somehow, and names what it can do.
  EXPECT_FALSE(caps_.Names().empty());
  if (!bed_->migrates()) return;
  EXPECT_TRUE(caps_.live_migration || caps_.offline_migration);
  if (!caps_.dirty_rate) return;
  ASSERT_TRUE(Start(vm_, A()).ok());
  Result<double> rate = driver().MeasureDirtyRate(vm_, 1);
  ASSERT_TRUE(rate.ok()) << rate.error();
  EXPECT_GE(*rate, 0);
  EXPECT_TRUE(driver().MeasureDirtyRate(vm_, 0).status().ok() == false);
}

INSTANTIATE_TEST_SUITE_P(Drivers, DriverTest,
                         ::testing::Values("sim", "qemu", "libvirt", "libvirt-test"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& c : name)
                             if (c == '-') c = '_';
                           return name;
                         });

}  // namespace
}  // namespace greenshift::hypervisor
