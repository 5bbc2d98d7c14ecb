// The hypervisor-neutral driver interface, the way libvirt's driver table is neutral: the qemu
// driver (QMP), the libvirt driver (libvirt's C API) and the sim driver (the pre-copy model) fill
// in the same calls, and callers never branch on the hypervisor. They ask what a driver can do
// (Capabilities) instead of assuming it. A VM is named on its host by its name (and its UUID
// where the hypervisor has one); a host is named by the driver's location string (a lab site for
// qemu, a host's name for libvirt and sim).
// Progress, events and results are in neutral terms (phase, bytes, passes, pause): each driver's
// own names (QMP's MIGRATION, STOP, RESUME...) stay inside it.
//
// Promise of every driver: a failed migration leaves the VM running on its source, with nothing
// of it left on the destination, and says why. A VM is never left stopped or running twice.
// Post-copy (MigrationOptions::postcopy, where the driver has it) moves that line: once the
// driver switches to post-copy the guest runs on the destination while the rest of its memory
// still comes from the source, and there is no way back. From then on a link cut stalls the
// migration and it goes on when the link returns (within postcopy_recover_timeout: the qemu
// driver pauses it and resumes it over a new connection, the libvirt driver rides the cut out on
// the connection it has; the guest waits for the pages it lacks meanwhile, and nothing can cancel
// it); a destination that dies, or a source that dies before
// every page was sent, takes the VM with it (result.running_on empty; the source is never
// resumed, as its state is older than what the guest did on the destination). Callers allow
// post-copy only for VMs that may be lost that way. A disk copied along is complete on the
// destination before the switch (its copy is ended with the guest paused there), and a VM lost
// after it keeps its destination's image, which holds every write the guest acknowledged: the
// failure names it.
//
// Threading: a driver may be called from several threads at once (the service's executor runs
// one migration per thread, its loop lists VMs meanwhile). Calls about different VMs proceed in
// parallel; calls about one VM are serialized by the driver where they would conflict (a second
// migration of a VM that is migrating fails with why). CancelMigration and the cancel flag of
// MigrationOptions may come from any thread while Migrate runs.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace greenshift::hypervisor {

// What every hypervisor knows of a VM. How a VM is made (a kernel and its command line, a
// domain's XML) is its creator's business, through the concrete driver (the lab starts its
// guests through qemu::QemuDriver::StartVm); the neutral interface finds, moves and stops VMs,
// including VMs it did not start.
struct VmSpec {
  std::string name;
  int memory_mib = 256;
  int vcpus = 1;
  // Its disk, 0 when it has none. Where it lives is the creator's business (the qemu driver:
  // on the VM's host, mirrored to the destination while the guest runs and writes; or on
  // shared storage, where a migration leaves it: qemu::Machine::shared_disk).
  int disk_gib = 0;
};

// kMigrating: a migration of the VM runs, whether or not a copy of it exists elsewhere yet (or
// still: libvirt's aborted job may outlive the destination's copy); another one is refused.
enum class VmState { kRunning, kPaused, kMigrating, kStopped, kUnknown };
const char* VmStateName(VmState state);

struct VmInfo {
  VmSpec spec;
  std::string uuid;  // the hypervisor's identity of the VM (empty where there is none)
  std::string host;  // where it runs now: the driver's location string
  VmState state = VmState::kUnknown;
  int pid = 0;                      // the hypervisor process, where there is one
  std::vector<std::string> copies;  // hosts where a process of this VM exists (normally `host`)
  // What the VM's creator attached to it, kept by the hypervisor with the VM and read back by
  // anyone (libvirt: the domain's <metadata>; qemu: the driver's record). The lab keeps its
  // guests' address and workload here ("ip", "mac", "dirty_mb_s", "dirty_size_mib").
  std::map<std::string, std::string> metadata;
  // Empty, or what the hypervisor did not answer about the VM in time, in words: the VM is
  // listed all the same, its state as the hypervisor knows it, the figures it did not give zero.
  std::string unanswered;
};

