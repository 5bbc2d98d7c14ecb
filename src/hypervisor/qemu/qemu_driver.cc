#include "hypervisor/qemu/qemu_driver.h"

#include <signal.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <functional>
#include <optional>
#include <thread>
#include <tuple>

#include "core/clock.h"
#include "core/files.h"
#include "core/log.h"
#include "core/names.h"
#include "core/process.h"
#include "core/socket.h"
#include "hypervisor/qemu/qmp_client.h"

namespace greenshift::qemu {

using hypervisor::MigrationMode;
using hypervisor::MigrationOptions;
using hypervisor::MigrationProgress;
using hypervisor::MigrationResult;
using hypervisor::VmInfo;
using hypervisor::VmSpec;
using hypervisor::VmState;
using nlohmann::json;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds kQmpConnectTimeout{5000};

int ReadPid(const std::string& pid_file) {
  Result<std::string> text = ReadFile(pid_file);
  if (!text.ok()) return 0;
  try {
    return std::stoi(*text);
  } catch (...) {
    return 0;
  }
}

// Six hex pairs separated by colons: what QEMU's -device mac= takes.
bool ValidMac(const std::string& mac) {
  if (mac.size() != 17) return false;
  for (size_t i = 0; i < mac.size(); ++i) {
    if (i % 3 == 2 ? mac[i] != ':' : !std::isxdigit(static_cast<unsigned char>(mac[i])))
      return false;
  }
  return true;
}

void SleepMs(int ms) {
  std::this_thread::sleep_for(milliseconds(ms));
}

// Names of what a disk copy creates; one VM per QEMU, so they need not be unique beyond it.
constexpr char kDiskNode[] = "disk0";
constexpr char kMirrorTargetNode[] = "gs-mirror-target";
constexpr char kMirrorJob[] = "gs-mirror";
constexpr char kDiskExport[] = "gs-disk";
// The destination's NBD server listens on the first free port from here.
constexpr int kNbdFirstPort = 10809;
constexpr int kNbdPorts = 64;
// A copy (of the disk, or of memory) that stops advancing this long has lost its link: TCP would
// retry for many minutes, so the migration fails at once rather than at its timeout.
constexpr std::chrono::seconds kStall{15};
// A source QEMU whose monitor does not answer this long during a migration is blocked, most
// likely flushing its disk at the switchover to a storage server that does not answer (libiscsi
// and libnfs wait for their server to come back). The migration cannot complete: it fails.
constexpr std::chrono::seconds kSourceSilent{5};
// How long one query during a migration may take before the source counts as not answering.
constexpr std::chrono::milliseconds kQueryTimeout{1000};
// In post-copy the rest of memory is pushed at the link's speed; pushing nothing this long means
// the link is broken (TCP would take minutes to say so): the migration is paused and resumed
// over a new connection once the link works.
constexpr std::chrono::seconds kPostcopyStall{5};
// How often the destination's image is synced while the disk's mirror writes it (at most this
// much of the guest's writes is then left for the flush at the switchover, with the guest
// paused: 0.5 MB at 5 MB/s).
constexpr std::chrono::milliseconds kDestinationSyncPeriod{100};
// Passes without converging before the downtime target is raised (greenshift tuning).
constexpr int kRaisePasses = 30;
// The migration stream's socket, under greenshift's tuning (greenshift connects it and hands it
// to the source QEMU): by default Linux lets a socket hold megabytes not yet sent, and what QEMU
// sends with the guest paused waits behind all of it (measured here at 100 Mbit/s: 100-260 KiB
// waiting, 8-21 ms). Capped at this much: 2.6 ms at 100 Mbit/s; on an unshaped link (1-2.4
// Gbit/s here) the stream went as fast as without the cap. (A cap of 2.5 ms of the rate QEMU
// measured, adjusted every 100 ms, was tried against the lab's 1 Gbit/s link under ping and ab
// load: 563 Mbit/s against 579 with this one.)
constexpr int64_t kStreamUnsentBytes = 32 << 10;
constexpr char kStreamFdName[] = "gs-migration-stream";
constexpr std::chrono::seconds kStreamConnectTimeout{10};

// Ends the source's disk mirror whatever state it is in, and deletes its NBD client node. The
// connection is yanked first: over a cut link a cancel would wait for TCP to give up.
void EndMirror(QmpClient& source) {
  const json yank = {
      {"instances", json::array({{{"type", "block-node"}, {"node-name", kMirrorTargetNode}}})}};
  (void)source.Execute("yank", yank);
  (void)source.Execute("block-job-cancel", {{"device", kMirrorJob}, {"force", true}});
  for (int i = 0; i < 250; ++i) {
    Result<json> jobs = source.Execute("query-block-jobs");
    if (!jobs.ok()) break;
    bool running = false;
    for (const json& job : *jobs) running |= job.value("device", std::string()) == kMirrorJob;
    if (!running) break;
    SleepMs(20);
  }
  (void)source.Execute("blockdev-del", {{"node-name", kMirrorTargetNode}});
}

std::string MigrationStatusOf(QmpClient& qmp) {
  Result<json> info = qmp.Execute("query-migrate", json::object(), kQueryTimeout);
  return info.ok() ? info->value("status", std::string("none")) : "";
}

enum class PostcopyResume { kResumed, kDestinationDied, kTimedOut };

// A post-copy migration whose connection broke (or stalled: a cut link) is paused at both ends
// (`migrate-pause` where QEMU has not noticed yet), then, once the destination answers pings
// from the source's site again, resumed over a new connection: `migrate-recover` on the
// destination listening on `uri`, `migrate` with resume on the source. Tried again until `until`.
// The guest keeps running on the destination throughout; it waits for pages it lacks.
PostcopyResume ResumePostcopy(QmpClient& source, QmpClient& destination, const QemuSite& from,
                              const std::string& destination_address, const std::string& uri,
                              SteadyTime until, const std::function<bool()>& destination_alive,
                              std::string& said) {
  while (true) {
    if (!destination_alive()) return PostcopyResume::kDestinationDied;
    if (MigrationStatusOf(source) == "completed") return PostcopyResume::kResumed;
    for (QmpClient* side : {&source, &destination}) {
      if (MigrationStatusOf(*side) != "postcopy-paused") (void)side->Execute("migrate-pause");
    }
    for (int i = 0; i < 100; ++i) {
      if (MigrationStatusOf(source) == "postcopy-paused" &&
          MigrationStatusOf(destination) == "postcopy-paused")
        break;
      SleepMs(100);
    }
    // Wait for the link: a ping from the source's site to the destination's address.
    bool link_up = false;
    while (!link_up && SteadyNow() < until) {
      if (!destination_alive()) return PostcopyResume::kDestinationDied;
      Result<CommandOutput> ping = RunCommand({"ping", "-c", "1", "-W", "1", destination_address},
                                              RunOptions{from.netns, std::chrono::seconds(5)});
      link_up = ping.ok() && ping->exit_code == 0;
      if (!link_up) SleepMs(500);
    }
    if (!link_up) {
      said = "the link to " + destination_address + " is still broken";
      return PostcopyResume::kTimedOut;
    }
    if (Result<json> r = destination.Execute("migrate-recover", {{"uri", uri}}); !r.ok()) {
      said = r.error();
    } else if (Result<json> r2 = source.Execute("migrate", {{"uri", uri}, {"resume", true}});
               !r2.ok()) {
      said = r2.error();
    } else {
      for (int i = 0; i < 100; ++i) {
        const std::string status = MigrationStatusOf(source);
        if (status == "postcopy-active" || status == "completed") return PostcopyResume::kResumed;
        if (status == "postcopy-paused") break;
        SleepMs(100);
      }
      said = "the resumed connection did not carry the migration";
    }
    if (SteadyNow() >= until) return PostcopyResume::kTimedOut;
    SleepMs(500);
  }
}

}  // namespace

json MachineToJson(const Machine& m) {
  return {{"name", m.spec.name},
          {"memory_mib", m.spec.memory_mib},
          {"vcpus", m.spec.vcpus},
          {"disk_gib", m.spec.disk_gib},
          {"mac", m.mac},
          {"kernel_append", m.kernel_append},
          {"metadata", m.metadata},
          {"suppress_vmdesc", m.suppress_vmdesc},
          {"shared_disk",
           {{"protocol", m.shared_disk.protocol},
            {"host", m.shared_disk.host},
            {"port", m.shared_disk.port},
            {"export", m.shared_disk.export_name}}}};
}

Machine MachineFromJson(const json& j) {
  Machine m;
  m.spec.name = j.at("name").get<std::string>();
  m.spec.memory_mib = j.at("memory_mib").get<int>();
  m.spec.vcpus = j.value("vcpus", 1);
  m.spec.disk_gib = j.value("disk_gib", 0);
  m.mac = j.at("mac").get<std::string>();
  m.kernel_append = j.value("kernel_append", std::string());
  m.metadata = j.value("metadata", std::map<std::string, std::string>());
  // Its QEMU runs as that greenshift started it: a record from before the field sends the
  // description, and so must the destination that takes its state.
  m.suppress_vmdesc = j.value("suppress_vmdesc", false);
  if (j.contains("shared_disk")) {
    m.shared_disk.protocol = j["shared_disk"].value("protocol", std::string("nbd"));
    m.shared_disk.host = j["shared_disk"].value("host", std::string());
    m.shared_disk.port = j["shared_disk"].value("port", 10809);
    m.shared_disk.export_name = j["shared_disk"].value("export", std::string());
  }
  return m;
}

InstancePaths PathsFor(const QemuDriverConfig& config, const std::string& vm,
                       const std::string& site) {
  const std::string base = config.state_dir + "/qemu/" + vm + "@" + site;
  return {base + ".qmp", base + ".query.qmp", base + ".pid", base + ".console"};
}

std::pair<int64_t, int64_t> ResentBytes(const json& before, const json& info) {
  if (!info.is_object() || !info.contains("xbzrle-cache") || !info["xbzrle-cache"].is_object())
    return {-1, -1};
  // Text where a number belongs counts as nothing.
  auto number = [](const json& counters, const char* key) -> int64_t {
    if (!counters.is_object() || !counters.contains(key)) return 0;
    const json& value = counters[key];
    return value.is_number_integer() ? value.get<int64_t>() : 0;
  };
  auto counters = [&](const json& c) {
    return hypervisor::DeltaCounters{number(c, "pages"), number(c, "bytes"),
                                     number(c, "cache-miss"), number(c, "overflow")};
  };
  int64_t page = 4096;
  if (info.contains("ram") && info["ram"].is_object()) {
    const int64_t said = number(info["ram"], "page-size");
    if (said > 0) page = said;
  }
  return hypervisor::ResentBetween(counters(before), counters(info["xbzrle-cache"]), page);
}