// What a driver can do. The executor and the planner ask; they never assume.
struct Capabilities {
  bool live_migration = false;     // pre-copy, the guest running
  bool offline_migration = false;  // stop, copy, start
  bool auto_converge = false;      // throttling a guest that does not converge
  bool post_copy = false;          // switching to the destination before the copy ends
  bool downtime_limit = false;     // a target for the final pause
  bool bandwidth_limit = false;    // a cap on the migration stream
  bool disk_copy = false;          // copying disks that are not shared along
  bool dirty_rate = false;         // MeasureDirtyRate
  bool cancel = false;             // stopping a running migration (the VM stays on its source)
  bool recovery = false;           // Recover: settling a migration left by a dead caller
  bool adopt = false;              // lists and moves VMs that others started on its hosts
  bool switchover_hooks = false;   // calls MigrationOptions::switchover at the switchover
  // Pages sent again go as differences from the copy sent before where greenshift's tuning
  // asks (QEMU's XBZRLE); the result says what they took (resent_page_bytes, _wire_bytes).
  bool delta_encoding = false;
  // The names of what it has ("live", "offline", ...), for logs and the API.
  std::vector<std::string> Names() const;
};

enum class MigrationMode { kLive, kOffline };
const char* MigrationModeName(MigrationMode mode);

// How a migration is tuned. kGreenshift sets bandwidth, downtime target and auto-converge from
// what greenshift knows (and, where the driver can, keeps a copied disk's destination image
// synced during the copy, so the flush at the switch is short); kQemuDefaults leaves every QEMU
// parameter at its default (for comparison).
enum class Tuning { kGreenshift, kQemuDefaults };

enum class DiskCopyMode { kAuto, kBackground, kWriteBlocking };
const char* DiskCopyModeName(DiskCopyMode mode);

// Whether a live migration may switch to post-copy: never (pre-copy only; a guest that does not
// converge fails and stays on its source), or when pre-copy is stuck (its memory still to send
// no longer shrinks from one pass to the next: the guest rewrites it as fast as it is sent).
enum class PostcopyPolicy { kNever, kWhenStuck };
const char* PostcopyPolicyName(PostcopyPolicy policy);

// What the network does when the guest changes place (a routed network steering the VM's address
// to where it runs: lab/routing.h). Each is called on the migrating thread, at most once per
// migration and in this order, as soon as the driver sees it happen; each should return within
// milliseconds (the driver watches the migration meanwhile). Unset ones are skipped.
struct SwitchoverHooks {
  // The guest stopped on its source for the switchover (pre-copy's last pause, or the switch to
  // post-copy): from now on traffic for it is best sent to the destination, which holds it until
  // the guest runs there.
  std::function<void()> source_paused;
  // The guest runs on the destination.
  std::function<void()> destination_running;
  // The switchover failed after source_paused: the guest runs on its source again.
  std::function<void()> source_running_again;
};