std::string TapName(const std::string& vm) {
  return "t-" + vm;
}

std::string DiskPath(const QemuDriverConfig& config, const std::string& vm,
                     const std::string& site) {
  const std::string dir = config.disk_dir.empty() ? config.state_dir + "/disks" : config.disk_dir;
  return dir + "/" + site + "/" + vm + ".qcow2";
}

std::vector<std::string> BuildQemuCommand(const QemuDriverConfig& config, const Machine& machine,
                                          const QemuSite& site, bool incoming) {
  const hypervisor::VmSpec& spec = machine.spec;
  const InstancePaths paths = PathsFor(config, spec.name, site.name);
  std::vector<std::string> argv = {
      config.qemu_binary,
      "-name",
      spec.name + ",debug-threads=on",
      "-machine",
      machine.suppress_vmdesc ? "pc,suppress-vmdesc=on" : "pc",
      "-accel",
      config.accel,
      "-m",
      std::to_string(spec.memory_mib),
      "-smp",
      std::to_string(spec.vcpus),
      "-nodefaults",
      "-no-user-config",
      "-display",
      "none",
      "-no-reboot",
      "-kernel",
      config.kernel_path,
      "-initrd",
      config.initrd_path,
      "-append",
      machine.kernel_append,
      "-netdev",
      "tap,id=net0,ifname=" + TapName(spec.name) + ",script=no,downscript=no",
      "-device",
      // romfile= : the guest boots from -kernel, so no PXE option ROM (and no ipxe-qemu needed).
      "virtio-net-pci,netdev=net0,romfile=,mac=" + machine.mac,
      "-chardev",
      "file,id=console,path=" + paths.console_log + ",append=on",
      "-serial",
      "chardev:console",
      "-qmp",
      "unix:" + paths.control_socket + ",server=on,wait=off",
      "-qmp",
      "unix:" + paths.query_socket + ",server=on,wait=off",
      "-pidfile",
      paths.pid_file,
      "-daemonize",
  };
  if (spec.disk_gib > 0) {
    // JSON, so that no character of a path or name is taken for an option separator.
    const SharedDisk& shared = machine.shared_disk;
    json blockdev;
    if (shared.host.empty()) {
      blockdev = {
          {"driver", "qcow2"},
          {"node-name", "disk0"},
          {"file", {{"driver", "file"}, {"filename", DiskPath(config, spec.name, site.name)}}}};
    } else if (shared.protocol == "iscsi") {
      // libiscsi logs in again by itself when the connection drops; requests wait meanwhile.
      blockdev = {{"driver", "iscsi"},
                  {"node-name", "disk0"},
                  {"transport", "tcp"},
                  {"portal", shared.host + ":" + std::to_string(shared.port)},
                  {"target", shared.export_name},
                  {"lun", 1},
                  {"initiator-name", "iqn.2026-11.org.greenshift:host." + site.name}};
    } else if (shared.protocol == "nfs") {
      blockdev = {{"driver", "qcow2"},
                  {"node-name", "disk0"},
                  {"file",
                   {{"driver", "nfs"},
                    {"server", {{"type", "inet"}, {"host", shared.host}}},
                    {"path", shared.export_name}}}};
    } else {
      // Over NBD: a lost connection fails requests at once (the guest retries) and is
      // re-established in the background, so the disk comes back with its server.
      blockdev = {
          {"driver", "nbd"},
          {"node-name", "disk0"},
          {"server",
           {{"type", "inet"}, {"host", shared.host}, {"port", std::to_string(shared.port)}}},
          {"export", shared.export_name}};
    }
    argv.insert(argv.end(), {"-blockdev", blockdev.dump(), "-device",
                             "virtio-blk-pci,drive=disk0,id=disk0-dev"});
  }
  if (incoming) {
    argv.push_back("-incoming");
    argv.push_back("defer");
  }
  return argv;
}

Result<const QemuSite*> QemuDriver::FindSite(const std::string& name) const {
  for (const QemuSite& site : config_.sites) {
    if (site.name == name) return &site;
  }
  std::string known;
  for (const QemuSite& site : config_.sites) known += (known.empty() ? "" : ", ") + site.name;
  return Status::NotFound("no host is named '" + name +
                          "' (hosts: " + (known.empty() ? "none" : known) + ")");
}

std::string QemuDriver::RecordPath(const std::string& name) const {
  return config_.state_dir + "/vms/" + name + ".json";
}

std::string QemuDriver::LockPath(const std::string& name) const {
  return config_.state_dir + "/vms/" + name + ".lock";
}

std::string QemuDriver::CancelMarkPath(const std::string& name) const {
  return config_.state_dir + "/vms/" + name + ".cancel";
}

Result<QemuDriver::Record> QemuDriver::LoadRecord(const std::string& name) const {
  const std::string path = RecordPath(name);
  if (!PathExists(path)) return Status::NotFound("no VM is named '" + name + "'");
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  json j = json::parse(*text, nullptr, false);
  if (j.is_discarded()) return Status::Error("VM record " + path + " is not valid JSON");
  try {
    Record record;
    record.machine = MachineFromJson(j.at("machine"));
    record.site = j.at("site").get<std::string>();
    record.migrating_to = j.value("migrating_to", std::string());
    record.postcopy = j.value("postcopy", false);
    record.migration_uri = j.value("migration_uri", std::string());
    return record;
  } catch (const json::exception& e) {
    return Status::Error("VM record " + path + " is incomplete: " + e.what());
  }
}

Status QemuDriver::SaveRecord(const Record& record) const {
  GS_RETURN_IF_ERROR(MakeDirs(config_.state_dir + "/vms"));
  json j = {{"machine", MachineToJson(record.machine)},
            {"site", record.site},
            {"updated", FormatUtc(WallNow())}};
  if (!record.migrating_to.empty()) j["migrating_to"] = record.migrating_to;
  if (record.postcopy) j["postcopy"] = true;
  if (!record.migration_uri.empty()) j["migration_uri"] = record.migration_uri;
  return WriteFileAtomic(RecordPath(record.machine.spec.name), j.dump(2) + "\n");
}

Status QemuDriver::CreateTap(const QemuSite& site, const std::string& vm) const {
  const RunOptions in_site{site.netns};
  const std::string tap = TapName(vm);
  // A tap left over from a crash is reused rather than failing the start.
  if (!RunChecked({"ip", "link", "show", tap}, in_site).ok()) {
    GS_RETURN_IF_ERROR(RunChecked({"ip", "tuntap", "add", "dev", tap, "mode", "tap"}, in_site));
  }
  GS_RETURN_IF_ERROR(RunChecked({"ip", "link", "set", tap, "master", site.bridge}, in_site));
  return RunChecked({"ip", "link", "set", tap, "up"}, in_site);
}

void QemuDriver::RemoveTap(const QemuSite& site, const std::string& vm) const {
  (void)RunCommand({"ip", "link", "del", TapName(vm)}, RunOptions{site.netns});
}

int QemuDriver::InstancePid(const std::string& vm, const std::string& site) const {
  const int pid = ReadPid(PathsFor(config_, vm, site).pid_file);
  return ProcessAlive(pid) ? pid : 0;
}

Status QemuDriver::LaunchInstance(const Machine& machine, const QemuSite& site,
                                  bool incoming) const {
  const hypervisor::VmSpec& spec = machine.spec;
  GS_RETURN_IF_ERROR(MakeDirs(config_.state_dir + "/qemu"));
  const InstancePaths paths = PathsFor(config_, spec.name, site.name);
  for (const std::string& stale : {paths.control_socket, paths.query_socket, paths.pid_file}) {
    GS_RETURN_IF_ERROR(RemoveFile(stale));
  }
  GS_RETURN_IF_ERROR(CreateTap(site, spec.name));
  const std::vector<std::string> argv = BuildQemuCommand(config_, machine, site, incoming);
  Result<CommandOutput> output = RunCommand(argv, RunOptions{site.netns, std::chrono::seconds(60)});
  if (!output.ok() || output->exit_code != 0) {
    std::string why = output.ok() ? output->stderr_text : output.error();
    while (!why.empty() && why.back() == '\n') why.pop_back();
    RemoveTap(site, spec.name);
    return Status::Error("QEMU for VM '" + spec.name + "' did not start on site " + site.name +
                         ": " + why);
  }
  Result<std::unique_ptr<QmpClient>> qmp =
      QmpClient::Connect(paths.query_socket, kQmpConnectTimeout);
  if (!qmp.ok()) {
    DestroyInstance(spec.name, site);
    return qmp.status().Context("VM '" + spec.name + "' on site " + site.name);
  }
  return Status::Ok();
}

void QemuDriver::DestroyInstance(const std::string& vm, const QemuSite& site) const {
  const InstancePaths paths = PathsFor(config_, vm, site.name);
  const int pid = ReadPid(paths.pid_file);
  if (ProcessAlive(pid)) {
    // Ask QEMU to quit; fall back to signals if its monitor does not answer.
    Result<std::unique_ptr<QmpClient>> qmp =
        QmpClient::Connect(paths.query_socket, milliseconds(1000));
    if (qmp.ok()) (void)(*qmp)->Execute("quit", json::object(), milliseconds(2000));
    for (int i = 0; i < 200 && ProcessAlive(pid); ++i) SleepMs(10);
    TerminateProcess(pid, milliseconds(2000));
  }
  for (const std::string& file : {paths.control_socket, paths.query_socket, paths.pid_file}) {
    (void)RemoveFile(file);
  }
  RemoveTap(site, vm);
}

Status QemuDriver::CreateDisk(const Machine& machine, const QemuSite& site) const {
  const std::string path = DiskPath(config_, machine.spec.name, site.name);
  GS_RETURN_IF_ERROR(MakeDirs(path.substr(0, path.rfind('/'))));
  return RunChecked({"qemu-img", "create", "-q", "-f", "qcow2", path,
                     std::to_string(machine.spec.disk_gib) + "G"})
      .Context("disk of VM '" + machine.spec.name + "' on site " + site.name);
}

void QemuDriver::RemoveDisk(const std::string& vm, const QemuSite& site) const {
  (void)RemoveFile(DiskPath(config_, vm, site.name));
}

Result<std::string> QemuDriver::QueryStatus(const std::string& vm, const std::string& site) const {
  Result<std::unique_ptr<QmpClient>> qmp =
      QmpClient::Connect(PathsFor(config_, vm, site).query_socket, milliseconds(2000));
  if (!qmp.ok()) return qmp.status();
  Result<json> status = (*qmp)->Execute("query-status");
  if (!status.ok()) return status.status();
  return status->value("status", std::string("unknown"));
}

Result<double> QemuDriver::MeasureDirtyRate(const std::string& name, int seconds) {
  if (seconds < 1 || seconds > 60) {
    return Status::Error("dirty-rate measurement time must be 1..60 s, got " +
                         std::to_string(seconds));
  }
  Result<Record> record = LoadRecord(name);
  if (!record.ok()) return record.status();
  Result<std::unique_ptr<QmpClient>> qmp =
      QmpClient::Connect(PathsFor(config_, name, record->site).query_socket, milliseconds(2000));
  if (!qmp.ok()) return qmp.status().Context("VM '" + name + "'");
  // QEMU samples pages and hashes them twice, `calc-time` apart (page-sampling mode: works under
  // any accelerator and leaves dirty logging alone).
  if (Result<json> r = (*qmp)->Execute("calc-dirty-rate", {{"calc-time", seconds}}); !r.ok()) {
    return r.status().Context("VM '" + name + "': calc-dirty-rate");
  }
  const SteadyTime deadline = SteadyNow() + std::chrono::seconds(seconds + 10);
  while (SteadyNow() < deadline) {
    SleepMs(200);
    Result<json> info = (*qmp)->Execute("query-dirty-rate");
    if (!info.ok()) return info.status().Context("VM '" + name + "': query-dirty-rate");
    if (info->value("status", std::string()) == "measured") {
      return info->value("dirty-rate", 0.0) * 1024 * 1024;  // QEMU reports MiB/s
    }
  }
  return Status::Error("VM '" + name + "': QEMU did not finish measuring its dirty rate in time");
}

Status QemuDriver::StartVm(const Machine& machine, const std::string& site_name) {
  const hypervisor::VmSpec& spec = machine.spec;
  if (Status named = ValidateName("VM name", spec.name); !named.ok())
    return Status::Invalid(named.message());
  if (spec.memory_mib < 64 || spec.memory_mib > 65536) {
    return Status::Invalid("memory of VM '" + spec.name + "' must be 64..65536 MiB, got " +
                           std::to_string(spec.memory_mib));
  }
  if (spec.vcpus < 1 || spec.vcpus > 64)
    return Status::Invalid("VM '" + spec.name + "' needs 1..64 vCPUs, got " +
                           std::to_string(spec.vcpus));
  if (spec.disk_gib < 0 || spec.disk_gib > 16384)
    return Status::Invalid("the disk of VM '" + spec.name + "' must be 0..16384 GiB, got " +
                           std::to_string(spec.disk_gib));
  if (!ValidMac(machine.mac))
    return Status::Invalid("VM '" + spec.name +
                           "' needs a MAC address like 52:54:00:12:34:56, got '" + machine.mac +
                           "'");
  // The command line is one QEMU argument; a comma-free, printable one stays one.
  for (char c : machine.kernel_append) {
    if (c < 0x20 || c > 0x7e)
      return Status::Invalid("the kernel command line of VM '" + spec.name +
                             "' has a control character");
  }
  Result<const QemuSite*> site = FindSite(site_name);
  if (!site.ok()) return site.status();
  GS_RETURN_IF_ERROR(MakeDirs(config_.state_dir + "/vms"));
  Result<FileLock> lock = FileLock::TryAcquire(LockPath(spec.name), "VM '" + spec.name + "'");
  if (!lock.ok()) return lock.status();
  if (PathExists(RecordPath(spec.name))) {
    return Status::Conflict("a VM named '" + spec.name +
                            "' already exists (see `greenshift vm list`)");
  }
  for (const QemuSite& other : config_.sites) {
    if (InstancePid(spec.name, other.name) != 0) {
      return Status::Conflict("a QEMU of VM '" + spec.name + "' already runs on site " +
                              other.name);
    }
  }
  const bool local_disk = spec.disk_gib > 0 && machine.shared_disk.host.empty();
  if (const SharedDisk& shared = machine.shared_disk; !shared.host.empty()) {
    if (shared.protocol != "nbd" && shared.protocol != "iscsi" && shared.protocol != "nfs") {
      return Status::Invalid("the shared disk of VM '" + spec.name +
                             "' must be reached over nbd, iscsi or nfs, not '" + shared.protocol +
                             "'");
    }
    if (shared.export_name.empty()) {
      return Status::Invalid("the shared disk of VM '" + spec.name + "' needs " +
                             (shared.protocol == "nbd"     ? "an export name"
                              : shared.protocol == "iscsi" ? "a target IQN"
                                                           : "a path on the server"));
    }
    if (shared.port < 1 || shared.port > 65535)
      return Status::Invalid("the shared disk of VM '" + spec.name + "' has no valid port");
  }
  if (local_disk) {
    for (const QemuSite& other : config_.sites) {
      const std::string image = DiskPath(config_, spec.name, other.name);
      if (PathExists(image)) {
        return Status::Conflict("an image of VM '" + spec.name +
                                "''s disk already exists: " + image +
                                " (a disk is never overwritten: remove it, or name the "
                                "VM otherwise)");
      }
    }
    GS_RETURN_IF_ERROR(CreateDisk(machine, **site));
  }
  if (Status launched = LaunchInstance(machine, **site, /*incoming=*/false); !launched.ok()) {
    RemoveDisk(spec.name, **site);
    return launched;
  }
  return SaveRecord(Record{machine, site_name, "", false, ""});
}

Status QemuDriver::StopVm(const std::string& name) {
  Result<FileLock> lock = FileLock::TryAcquire(LockPath(name), "VM '" + name + "'");
  if (!lock.ok()) return lock.status();
  Result<Record> record = LoadRecord(name);
  if (!record.ok()) return record.status();
  for (const QemuSite& site : config_.sites) {
    DestroyInstance(name, site);
    RemoveDisk(name, site);
  }
  GS_RETURN_IF_ERROR(RemoveFile(RecordPath(name)));
  return Status::Ok();
}

hypervisor::Capabilities QemuDriver::GetCapabilities() const {
  hypervisor::Capabilities c;
  c.live_migration = c.offline_migration = true;
  c.post_copy = true;  // postcopy-ram (userfaultfd), switched to when pre-copy is stuck
  c.disk_copy = true;  // NBD export on the destination, blockdev-mirror from the source
  c.auto_converge = c.downtime_limit = c.bandwidth_limit = true;
  c.dirty_rate = true;        // calc-dirty-rate, page sampling
  c.cancel = true;            // by the migrating process, at any step before the switch
  c.recovery = true;          // Recover: a migration QEMU finished or dropped without its caller
  c.switchover_hooks = true;  // from the source's STOP and the destination's RESUME events
  c.delta_encoding = true;    // XBZRLE under greenshift's tuning
  return c;
}

VmInfo QemuDriver::InfoFor(const Record& record) const {
  VmInfo info;
  info.spec = record.machine.spec;
  info.metadata = record.machine.metadata;
  info.host = record.site;
  for (const QemuSite& site : config_.sites) {
    if (InstancePid(record.machine.spec.name, site.name) != 0) info.copies.push_back(site.name);
  }
  info.pid = InstancePid(record.machine.spec.name, record.site);
  if (info.pid == 0) {
    info.state = VmState::kStopped;
  } else if (!record.migrating_to.empty()) {
    info.state = VmState::kMigrating;
  } else {
    Result<std::string> status = QueryStatus(record.machine.spec.name, record.site);
    if (!status.ok()) {
      info.state = VmState::kUnknown;
    } else if (*status == "running") {
      info.state = VmState::kRunning;
    } else if (*status == "paused" || *status == "postmigrate" || *status == "finish-migrate") {
      info.state = VmState::kPaused;
    } else {
      info.state = VmState::kUnknown;
    }
  }
  return info;
}

Result<VmInfo> QemuDriver::GetVm(const std::string& name) {
  Result<Record> record = LoadRecord(name);
  if (!record.ok()) return record.status();
  return InfoFor(*record);
}

Result<std::vector<VmInfo>> QemuDriver::ListVms() {
  std::vector<VmInfo> vms;
  std::vector<std::string> files = ListDir(config_.state_dir + "/vms");
  std::sort(files.begin(), files.end());
  for (const std::string& file : files) {
    if (file.size() <= 5 || file.substr(file.size() - 5) != ".json") continue;
    Result<Record> record = LoadRecord(file.substr(0, file.size() - 5));
    if (!record.ok()) return record.status();
    vms.push_back(InfoFor(*record));
  }
  return vms;
}