struct MigrationOptions {
  MigrationMode mode = MigrationMode::kLive;
  Tuning tuning = Tuning::kGreenshift;
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
  int downtime_limit_ms = 20;  // greenshift tuning: target downtime
  // greenshift tuning: the most downtime allowed. A guest whose hot memory cannot be sent
  // within the target (the copy keeps going round without converging) gets its target raised
  // step by step, up to this, rather than being throttled forever; 300 ms is QEMU's own default
  // target, so greenshift never stops a guest longer than QEMU would by default.
  int max_downtime_ms = 300;
  int64_t max_bandwidth_bytes_s = 0;  // greenshift tuning: 0 means "as fast as the link goes"
  bool auto_converge = true;  // greenshift tuning: throttle the guest if it does not converge
  // Set from another thread (a signal handler) to cancel; the VM stays on its source.
  const std::atomic<bool>* cancel_requested = nullptr;
  // How a disk is copied while the guest writes: kAuto copies in the background (the guest's
  // writes are not slowed) and, once the copy has caught up, mirrors every write synchronously
  // so it stays caught up through the memory copy; the other two hold one mode throughout.
  DiskCopyMode disk_copy_mode = DiskCopyMode::kAuto;
  // Compare the source's and destination's disk images at the switchover (the guest paused, the
  // copy ended), into MigrationResult.disk_compare. For tests: it lengthens the pause.
  bool compare_disks_at_switchover = false;
  // Post-copy when pre-copy is stuck (greenshift tuning, live, a driver with post_copy; with a
  // disk copied along, only once its copy has caught up). See the promise at the top.
  PostcopyPolicy postcopy = PostcopyPolicy::kNever;
  // In post-copy a broken link stalls the migration; it goes on once the link works again, for
  // at most this long. After that the VM stays split until `Recover` sees it through.
  std::chrono::milliseconds postcopy_recover_timeout{std::chrono::minutes(2)};
  // The network follows the guest (drivers with Capabilities::switchover_hooks call them).
  SwitchoverHooks switchover;
};

// Where a migration is: setting up, copying the disk, copying memory while the guest runs,
// switching over (the guest paused), in post-copy (the guest runs on the destination, the rest
// of its memory follows), or ended.
enum class MigrationPhase {
  kSetup,
  kDiskCopy,
  kCopying,
  kSwitchover,
  kPostcopy,
  kCompleted,
  kFailed,
  kCancelled
};
const char* MigrationPhaseName(MigrationPhase phase);

struct MigrationProgress {
  MigrationPhase phase = MigrationPhase::kSetup;
  int pass = 0;                   // memory passes so far (the bulk copy is the first)
  int64_t transferred_bytes = 0;  // memory
  int64_t remaining_bytes = 0;
  int64_t disk_transferred_bytes = 0;  // disk (0 without a disk to copy)
  int64_t disk_remaining_bytes = 0;
  double elapsed_ms = 0;
};

// One thing that happened during a migration, on the source or the destination.
enum class MigrationEventKind {
  kPhase,    // the migration entered a phase (detail: its name)
  kPass,     // a memory pass began (detail: its number)
  kPaused,   // the guest stopped running here
  kResumed,  // the guest runs here again
  // A copied disk's copy ended, the guest paused: the destination's disk is whole, the switch
  // goes on. Between the source's switchover phase and this, the pause was the disk's.
  kDiskSwitched,
};
const char* MigrationEventKindName(MigrationEventKind kind);

struct MigrationEvent {
  double at_ms = 0;  // the hypervisor's timestamp, relative to the start of the migration
  std::string host;  // where it happened
  MigrationEventKind kind = MigrationEventKind::kPhase;
  std::string detail;  // the phase, or the pass number
};

struct MigrationResult {
  std::string vm, from, to;
  MigrationMode mode = MigrationMode::kLive;
  bool completed = false;
  std::string error;  // why it failed; empty when completed
  // Where the VM runs after the call: `to` when completed, `from` after a roll-back, empty when
  // it runs nowhere (its source QEMU died during the migration).
  std::string running_on;
  double total_ms = 0;      // from the command to the VM running on the destination
  double downtime_ms = -1;  // the hypervisor's own figure (-1 when it reported none)
  // The guest stopped on the source to resumed on the destination, from the hypervisor's events
  // (-1 when they were not seen).
  double paused_ms = -1;
  int64_t bytes = 0;  // RAM bytes sent
  // RAM found all zero and sent as a flag, not as data (QEMU's ram.duplicate pages; -1: not
  // reported): the VM's memory less this is what it holds.
  int64_t zero_bytes = -1;
  // Pages sent again from the third pass on through the hypervisor's delta encoding (QEMU's
  // XBZRLE; the second pass fills its cache, so its pages all go whole): their size as pages,
  // and what they took on the wire (a difference from the copy sent before where the cache
  // held one, the whole page where not). -1: no encoding reported, or no third pass. Their
  // ratio is what such a page costs this guest (ResentWireFraction).
  int64_t resent_page_bytes = -1;
  int64_t resent_wire_bytes = -1;
  int64_t disk_bytes = 0;    // the disk copy's progress: the disk's size (zero areas are
                             // skipped, not sent) plus what the guest wrote again meanwhile
  double disk_copy_ms = -1;  // from the start of the disk copy until it had caught up
  // The disk copy's rate over the link (MedianCopyRate of its progress), which greenshift's
  // tuning gives QEMU as the bandwidth the switchover will have; -1: not measured (another
  // driver or tuning, or a copy too short to tell).
  double disk_rate_bytes_s = -1;
  std::string disk_copy_mode;  // how the disk was copied; empty without a disk
  // With compare_disks_at_switchover: "identical", or what differed.
  std::string disk_compare;
  // A copy of the disk that the driver could not remove where the VM no longer runs (the
  // source's after a completed copy, the destination's after a failed one), and why; empty when
  // nothing was left.
  std::string disk_left_behind;
  int passes = 0;                 // RAM passes (dirty bitmap syncs)
  int downtime_target_ms = -1;    // the downtime target at the end (raised when it had to be)
  std::string hypervisor_status;  // the last migration status in the hypervisor's own words
  double setup_ms = -1;
  int64_t mbps = 0;  // the hypervisor's last throughput figure, Mbit/s
  std::string tuning;
  // Post-copy: whether the migration switched to it, why, how long the guest's vCPUs waited
  // for pages in all (the destination's figure; -1 when not reported), and how often a broken
  // link was recovered from.
  bool postcopy = false;
  std::string postcopy_reason;
  double postcopy_blocktime_ms = -1;
  int postcopy_recoveries = 0;
  std::vector<MigrationEvent> events;  // the timeline, in order of arrival per side
};

nlohmann::json ToJson(const MigrationResult& result);

// When the source reported the migration copying (the first time) and completed, ms after the
// command, from result.events; -1 for what it did not report. The memory's copy ran between.
std::pair<double, double> CopyWindow(const MigrationResult& result);

// What a page sent again took on the wire, as a share of a page (resent_wire_bytes over
// resent_page_bytes, at most 1); -1 when the result reports no encoded pages.
double ResentWireFraction(const MigrationResult& result);

// The cache of pages already sent that greenshift's tuning gives the delta encoding of pages
// sent again (QEMU's XBZRLE, asked for directly or through libvirt) for a guest of
// `memory_mib`: 64 MiB (QEMU's default), at most a quarter of the guest's memory, a power of
// two (QEMU refuses any other). Pure.
int64_t DeltaCacheBytes(int memory_mib);

// A delta encoder's running counters (QEMU's xbzrle-cache, libvirt's compression job stats),
// as the hypervisor reports them at one moment. They count across every migration of one QEMU
// process, so a migration's own figures are the difference of two readings.
struct DeltaCounters {
  int64_t encoded_pages = 0;  // pages sent as a difference from the copy sent before
  int64_t encoded_bytes = 0;  // what those differences took on the wire
  int64_t cache_misses = 0;   // pages looked up but not in the cache: sent whole
  int64_t overflows = 0;      // pages whose difference was larger than the page: sent whole
};
// What was sent again between the readings `before` and `after`, pages of `page_bytes`:
// {as pages, on the wire}, bytes. A counter lower than before (a hypervisor that reset it)
// counts from zero; a negative one counts as nothing. Pure.
std::pair<int64_t, int64_t> ResentBetween(const DeltaCounters& before, const DeltaCounters& after,
                                          int64_t page_bytes);