Result<VmInfo> QemuDriver::Recover(const std::string& name, milliseconds timeout) {
  // A process that still migrates the VM holds its lock: wait for it to let go.
  const SteadyTime deadline = SteadyNow() + timeout;
  auto acquire = [&]() -> Result<FileLock> {
    while (true) {
      Result<FileLock> lock = FileLock::TryAcquire(LockPath(name), "VM '" + name + "'");
      if (lock.ok() || SteadyNow() >= deadline) return lock;
      SleepMs(200);
    }
  };
  Result<FileLock> lock = acquire();
  if (!lock.ok()) return lock.status();
  Result<Record> loaded = LoadRecord(name);
  if (!loaded.ok()) return loaded.status();
  Record record = *loaded;
  if (record.migrating_to.empty()) return InfoFor(record);
  Result<const QemuSite*> source = FindSite(record.site);
  Result<const QemuSite*> destination = FindSite(record.migrating_to);
  if (!source.ok()) return source.status();
  if (!destination.ok()) return destination.status();

  // QEMU goes on migrating without the process that started it: let it finish or fail.
  auto migration_status = [&]() -> std::string {
    Result<std::unique_ptr<QmpClient>> qmp =
        QmpClient::Connect(PathsFor(config_, name, record.site).query_socket, milliseconds(2000));
    if (!qmp.ok()) return "gone";
    Result<json> info = (*qmp)->Execute("query-migrate");
    return info.ok() ? info->value("status", std::string("none")) : "gone";
  };
  std::string status = migration_status();
  const bool has_disk = record.machine.spec.disk_gib > 0 && record.machine.shared_disk.host.empty();
  if (record.postcopy && has_disk && status == "pre-switchover") {
    // The switch to post-copy was asked for, and the source waits before it for its caller to
    // end the disk's mirror: the caller died there, and the guest never ran on the destination.
    // (Still so half a second later: not a `migrate-continue` that was just sent.)
    SleepMs(500);
    status = migration_status();
    if (status == "pre-switchover") record.postcopy = false;  // recovered as pre-copy below
  }
  if (record.postcopy) {
    // Past post-copy's switch: the guest runs on the destination and the source only serves it
    // pages. Never resumed; the migration is seen through (a broken link resumed) or the VM is
    // lost with its destination.
    Result<std::unique_ptr<QmpClient>> source_qmp =
        QmpClient::Connect(PathsFor(config_, name, record.site).control_socket, kQmpConnectTimeout);
    Result<std::unique_ptr<QmpClient>> destination_qmp = QmpClient::Connect(
        PathsFor(config_, name, record.migrating_to).control_socket, kQmpConnectTimeout);
    auto destination_alive = [&]() { return InstancePid(name, (*destination)->name) != 0; };
    int64_t last_sent = -1;
    SteadyTime last_advance = SteadyNow();
    while (source_qmp.ok() && destination_qmp.ok() && destination_alive() &&
           SteadyNow() < deadline) {
      Result<json> info = (*source_qmp)->Execute("query-migrate", json::object(), kQueryTimeout);
      status = info.ok() ? info->value("status", std::string("none")) : "";
      if (status == "completed" || status == "failed") break;
      const int64_t sent =
          info.ok() && info->contains("ram") ? (*info)["ram"].value("transferred", int64_t{0}) : 0;
      if (sent != last_sent) {
        last_sent = sent;
        last_advance = SteadyNow();
      }
      if (status == "postcopy-paused" || SteadyNow() - last_advance >= kPostcopyStall) {
        std::string said;
        (void)ResumePostcopy(**source_qmp, **destination_qmp, **source,
                             (*destination)->migration_address, record.migration_uri, deadline,
                             destination_alive, said);
        last_advance = SteadyNow();
      }
      SleepMs(200);
    }
    if (!destination_alive()) {
      return Status::Error(
          "VM '" + name + "' was lost in post-copy: its destination QEMU on site " +
          (*destination)->name + " is gone and its source on site " + (*source)->name +
          " holds an older, paused state, which is not resumed; stop the VM "
          "and start it again from its disk" +
          (has_disk ? ": the newest is " + DiskPath(config_, name, (*destination)->name) +
                          ", which holds every write the guest made (the source's image stops "
                          "at the switch)"
                    : std::string()));
    }
    if (status != "completed") {
      return Status::Unavailable("VM '" + name + "' is still in post-copy (" + status +
                                 "): it runs on site " + (*destination)->name +
                                 " and waits for memory still on site " + (*source)->name +
                                 "; run recover again once the link between them works");
    }
  }
  // Not waited for: "pre-switchover", where QEMU waits for the caller that died (it had to end
  // the disk copy and let the last round go).
  while (
      (status == "setup" || status == "active" || status == "device" || status == "cancelling") &&
      SteadyNow() < deadline) {
    SleepMs(200);
    status = migration_status();
  }
  if (status == "setup" || status == "active" || status == "device" || status == "pre-switchover") {
    // Still migrating at the deadline: stop it; the source keeps the VM.
    Result<std::unique_ptr<QmpClient>> qmp =
        QmpClient::Connect(PathsFor(config_, name, record.site).control_socket, kQmpConnectTimeout);
    if (qmp.ok()) (void)(*qmp)->Execute("migrate_cancel");
    for (int i = 0; i < 100 && migration_status() == "cancelling"; ++i) SleepMs(50);
  }
  // Keep the destination only when it runs the VM, else the source.
  std::string destination_state;
  for (int i = 0; i < 50 && InstancePid(name, (*destination)->name) != 0; ++i) {
    Result<std::string> state = QueryStatus(name, (*destination)->name);
    destination_state = state.ok() ? *state : "";
    if (destination_state == "running" || status != "completed") break;
    SleepMs(100);  // completed: the destination starts by itself in a moment
  }
  if (record.postcopy && destination_state != "running") {
    return Status::Error("VM '" + name + "' completed post-copy but does not run on site " +
                         (*destination)->name + " (" + destination_state +
                         "); its source is older and is not resumed");
  }
  if (destination_state == "running") {
    DestroyInstance(name, **source);
    if (has_disk) {
      // It completed, so the disk copy had ended: the destination's image is the disk.
      RemoveDisk(name, **source);
      Result<std::unique_ptr<QmpClient>> qmp = QmpClient::Connect(
          PathsFor(config_, name, (*destination)->name).control_socket, kQmpConnectTimeout);
      if (qmp.ok()) {
        (void)(*qmp)->Execute("block-export-del", {{"id", kDiskExport}, {"mode", "hard"}});
        (void)(*qmp)->Execute("nbd-server-stop");
      }
    }
    record.site = (*destination)->name;
  } else {
    DestroyInstance(name, **destination);
    if (has_disk) RemoveDisk(name, **destination);
    if (InstancePid(name, (*source)->name) == 0) {
      record.migrating_to.clear();
      GS_RETURN_IF_ERROR(SaveRecord(record));
      return Status::Error("VM '" + name + "' runs nowhere: its source QEMU on site " +
                           (*source)->name + " is gone and its destination never ran it");
    }
    Result<std::unique_ptr<QmpClient>> qmp =
        QmpClient::Connect(PathsFor(config_, name, record.site).control_socket, kQmpConnectTimeout);
    if (!qmp.ok()) return qmp.status();
    if (has_disk) EndMirror(**qmp);  // a mirror left running into the destination just ended
    if (Result<json> state = (*qmp)->Execute("query-status");
        state.ok() && state->value("status", std::string()) != "running") {
      if (Result<json> r = (*qmp)->Execute("cont"); !r.ok()) return r.status();
    }
  }
  record.migrating_to.clear();
  record.postcopy = false;
  record.migration_uri.clear();
  GS_RETURN_IF_ERROR(SaveRecord(record));
  return InfoFor(record);
}

Status QemuDriver::CancelMigration(const std::string& name) {
  Result<Record> record = LoadRecord(name);
  if (!record.ok()) return record.status();
  if (record->migrating_to.empty()) return Status::Error("VM '" + name + "' is not migrating");
  if (record->postcopy) {
    return Status::Conflict("VM '" + name +
                            "' is in post-copy: it runs on its destination, and there is no "
                            "way back; the migration ends by itself");
  }
  // The process that runs the migration holds the VM's lock from its start to its end, and is
  // the one that cancels: it knows the phase. QEMU's own migrate_cancel, sent from here, did
  // nothing before that process issued `migrate` (the destination starting, the disk copied),
  // and the migration then ran to its end (measured: a cancel 500 ms into a migration whose
  // set-up took longer returned OK and the VM moved); it would also race a switch to post-copy.
  {
    Result<FileLock> unheld = FileLock::TryAcquire(LockPath(name), "VM '" + name + "'");
    if (unheld.ok()) {
      Result<Record> now = LoadRecord(name);
      if (now.ok() && now->migrating_to.empty())
        return Status::Error("VM '" + name + "' is not migrating");
      return Status::Error("no process runs the migration of VM '" + name +
                           "' any more (was it killed?): `greenshift vm recover " + name +
                           "` settles it");
    }
  }
  // Seen by Migrate at its next step (every 20 ms while QEMU copies), or before its `migrate`.
  return WriteFileAtomic(CancelMarkPath(name), "cancel\n");
}

namespace {

// The oldest QEMU whose TCG live migration we measured intact (see docs/lab.md).
constexpr int kMinTcgLiveMajor = 10;

// Everything the migration loop learns, from events and from query-migrate.
struct MigrationWatch {
  std::string status = "none";
  int passes = 0;
  int64_t source_stop_us = 0;
  int64_t destination_resume_us = 0;
  std::string error;
  json last_info;
  // The source's XBZRLE counters as the third pass began (null until then). The second pass
  // fills the encoder's cache, so all of its pages go whole; what a page sent again costs is
  // counted from the third on. (QEMU also keeps counting across the migrations of one process,
  // one that failed and is tried again: counting from here leaves those out too.)
  json xbzrle_after_second_pass = nullptr;
  int64_t started_wall_us = 0;
  std::string source_site, destination_site;
  std::vector<hypervisor::MigrationEvent> timeline;
  // The disk mirror's job, from its BLOCK_JOB_* events.
  bool mirror_ready = false;
  bool mirror_ended = false;
  std::string mirror_error;
  int64_t mirror_offset = 0, mirror_length = 0;
  // The guest running on its source again after it had stopped there (a failed switchover).
  int64_t source_resume_us = 0;
  // The caller's switchover hooks, and which of them were called.
  const hypervisor::SwitchoverHooks* hooks = nullptr;
  bool called_source_paused = false, called_destination_running = false,
       called_source_running_again = false;
};

// Calls the switchover hooks for what the events showed, once each and in order (the source's
// STOP and the destination's RESUME come over two connections: a late STOP is still called
// first). `source_running` says the roll-back saw the source run again.
void FollowSwitchover(MigrationWatch& watch, bool source_running = false) {
  if (!watch.hooks) return;
  const hypervisor::SwitchoverHooks& hooks = *watch.hooks;
  const bool stopped = watch.source_stop_us != 0 || watch.destination_resume_us != 0;
  if (stopped && !watch.called_source_paused) {
    watch.called_source_paused = true;
    if (hooks.source_paused) hooks.source_paused();
  }
  if (watch.destination_resume_us != 0 && !watch.called_destination_running) {
    watch.called_destination_running = true;
    if (hooks.destination_running) hooks.destination_running();
  }
  if ((source_running || watch.source_resume_us != 0) && watch.called_source_paused &&
      !watch.called_destination_running && !watch.called_source_running_again) {
    watch.called_source_running_again = true;
    if (hooks.source_running_again) hooks.source_running_again();
  }
}

// QEMU's migration status in neutral terms.
hypervisor::MigrationPhase PhaseOf(const std::string& status) {
  using hypervisor::MigrationPhase;
  if (status == "completed") return MigrationPhase::kCompleted;
  if (status == "failed") return MigrationPhase::kFailed;
  if (status == "cancelled" || status == "cancelling") return MigrationPhase::kCancelled;
  if (status == "device" || status == "pre-switchover") return MigrationPhase::kSwitchover;
  if (status.rfind("postcopy", 0) == 0) return MigrationPhase::kPostcopy;
  if (status == "active") return MigrationPhase::kCopying;
  return MigrationPhase::kSetup;
}

void Absorb(const std::vector<QmpEvent>& events, bool from_source, MigrationWatch& watch) {
  using hypervisor::MigrationEventKind;
  for (const QmpEvent& event : events) {
    if (event.name == "MIGRATION" || event.name == "MIGRATION_PASS" || event.name == "STOP" ||
        event.name == "RESUME") {
      hypervisor::MigrationEvent entry;
      entry.at_ms = (event.timestamp_us - watch.started_wall_us) / 1000.0;
      entry.host = from_source ? watch.source_site : watch.destination_site;
      if (event.name == "MIGRATION") {
        entry.kind = MigrationEventKind::kPhase;
        entry.detail = hypervisor::MigrationPhaseName(PhaseOf(event.data.value("status", "")));
      } else if (event.name == "MIGRATION_PASS") {
        entry.kind = MigrationEventKind::kPass;
        entry.detail = std::to_string(event.data.value("pass", 0));
      } else {
        entry.kind =
            event.name == "STOP" ? MigrationEventKind::kPaused : MigrationEventKind::kResumed;
      }
      watch.timeline.push_back(std::move(entry));
    }
    if (from_source &&
        (event.name == "BLOCK_JOB_READY" || event.name == "BLOCK_JOB_COMPLETED" ||
         event.name == "BLOCK_JOB_CANCELLED" || event.name == "BLOCK_JOB_ERROR") &&
        event.data.value("device", std::string()) == kMirrorJob) {
      watch.mirror_offset = event.data.value("offset", watch.mirror_offset);
      watch.mirror_length = event.data.value("len", watch.mirror_length);
      if (event.name == "BLOCK_JOB_READY") watch.mirror_ready = true;
      if (event.name == "BLOCK_JOB_COMPLETED" || event.name == "BLOCK_JOB_CANCELLED")
        watch.mirror_ended = true;
      if (event.name == "BLOCK_JOB_COMPLETED" && event.data.contains("error"))
        watch.mirror_error = event.data["error"].get<std::string>();
      if (event.name == "BLOCK_JOB_ERROR" && watch.mirror_error.empty())
        watch.mirror_error =
            "I/O error on the " + event.data.value("operation", std::string("copy")) + " side";
      continue;
    }
    if (from_source && event.name == "STOP" && watch.source_stop_us == 0) {
      watch.source_stop_us = event.timestamp_us;
    } else if (from_source && event.name == "MIGRATION_PASS") {
      watch.passes = std::max(watch.passes, event.data.value("pass", 0));
    } else if (from_source && event.name == "MIGRATION") {
      watch.status = event.data.value("status", watch.status);
    } else if (!from_source && event.name == "RESUME" && watch.destination_resume_us == 0) {
      watch.destination_resume_us = event.timestamp_us;
    } else if (from_source && event.name == "RESUME" && watch.source_stop_us != 0) {
      watch.source_resume_us = event.timestamp_us;
    }
  }
  FollowSwitchover(watch);
}

// Starts the destination's NBD server on the first free port from kNbdFirstPort and exports its
// (empty, inactive) disk writable. Returns the port.
Result<int> ExportDisk(QmpClient& destination, const std::string& address) {
  for (int port = kNbdFirstPort; port < kNbdFirstPort + kNbdPorts; ++port) {
    const json addr = {{"type", "inet"},
                       {"data", {{"host", address}, {"port", std::to_string(port)}}}};
    Result<json> started = destination.Execute("nbd-server-start", {{"addr", addr}});
    if (!started.ok()) {
      if (started.error().find("in use") != std::string::npos) continue;
      return started.status().Context("NBD server for the disk copy");
    }
    const json exported = {{"type", "nbd"},
                           {"id", kDiskExport},
                           {"node-name", kDiskNode},
                           {"writable", true},
                           {"name", kDiskExport}};
    if (Result<json> r = destination.Execute("block-export-add", exported); !r.ok())
      return r.status().Context("NBD export of the destination's disk");
    return port;
  }
  return Status::Error("no free port for the disk copy's NBD server in " +
                       std::to_string(kNbdFirstPort) + ".." +
                       std::to_string(kNbdFirstPort + kNbdPorts - 1) + " on " + address);
}

}  // namespace