// PostcopyPolicy::kWhenStuck's rule, the same in every driver: pre-copy is stuck when pass
// `pass` began with more than 80 % of the memory the pass before it began with
// (`remaining_bytes`, `previous_remaining_bytes`), from the third pass on (the first is the bulk
// copy; the second shows what the guest rewrites). Such a guest rewrites its memory as fast as it
// is sent; every further pass would be the same, so the switch comes while its pause is still
// short. Why, in words ("pass 3 began with 96.0 MiB to send, the pass before with 96.1 MiB: ..."),
// or nullopt when it is not stuck. Pure.
std::optional<std::string> PrecopyStuck(int pass, int64_t remaining_bytes,
                                        int64_t previous_remaining_bytes);

// One reading of a copy's progress: when (ms, on any steady clock) and how much was done.
struct CopyReading {
  double at_ms = 0;
  int64_t done_bytes = 0;
};
// The rate a copy went at, bytes/s, from readings of its progress in order of time: the median
// of its rates over consecutive spans of at least `span_ms` each (the middle two's mean for an
// even count), or 0 when fewer than `min_spans` such spans fit. Spans of a second rather than
// every reading: a copy's progress moves in whole requests (a QEMU mirror's, up to 1 MiB), so a
// reading every 100 ms at 100 Mbit/s sees one request or two, and the median of such rates read
// 9.0 MB/s where the link carried 12.5 (measured, 2026-12-05). A span in which the copy skipped
// zeros at once reads far above the rest, a stalled one 0: the median is the steady spans'. A
// count that went down counts as no progress. Pure.
double MedianCopyRate(const std::vector<CopyReading>& readings, double span_ms, size_t min_spans);

using ProgressCallback = std::function<void(const MigrationProgress&)>;

class Driver {
 public:
  virtual ~Driver() = default;
  virtual Capabilities GetCapabilities() const = 0;
  // Stops the VM wherever it runs and forgets it.
  virtual Status StopVm(const std::string& name) = 0;
  virtual Result<std::vector<VmInfo>> ListVms() = 0;
  virtual Result<VmInfo> GetVm(const std::string& name) = 0;
  // Moves a VM to `to_host`. Always returns a result; result.completed says whether it moved.
  // It returns even when the source's hypervisor stops answering mid-migration (a QEMU waiting
  // for a network disk whose server is gone): seconds later, nothing of the VM left on the
  // destination, result.running_on the source, where the guest stays paused until it can go on.
  // A mode the driver lacks (GetCapabilities) is refused with why; tuning it lacks
  // (auto-converge, a bandwidth cap, a downtime target) is ignored. Callers ask first.
  virtual MigrationResult Migrate(const std::string& name, const std::string& to_host,
                                  const MigrationOptions& options,
                                  const ProgressCallback& progress) = 0;
  // Asks a running migration of `name` (possibly driven by another process) to stop. OK means
  // the request is where the migration will see it, at any phase before its switchover (its
  // set-up and disk copy included): the migration then ends with the VM on its source and an
  // error that says it was cancelled. A migration past the switch to post-copy cannot be
  // cancelled (the guest runs on the destination); a VM that is not migrating is an error.
  virtual Status CancelMigration(const std::string& name) = 0;
  // Settles a VM whose migration was left behind by a process that died (the service killed in
  // the middle of a move): waits up to `timeout` for a migration that still runs, then keeps the
  // one copy that runs the VM (the destination when the move completed, else the source, resumed
  // if it was left paused) and ends the other. Returns where the VM runs then. A VM that is not
  // in a migration is returned as it is.
  virtual Result<VmInfo> Recover(const std::string& name, std::chrono::milliseconds timeout) = 0;
  // Measures how fast the running VM dirties its memory, in bytes per second, over `seconds`
  // (the input of the pre-copy model). The VM keeps running.
  virtual Result<double> MeasureDirtyRate(const std::string& name, int seconds) = 0;
};

}  // namespace greenshift::hypervisor