MigrationResult QemuDriver::Migrate(const std::string& name, const std::string& to_site,
                                    const MigrationOptions& options,
                                    const hypervisor::ProgressCallback& progress) {
  const SteadyTime started = SteadyNow();
  MigrationResult result;
  result.vm = name;
  result.to = to_site;
  result.mode = options.mode;
  result.tuning =
      options.tuning == hypervisor::Tuning::kGreenshift ? "greenshift" : "qemu-defaults";
  MigrationWatch watch;
  watch.started_wall_us = UnixMicros(WallNow());
  auto fill_figures = [&]() {
    result.events = watch.timeline;
    result.hypervisor_status = watch.status;
    const json& info = watch.last_info;
    if (info.contains("downtime")) result.downtime_ms = info["downtime"].get<double>();
    if (info.contains("setup-time")) result.setup_ms = info["setup-time"].get<double>();
    if (info.contains("ram")) {
      result.bytes = info["ram"].value("transferred", int64_t{0});
      result.passes = std::max(watch.passes, info["ram"].value("dirty-sync-count", 0));
      result.mbps = static_cast<int64_t>(info["ram"].value("mbps", 0.0));
      if (info["ram"].contains("duplicate")) {
        result.zero_bytes = info["ram"].value("duplicate", int64_t{0}) *
                            info["ram"].value("page-size", int64_t{4096});
      }
    }
    if (watch.xbzrle_after_second_pass.is_object()) {
      std::tie(result.resent_page_bytes, result.resent_wire_bytes) =
          ResentBytes(watch.xbzrle_after_second_pass, info);
    }
    if (watch.source_stop_us > 0 && watch.destination_resume_us > watch.source_stop_us) {
      result.paused_ms = (watch.destination_resume_us - watch.source_stop_us) / 1000.0;
    }
    result.disk_bytes = watch.mirror_offset;
  };
  auto fail = [&](const std::string& why) {
    fill_figures();
    result.completed = false;
    // Unless it died, the VM runs where it ran (nothing was moved, or the roll-back resumed it).
    if (!result.from.empty() && InstancePid(name, result.from) != 0)
      result.running_on = result.from;
    result.error = why;
    result.total_ms = MillisBetween(started, SteadyNow());
    return result;
  };

  Result<FileLock> lock = FileLock::TryAcquire(LockPath(name), "VM '" + name + "'");
  if (!lock.ok()) return fail(lock.error());
  // A cancel mark is this migration's only from the moment the record says it migrates (below;
  // CancelMigration refuses a VM that does not): one left by an earlier migration goes now, and
  // this one's goes as it ends (declared after the lock, so removed before the lock is let go).
  (void)RemoveFile(CancelMarkPath(name));
  struct RemoveOnExit {
    std::string path;
    ~RemoveOnExit() { (void)RemoveFile(path); }
  } remove_cancel_mark{CancelMarkPath(name)};
  // By the caller's flag, or by CancelMigration (perhaps from another process), whose mark is
  // looked for at every step until QEMU's own cancel can take over and once after.
  auto cancel_asked = [&]() {
    return (options.cancel_requested && options.cancel_requested->load()) ||
           PathExists(CancelMarkPath(name));
  };
  Result<Record> loaded = LoadRecord(name);
  if (!loaded.ok()) return fail(loaded.error());
  Record record = *loaded;
  result.from = record.site;
  if (record.site == to_site) return fail("VM '" + name + "' already runs on site " + to_site);
  Result<const QemuSite*> source_site = FindSite(record.site);
  if (!source_site.ok()) return fail(source_site.error());
  Result<const QemuSite*> destination_site = FindSite(to_site);
  if (!destination_site.ok()) return fail(destination_site.error());
  const QemuSite& source = **source_site;
  const QemuSite& destination = **destination_site;
  watch.source_site = source.name;
  watch.destination_site = destination.name;
  watch.hooks = &options.switchover;
  const InstancePaths source_paths = PathsFor(config_, name, source.name);
  const InstancePaths destination_paths = PathsFor(config_, name, destination.name);

  Result<std::string> source_status = QueryStatus(name, source.name);
  if (!source_status.ok()) {
    return fail("VM '" + name + "' does not answer on site " + source.name + ": " +
                source_status.error());
  }
  if (*source_status != "running") {
    return fail("VM '" + name + "' is " + *source_status + " on site " + source.name +
                ", not running; refusing to migrate it");
  }
  if (InstancePid(name, destination.name) != 0) {
    return fail("a QEMU of VM '" + name + "' already runs on site " + destination.name);
  }

  // Whatever goes wrong from here on: the VM keeps (or resumes) running on the source, the
  // destination's QEMU and tap go away, and the record says the VM is on the source.
  std::unique_ptr<QmpClient> source_qmp;
  // A local disk is copied along; a shared one is reached from the destination as it is.
  const bool has_disk = record.machine.spec.disk_gib > 0 && record.machine.shared_disk.host.empty();
  const bool names_phase = record.machine.spec.disk_gib > 0;
  bool mirror_started = false;
  // The destination's image synced while the mirror writes it. QEMU flushes every disk when it
  // stops the guest for the switch: without this, everything the mirror wrote since the kernel
  // last wrote the image back (up to 30 s of it) went to the disk inside the guest's pause
  // (measured: 27-34 ms of a 56-66 ms pause; 7-11 ms with it synced every 100 ms).
  std::unique_ptr<BackgroundFsync> destination_sync;
  // The phase a failure happened in, for its message.
  std::string phase = "setup";
  // Ends what the migration put on the destination (QEMU, tap, disk image) and records that
  // the VM is where it was.
  auto forget_destination = [&]() {
    DestroyInstance(name, destination);
    if (has_disk) RemoveDisk(name, destination);
    record.migrating_to.clear();
    // A switch to post-copy asked for but not made (its disk's mirror failed at the pause before
    // it) leaves the whole VM on its source: nothing of post-copy to recover.
    record.postcopy = false;
    record.migration_uri.clear();
    (void)SaveRecord(record);
  };
  // Whether the destination's QEMU died: one that was killed takes a moment to be gone after
  // its socket closed.
  auto destination_died = [&]() {
    for (int i = 0; i < 50 && InstancePid(name, destination.name) != 0; ++i) SleepMs(10);
    return InstancePid(name, destination.name) == 0;
  };
  // Set when the source's monitor stopped answering: the roll-back then asks nothing of it.
  bool source_blocked = false;
  auto roll_back = [&](const std::string& why) {
    if (source_qmp && mirror_started && !source_blocked) EndMirror(*source_qmp);
    if (source_qmp && !source_blocked &&
        source_qmp->Execute("migrate_cancel", json::object(), std::chrono::seconds(3))
            .status()
            .IsUnavailable()) {
      source_blocked = true;
    }
    if (source_qmp && !source_blocked) {
      // Wait for QEMU to leave the migration (it resumes a guest it had paused for it).
      for (int i = 0; i < 100; ++i) {
        Result<json> info = source_qmp->Execute("query-migrate", json::object(), kQueryTimeout);
        if (info.status().IsUnavailable()) break;
        const std::string status = info.ok() ? info->value("status", std::string("none")) : "";
        if (status != "active" && status != "setup" && status != "device" &&
            status != "cancelling" && status != "pre-switchover") {
          break;
        }
        SleepMs(20);
      }
      Result<json> run_state = source_qmp->Execute("query-status");
      if (run_state.ok() && run_state->value("status", std::string()) != "running") {
        (void)source_qmp->Execute("cont");
        run_state = source_qmp->Execute("query-status");
      }
      FollowSwitchover(watch,
                       run_state.ok() && run_state->value("status", std::string()) == "running");
    }
    forget_destination();
    result.postcopy = false;  // asked for, perhaps, but the guest never ran on the destination
    const bool phase_said = why.find(phase) != std::string::npos;
    return fail(names_phase && !phase_said ? why + " (during the " + phase + ")" : why);
  };

  record.migrating_to = destination.name;
  if (Status saved = SaveRecord(record); !saved.ok()) return fail(saved.message());
  if (has_disk) {
    // The destination's image: empty, the size of the source's. One left by a migration that
    // died before its recovery is not the VM's disk (the VM's record says the source): replaced.
    RemoveDisk(name, destination);
    if (Status created = CreateDisk(record.machine, destination); !created.ok())
      return roll_back(created.message());
  }
  if (Status launched = LaunchInstance(record.machine, destination, /*incoming=*/true);
      !launched.ok()) {
    return roll_back(launched.message());
  }
  if (cancel_asked()) return roll_back("migration was cancelled");

  Result<std::unique_ptr<QmpClient>> destination_connect =
      QmpClient::Connect(destination_paths.control_socket, kQmpConnectTimeout);
  if (!destination_connect.ok()) return roll_back(destination_connect.error());
  std::unique_ptr<QmpClient> destination_qmp = std::move(*destination_connect);
  // Post-copy must be on at both ends before the migration starts (it only permits the switch);
  // the destination measures how long the guest's vCPUs wait for pages. With a disk copied
  // along, the switch, like pre-copy's last round, waits at "pre-switchover" for the mirror to end.
  const bool postcopy_allowed = options.postcopy == hypervisor::PostcopyPolicy::kWhenStuck &&
                                options.mode == MigrationMode::kLive &&
                                options.tuning == hypervisor::Tuning::kGreenshift;
  json destination_capabilities = json::array({{{"capability", "events"}, {"state", true}}});
  if (postcopy_allowed) {
    destination_capabilities.push_back({{"capability", "postcopy-ram"}, {"state", true}});
    destination_capabilities.push_back({{"capability", "postcopy-blocktime"}, {"state", true}});
  }
  if (Result<json> r = destination_qmp->Execute("migrate-set-capabilities",
                                                {{"capabilities", destination_capabilities}});
      !r.ok()) {
    return roll_back(r.error());
  }
  const std::string listen_uri = "tcp:" + destination.migration_address + ":0";
  if (Result<json> r = destination_qmp->Execute("migrate-incoming", {{"uri", listen_uri}});
      !r.ok()) {
    return roll_back(r.error());
  }
  // Port 0 let QEMU pick a free port; query-migrate on the destination tells which.
  int port = 0;
  if (Result<json> info = destination_qmp->Execute("query-migrate"); info.ok()) {
    for (const json& address : info->value("socket-address", json::array())) {
      const std::string text = address.value("port", std::string("0"));
      port = std::atoi(text.c_str());
      if (port > 0) break;
    }
  }
  if (port <= 0)
    return roll_back("destination QEMU on site " + destination.name +
                     " did not report its migration port");

  Result<std::unique_ptr<QmpClient>> source_connect =
      QmpClient::Connect(source_paths.control_socket, kQmpConnectTimeout);
  if (!source_connect.ok()) return roll_back(source_connect.error());
  source_qmp = std::move(*source_connect);

  if (options.mode == MigrationMode::kLive && config_.accel == "tcg") {
    Result<json> version = source_qmp->Execute("query-version");
    if (!version.ok()) return roll_back(version.error());
    const int major = (*version)["qemu"].value("major", 0);
    const int minor = (*version)["qemu"].value("minor", 0);
    if (major < kMinTcgLiveMajor) {
      return roll_back("live migration of a TCG guest needs QEMU " +
                       std::to_string(kMinTcgLiveMajor) + ".0 or later; site " + source.name +
                       " runs QEMU " + std::to_string(major) + "." + std::to_string(minor) +
                       ", which loses guest memory writes across dirty-tracking passes under TCG "
                       "(guest kernels panicked after migrating with 7.2). Install a newer QEMU "
                       "(scripts/setup.sh takes it from bookworm-backports) or use --offline");
    }
  }

  const SteadyTime deadline = started + options.timeout;
  if (options.mode == MigrationMode::kOffline) {
    // Regular migration: stop the guest first, then copy everything once.
    if (Result<json> r = source_qmp->Execute("stop"); !r.ok()) return roll_back(r.error());
  }
  if (has_disk) {
    // The disk first: the destination exports its empty image over NBD, the source mirrors its
    // disk into it, and goes on mirroring every write until the switchover.
    phase = "disk copy";
    watch.timeline.push_back(
        {MillisBetween(started, SteadyNow()), source.name, hypervisor::MigrationEventKind::kPhase,
         hypervisor::MigrationPhaseName(hypervisor::MigrationPhase::kDiskCopy)});
    result.disk_copy_mode = hypervisor::DiskCopyModeName(options.disk_copy_mode);
    Result<int> nbd_port = ExportDisk(*destination_qmp, destination.migration_address);
    if (!nbd_port.ok()) return roll_back(nbd_port.error());
    const json target = {{"driver", "nbd"},
                         {"node-name", kMirrorTargetNode},
                         {"server",
                          {{"type", "inet"},
                           {"host", destination.migration_address},
                           {"port", std::to_string(*nbd_port)}}},
                         {"export", kDiskExport}};
    if (Result<json> r = source_qmp->Execute("blockdev-add", target); !r.ok())
      return roll_back("the source cannot reach the destination's disk: " + r.error());
    const json mirror = {
        {"job-id", kMirrorJob},
        {"device", kDiskNode},
        {"target", kMirrorTargetNode},
        {"sync", "full"},
        {"copy-mode", options.disk_copy_mode == hypervisor::DiskCopyMode::kWriteBlocking
                          ? "write-blocking"
                          : "background"}};
    if (Result<json> r = source_qmp->Execute("blockdev-mirror", mirror); !r.ok()) {
      (void)source_qmp->Execute("blockdev-del", {{"node-name", kMirrorTargetNode}});
      return roll_back(r.error());
    }
    mirror_started = true;
    // Greenshift's tuning only: QEMU's defaults (and libvirt's) leave the image to the flush.
    if (options.tuning == hypervisor::Tuning::kGreenshift) {
      Result<std::unique_ptr<BackgroundFsync>> sync =
          BackgroundFsync::Start(DiskPath(config_, name, destination.name), kDestinationSyncPeriod);
      if (sync.ok()) {
        destination_sync = std::move(*sync);
      } else {
        // Not a reason to fail: the switchover's flush writes it all, in a longer pause.
        Log(LogLevel::kWarning, "migration.disk_sync_unavailable",
            {{"vm", name}, {"error", sync.error()}});
      }
    }
    const SteadyTime disk_started = SteadyNow();
    SteadyTime next_disk_query = disk_started;
    int64_t last_offset = -1;
    SteadyTime last_advance = disk_started;
    // The copy's progress, read every 100 ms: its rate is the link's (MedianCopyRate).
    std::vector<hypervisor::CopyReading> copy_readings;
    while (!watch.mirror_ready) {
      Result<std::vector<QmpEvent>> events = source_qmp->PollEvents(milliseconds(20));
      if (!events.ok()) {
        forget_destination();
        return fail("the source QEMU exited during the disk copy: " + events.error());
      }
      Absorb(*events, true, watch);
      if (watch.mirror_ended || !watch.mirror_error.empty()) {
        const std::string dead =
            destination_died() ? " (the destination QEMU on site " + destination.name + " exited)"
                               : "";
        return roll_back("the disk copy failed" +
                         (watch.mirror_error.empty() ? "" : ": " + watch.mirror_error) + dead);
      }
      const SteadyTime now = SteadyNow();
      if (now >= next_disk_query) {
        next_disk_query = now + milliseconds(100);
        if (Result<json> jobs = source_qmp->Execute("query-block-jobs"); jobs.ok()) {
          for (const json& job : *jobs) {
            if (job.value("device", std::string()) != kMirrorJob) continue;
            watch.mirror_offset = job.value("offset", int64_t{0});
            watch.mirror_length = job.value("len", int64_t{0});
          }
          copy_readings.push_back({MillisBetween(disk_started, now), watch.mirror_offset});
        }
        if (progress) {
          MigrationProgress p;
          p.phase = hypervisor::MigrationPhase::kDiskCopy;
          p.disk_transferred_bytes = watch.mirror_offset;
          p.disk_remaining_bytes = std::max<int64_t>(0, watch.mirror_length - watch.mirror_offset);
          p.elapsed_ms = MillisBetween(started, now);
          progress(p);
        }
      }
      if (InstancePid(name, destination.name) == 0) {
        // Worded as the mirror job's own failure above: which of the two sees the dead
        // destination first is a race.
        return roll_back("the disk copy failed (the destination QEMU on site " + destination.name +
                         " exited)");
      }
      if (cancel_asked()) return roll_back("migration was cancelled");
      if (watch.mirror_offset != last_offset) {
        last_offset = watch.mirror_offset;
        last_advance = now;
      } else if (now - last_advance >= kStall) {
        return roll_back("the disk copy made no progress for " + std::to_string(kStall.count()) +
                         " s at " + std::to_string(watch.mirror_offset >> 20) +
                         " MiB (is the link to site " + destination.name + " down?)");
      }
      if (now >= deadline) {
        return roll_back("the disk copy did not catch up within " +
                         std::to_string(options.timeout.count()) + " ms (" +
                         std::to_string(watch.mirror_offset >> 20) + " of " +
                         std::to_string(watch.mirror_length >> 20) + " MiB copied)");
      }
    }
    result.disk_copy_ms = MillisBetween(disk_started, SteadyNow());
    // Over spans of a second, at least five of them: a shorter copy tells too little, and QEMU
    // then measures the bandwidth itself.
    if (const double rate = hypervisor::MedianCopyRate(copy_readings, 1000, 5); rate > 0)
      result.disk_rate_bytes_s = rate;
    if (options.disk_copy_mode == hypervisor::DiskCopyMode::kAuto) {
      // Caught up: from now on every guest write reaches both disks before it completes, so the
      // copy cannot fall behind during the memory copy and ends at once at the switchover.
      const json change = {{"id", kMirrorJob}, {"type", "mirror"}, {"copy-mode", "write-blocking"}};
      if (Result<json> r = source_qmp->Execute("block-job-change", change); !r.ok())
        return roll_back(r.error());
    }
  }
  phase = "memory copy";

  // Every capability this driver ever sets is set here, on or off: a source QEMU keeps what an
  // earlier migration that rolled back set (post-copy left on where the destination has it off
  // fails the next migration: the destination QEMU exits when the stream advises post-copy).
  // With a disk, the source stops before its last memory round and waits: the mirror is ended
  // there, with the guest paused, so the destination's disk is complete before the guest runs
  // there.
  json capabilities = json::array({
      {{"capability", "events"}, {"state", true}},
      {{"capability", "pause-before-switchover"}, {"state", has_disk}},
      {{"capability", "auto-converge"},
       {"state", options.tuning == hypervisor::Tuning::kGreenshift && options.auto_converge}},
      {{"capability", "postcopy-ram"}, {"state", postcopy_allowed}},
      {{"capability", "xbzrle"}, {"state", options.tuning == hypervisor::Tuning::kGreenshift}},
  });
  if (Result<json> r =
          source_qmp->Execute("migrate-set-capabilities", {{"capabilities", capabilities}});
      !r.ok()) {
    return roll_back(r.error());
  }
  if (options.tuning != hypervisor::Tuning::kGreenshift) {
    // QEMU's own defaults, said again: a source keeps the parameters an earlier migration that
    // rolled back set.
    json defaults = {{"max-bandwidth", int64_t{128} << 20},
                     {"downtime-limit", 300},
                     {"avail-switchover-bandwidth", 0}};
    if (Result<json> r = source_qmp->Execute("migrate-set-parameters", defaults); !r.ok()) {
      return roll_back(r.error());
    }
  } else {
    // QEMU's default cap is 128 MiB/s, below what a veth or a 10G link carries; the faster the
    // last round goes, the shorter the downtime.
    const int64_t bandwidth = options.max_bandwidth_bytes_s > 0 ? options.max_bandwidth_bytes_s
                                                                : int64_t{10} * 1024 * 1024 * 1024;
    // And a page sent before and written again since goes as its difference from what was sent
    // (QEMU's XBZRLE, from a cache of sent pages on the source, hypervisor::DeltaCacheBytes),
    // not whole: what a guest's kernel rewrites between passes (counters, lists, buffer headers)
    // differs in a few bytes, and the last round, sent with the guest paused, is nearly all
    // such pages. Measured at 100 Mbit/s (bench/storage.sh, 3 runs each, with the stream's
    // cap): paused 18-28 ms instead of 41-43 without a disk, 28-31 ms instead of 73-78 writing
    // a copied disk at 5 MB/s; on an unshaped link unchanged (8.5-9.5 ms, the stream as fast).
    // The cache is in the source QEMU for the migration's length.
    json parameters = {
        {"max-bandwidth", bandwidth},
        {"downtime-limit", options.downtime_limit_ms},
        {"avail-switchover-bandwidth", 0},  // 0: QEMU measures it
        {"xbzrle-cache-size", hypervisor::DeltaCacheBytes(record.machine.spec.memory_mib)}};
    if (result.disk_rate_bytes_s > 0) {
      // While the memory is copied the guest's disk writes share the link, so QEMU measures
      // less bandwidth than the switchover will have (the guest is paused then: no writes) and
      // judges the last round too long to stop for. Tell it what the disk copy measured.
      parameters["avail-switchover-bandwidth"] =
          static_cast<int64_t>(std::min(result.disk_rate_bytes_s, static_cast<double>(bandwidth)));
    }
    if (Result<json> r = source_qmp->Execute("migrate-set-parameters", parameters); !r.ok()) {
      return roll_back(r.error());
    }
    result.downtime_target_ms = options.downtime_limit_ms;
  }

  const std::string uri = "tcp:" + destination.migration_address + ":" + std::to_string(port);
  if (cancel_asked()) return roll_back("migration was cancelled");
  // Under greenshift's tuning the stream is greenshift's connection, made from the source's site
  // and handed to its QEMU, with little room for data not yet sent (kStreamUnsentBytes); QEMU's
  // defaults connect it themselves, as libvirt's do.
  UniqueFd stream;
  std::string migrate_uri = uri;
  if (options.tuning == hypervisor::Tuning::kGreenshift) {
    Result<UniqueFd> connected =
        ConnectTcp(source.netns, destination.migration_address, port, kStreamConnectTimeout);
    if (!connected.ok()) return roll_back("the migration stream: " + connected.error());
    stream = std::move(*connected);
    if (Status capped = SetTcpUnsentLimit(stream.get(), kStreamUnsentBytes); !capped.ok())
      return roll_back("the migration stream: " + capped.message());
    if (Result<json> r = source_qmp->PassFd(kStreamFdName, stream.get()); !r.ok())
      return roll_back(r.error());
    migrate_uri = std::string("fd:") + kStreamFdName;
  }
  if (Result<json> r = source_qmp->Execute("migrate", {{"uri", migrate_uri}}); !r.ok()) {
    if (stream.valid()) (void)source_qmp->Execute("closefd", {{"fdname", kStreamFdName}});
    return roll_back(r.error());
  }
  stream.reset();  // QEMU has its own copy: the connection is its from here, closed when it ends

  // After the switch to post-copy there is no way back (see driver.h). A destination that dies
  // then takes the VM with it; the source's state is older than the guest's, never resumed.
  auto lose_in_postcopy = [&](const std::string& why) {
    DestroyInstance(name, destination);  // what is left of it: tap, files (never its disk)
    fail(why + ": the VM's memory was split between the sites and is lost (its source on site " +
         source.name +
         " keeps a paused copy older than what the guest did after the switch; it is not "
         "resumed). Stop the VM and start it again from its disk" +
         (has_disk ? ": the newest is " + DiskPath(config_, name, destination.name) +
                         ", which holds every write the guest made (the source's image stops at "
                         "the switch)"
                   : std::string()));
    result.running_on.clear();  // not the source, whose QEMU is still there
    return result;
  };
  // A broken link in post-copy: pause, wait for the link, resume (ResumePostcopy).
  auto recover_postcopy = [&]() -> std::optional<MigrationResult> {
    std::string said;
    const PostcopyResume resumed = ResumePostcopy(
        *source_qmp, *destination_qmp, source, destination.migration_address, uri,
        SteadyNow() + options.postcopy_recover_timeout,
        [&]() { return InstancePid(name, destination.name) != 0; }, said);
    if (resumed == PostcopyResume::kResumed) {
      ++result.postcopy_recoveries;
      return std::nullopt;
    }
    if (resumed == PostcopyResume::kDestinationDied) {
      return lose_in_postcopy("the destination QEMU on site " + destination.name +
                              " exited during post-copy");
    }
    fail("post-copy paused for " + std::to_string(options.postcopy_recover_timeout.count() / 1000) +
         " s (" + said + "): the guest runs on site " + destination.name +
         " but waits for memory still on site " + source.name + "; `greenshift vm recover " + name +
         "` resumes the migration once the link works");
    result.running_on = destination.name;  // its vCPUs are there, waiting for pages
    return result;
  };

  SteadyTime next_query = SteadyNow();
  bool disk_switched = false;
  int64_t last_ram_sent = -1;
  int next_raise_pass = kRaisePasses;
  SteadyTime last_ram_advance = SteadyNow();
  SteadyTime last_source_answer = SteadyNow();
  // Whether the memory copy sent anything since the last look (and so when it last did).
  auto ram_advanced = [&](SteadyTime now) {
    const int64_t sent = watch.last_info.contains("ram")
                             ? watch.last_info["ram"].value("transferred", int64_t{0})
                             : 0;
    if (sent == last_ram_sent) return false;
    last_ram_sent = sent;
    last_ram_advance = now;
    return true;
  };
  // Post-copy: the pass last seen and what remained to send when it began (is pre-copy stuck?).
  int last_pass_seen = 0;
  int64_t remaining_at_last_pass = -1;
  while (true) {
    Result<std::vector<QmpEvent>> source_events = source_qmp->PollEvents(milliseconds(20));
    if (!source_events.ok()) {
      // The source QEMU itself died: nothing runs anywhere but possibly the destination, which
      // has not received a complete state. That is the one case we cannot roll back from.
      forget_destination();
      return fail("the source QEMU exited during the migration: " + source_events.error());
    }
    Absorb(*source_events, true, watch);
    Result<std::vector<QmpEvent>> destination_events = destination_qmp->PollEvents(milliseconds(0));
    if (destination_events.ok()) Absorb(*destination_events, false, watch);
    // The third pass began (its event came): query now, so that XBZRLE's counters are taken
    // as it begins (below), not up to 100 ms into it.
    const bool third_pass_unnoted = watch.xbzrle_after_second_pass.is_null() && !result.postcopy;
    if (third_pass_unnoted && watch.passes >= 3) next_query = SteadyNow();

    const SteadyTime now = SteadyNow();
    if (now >= next_query) {
      next_query = now + milliseconds(100);
      Result<json> info = source_qmp->Execute("query-migrate", json::object(), kQueryTimeout);
      if (!info.status().IsUnavailable()) {
        last_source_answer = SteadyNow();
      } else if (!result.postcopy && SteadyNow() - last_source_answer >= kSourceSilent) {
        // Before the destination goes, make sure it never starts the guest: `stop` on a QEMU
        // still receiving clears its autostart. Had it received everything already (the
        // source's flush and last round done in the very last moment), it holds the VM: it
        // goes on there, and the source, done sending, answers again soon with "completed".
        (void)destination_qmp->Execute("stop");
        Result<json> destination_state = destination_qmp->Execute("query-status");
        if (destination_state.ok() &&
            destination_state->value("status", std::string()) != "inmigrate") {
          (void)destination_qmp->Execute("cont");
          last_source_answer = SteadyNow();
          continue;
        }
        source_blocked = true;
        const SharedDisk& shared = record.machine.shared_disk;
        const std::string disk = shared.host.empty()
                                     ? ""
                                     : " (shared over " + shared.protocol + " from " + shared.host +
                                           ": is that server down?)";
        // Its migration fails once it answers again, as its destination is gone; the guest
        // then goes on there.
        return roll_back("the source QEMU on site " + source.name + " stopped answering for " +
                         std::to_string(kSourceSilent.count()) +
                         " s, most likely waiting for its disk" + disk +
                         "; the guest stays paused there until its disk answers");
      }
      if (info.ok()) {
        watch.last_info = *info;
        watch.status = info->value("status", watch.status);
        if (third_pass_unnoted && info->contains("ram") &&
            (*info)["ram"].value("dirty-sync-count", 0) >= 3) {
          // What XBZRLE counted so far is the second pass filling its cache (no counters at
          // all under QEMU's defaults: ResentBytes then says nothing).
          watch.xbzrle_after_second_pass =
              info->contains("xbzrle-cache") && (*info)["xbzrle-cache"].is_object()
                  ? (*info)["xbzrle-cache"]
                  : json::object();
        }
        if (info->contains("error-desc")) watch.error = (*info)["error-desc"].get<std::string>();
        if (progress && info->contains("ram")) {
          const json& ram = (*info)["ram"];
          MigrationProgress p;
          p.phase = PhaseOf(watch.status);
          p.pass = ram.value("dirty-sync-count", 0);
          p.transferred_bytes = ram.value("transferred", int64_t{0});
          p.remaining_bytes = ram.value("remaining", int64_t{0});
          p.disk_transferred_bytes = watch.mirror_offset;
          p.elapsed_ms = MillisBetween(started, now);
          progress(p);
        }
        if (postcopy_allowed && !result.postcopy && watch.status == "active" &&
            info->contains("ram")) {
          // Stuck (hypervisor::PrecopyStuck): switch while the guest's pause is still short.
          const int pass = (*info)["ram"].value("dirty-sync-count", 0);
          const int64_t remaining = (*info)["ram"].value("remaining", int64_t{0});
          if (pass > last_pass_seen) {
            if (std::optional<std::string> why =
                    hypervisor::PrecopyStuck(pass, remaining, remaining_at_last_pass)) {
              if (Result<json> r = source_qmp->Execute("migrate-start-postcopy"); r.ok()) {
                result.postcopy = true;
                result.postcopy_reason = *why;
                record.postcopy = true;
                record.migration_uri = uri;
                (void)SaveRecord(record);
                phase = "post-copy";
              }
            }
            last_pass_seen = pass;
            remaining_at_last_pass = remaining;
          }
        }
      }
    }
    if (watch.status == "device" || watch.status == "pre-switchover") phase = "switchover";
    if (has_disk && !disk_switched && (watch.mirror_ended || !watch.mirror_error.empty())) {
      // The mirror gave up while the memory was copied: the destination's disk is behind.
      return roll_back("the disk mirror failed" +
                       (watch.mirror_error.empty() ? "" : ": " + watch.mirror_error));
    }
    if (has_disk && !disk_switched && destination_sync && !destination_sync->error().empty()) {
      // The destination's disk does not keep what it is given: the guest must not move there.
      return roll_back("the destination's disk image failed: " + destination_sync->error());
    }
    if (has_disk && watch.status == "pre-switchover" && !disk_switched) {
      // The guest is paused before the last memory round (or the switch to post-copy): end the
      // mirror (cancelling a mirror that has caught up first copies what is left), then let the
      // last round (or post-copy) go.
      phase = "switchover";
      // QEMU flushed the disks as it stopped the guest: nothing more to sync ahead of it.
      if (destination_sync) destination_sync->Stop();
      if (Result<json> r = source_qmp->Execute("block-job-cancel", {{"device", kMirrorJob}});
          !r.ok()) {
        return roll_back(r.error());
      }
      const SteadyTime ends_by = SteadyNow() + std::chrono::seconds(30);
      while (!watch.mirror_ended && SteadyNow() < ends_by) {
        Result<std::vector<QmpEvent>> events = source_qmp->PollEvents(milliseconds(20));
        if (!events.ok()) break;
        Absorb(*events, true, watch);
      }
      if (!watch.mirror_ended) return roll_back("the disk copy did not end at the switchover");
      if (!watch.mirror_error.empty())
        return roll_back("the disk copy failed at the switchover: " + watch.mirror_error);
      mirror_started = false;
      if (options.compare_disks_at_switchover) {
        Result<CommandOutput> compared =
            RunCommand({"qemu-img", "compare", "-U", DiskPath(config_, name, source.name),
                        DiskPath(config_, name, destination.name)},
                       RunOptions{"", std::chrono::minutes(10)});
        std::string said =
            compared.ok() ? compared->stdout_text + compared->stderr_text : compared.error();
        while (!said.empty() && said.back() == '\n') said.pop_back();
        result.disk_compare = compared.ok() && compared->exit_code == 0 ? "identical" : said;
      }
      Result<json> continued =
          source_qmp->Execute("migrate-continue", {{"state", "pre-switchover"}});
      const int64_t continued_wall_us = UnixMicros(WallNow());
      // The mirror's client node is unused since the mirror ended: deleted once the switch
      // goes on, outside the guest's pause (1-4 ms of it measured).
      (void)source_qmp->Execute("blockdev-del", {{"node-name", kMirrorTargetNode}});
      if (!continued.ok()) return roll_back(continued.error());
      disk_switched = true;
      watch.timeline.push_back({(continued_wall_us - watch.started_wall_us) / 1000.0, source.name,
                                hypervisor::MigrationEventKind::kDiskSwitched, ""});
      // The pause (the mirror's end, a comparison of the images) sent no memory: post-copy's
      // stall is counted from here, not from the last pass.
      last_ram_advance = SteadyNow();
      if (result.postcopy) phase = "post-copy";
      continue;
    }
    if (result.postcopy && (!has_disk || disk_switched)) {
      // Past the point of no return: the guest runs (or is about to) on the destination. (With
      // a disk copied along, not before its mirror ended at the pause above: until then the
      // whole VM is on its source, and what fails rolls back as in pre-copy.)
      if (watch.status == "completed") break;
      if (InstancePid(name, destination.name) == 0 || watch.status == "failed") {
        return lose_in_postcopy("the destination QEMU on site " + destination.name +
                                " exited during post-copy");
      }
      ram_advanced(now);
      if (watch.status == "postcopy-paused" || now - last_ram_advance >= kPostcopyStall) {
        phase = "post-copy (link broken)";
        if (std::optional<MigrationResult> ended = recover_postcopy()) return *ended;
        phase = "post-copy";
        last_ram_advance = SteadyNow();
        watch.status = MigrationStatusOf(*source_qmp);
      }
      continue;
    }
    if (watch.status == "completed") break;
    if (watch.status == "failed") {
      std::string why = "migration failed";
      if (destination_died()) {
        why = "the destination QEMU on site " + destination.name + " exited during the migration";
      }
      return roll_back(why + (watch.error.empty() ? "" : " (QEMU: " + watch.error + ")"));
    }
    if (watch.status == "cancelled") return roll_back("migration was cancelled");
    if (InstancePid(name, destination.name) == 0) {
      // A migrate_cancel sent to the source by someone else (by hand over QMP) ends the
      // destination too, at once: ask the source how its migration ended before blaming it.
      if (Result<json> info = source_qmp->Execute("query-migrate"); info.ok()) {
        const std::string status = info->value("status", std::string());
        if (status == "cancelled" || status == "cancelling")
          return roll_back("migration was cancelled");
      }
      return roll_back("the destination QEMU on site " + destination.name +
                       " exited during the migration");
    }
    if (cancel_asked()) return roll_back("migration was cancelled");
    if (watch.status == "active" && result.downtime_target_ms > 0 &&
        result.downtime_target_ms < options.max_downtime_ms && watch.last_info.contains("ram")) {
      // Not converging: every kRaisePasses passes QEMU still expects more downtime than the
      // target. What it keeps re-sending is memory the guest rewrites faster than one pass
      // takes; throttling the vCPUs does not shrink that set when devices and the kernel's I/O
      // path write it. Raise the target towards what QEMU expects, within the budget.
      const int passes = watch.last_info["ram"].value("dirty-sync-count", 0);
      const int64_t expected_ms = watch.last_info.value("expected-downtime", int64_t{0});
      if (passes >= next_raise_pass && expected_ms > result.downtime_target_ms) {
        const int raised = static_cast<int>(std::min<int64_t>(
            options.max_downtime_ms,
            std::max<int64_t>(2 * int64_t{result.downtime_target_ms}, expected_ms * 5 / 4)));
        if (source_qmp->Execute("migrate-set-parameters", {{"downtime-limit", raised}}).ok())
          result.downtime_target_ms = raised;
        next_raise_pass = passes + kRaisePasses;
      }
    }
    if (watch.status == "active") {
      if (!ram_advanced(now) && now - last_ram_advance >= kStall) {
        return roll_back("the memory copy made no progress for " + std::to_string(kStall.count()) +
                         " s (is the link to site " + destination.name + " down?)");
      }
    }
    if (now >= deadline) {
      return roll_back("migration did not finish within " +
                       std::to_string(options.timeout.count()) +
                       " ms (last status: " + watch.status + ")");
    }
  }

  // The source has sent everything and is paused. The VM must now run on the destination before
  // the source may go.
  if (Result<json> info = source_qmp->Execute("query-migrate"); info.ok()) watch.last_info = *info;
  // After a live migration the destination starts by itself. After a regular one it takes over
  // the paused run state it received: once it has loaded everything (it leaves "inmigrate"), start
  // it. A `cont` sent while it still loads would be overridden by the received state.
  bool destination_running = false;
  for (int i = 0; i < 1000 && !destination_running; ++i) {
    Result<json> state = destination_qmp->Execute("query-status");
    if (!state.ok()) break;
    const std::string status = state->value("status", std::string());
    destination_running = status == "running";
    if (!destination_running && options.mode == MigrationMode::kOffline && status == "paused") {
      if (Result<json> r = destination_qmp->Execute("cont"); !r.ok()) break;
      continue;
    }
    if (!destination_running) SleepMs(10);
  }
  if (!destination_running) {
    const std::string why = "the VM did not start running on site " + destination.name +
                            " after the migration completed";
    return result.postcopy ? lose_in_postcopy(why) : roll_back(why);
  }
  if (result.postcopy) {
    if (Result<json> info = destination_qmp->Execute("query-migrate");
        info.ok() && info->contains("postcopy-blocktime")) {
      result.postcopy_blocktime_ms = (*info)["postcopy-blocktime"].get<double>();
    }
  }
  if (Result<std::vector<QmpEvent>> events = destination_qmp->PollEvents(milliseconds(200));
      events.ok()) {
    Absorb(*events, false, watch);
  }
  if (Result<std::vector<QmpEvent>> events = source_qmp->PollEvents(milliseconds(0)); events.ok()) {
    Absorb(*events, true, watch);
  }

  if (has_disk) {
    // Nobody writes through the export any more (the source deleted its client at the
    // switchover); it must not stay open on the network.
    (void)destination_qmp->Execute("block-export-del", {{"id", kDiskExport}, {"mode", "hard"}});
    (void)destination_qmp->Execute("nbd-server-stop");
  }

  // The destination runs: record the move first, then end the source and its disk.
  record.site = destination.name;
  record.migrating_to.clear();
  record.postcopy = false;
  record.migration_uri.clear();
  (void)SaveRecord(record);
  source_qmp.reset();
  DestroyInstance(name, source);
  if (has_disk) RemoveDisk(name, source);

  fill_figures();
  result.completed = true;
  result.running_on = destination.name;
  result.total_ms = MillisBetween(started, SteadyNow());
  return result;
}

}  // namespace greenshift::qemu
