#include "hypervisor/libvirt/libvirt_driver.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <tuple>
#include <type_traits>

#include "core/ask_within.h"
#include "core/clock.h"
#include "core/xml.h"

namespace greenshift::libvirt {

using hypervisor::MigrationEvent;
using hypervisor::MigrationEventKind;
using hypervisor::MigrationMode;
using hypervisor::MigrationOptions;
using hypervisor::MigrationPhase;
using hypervisor::MigrationProgress;
using hypervisor::MigrationResult;
using hypervisor::VmInfo;
using hypervisor::VmState;
using std::chrono::milliseconds;

namespace {

// libvirt's error of this thread (libvirt keeps the last error per thread), as a Status whose
// kind callers can branch on.
Status LastError(const std::string& context) {
  virErrorPtr e = virGetLastError();
  const std::string message =
      context + ": " + (e != nullptr && e->message != nullptr ? e->message : "libvirt failed");
  const int code = e != nullptr ? e->code : VIR_ERR_INTERNAL_ERROR;
  switch (code) {
    case VIR_ERR_NO_DOMAIN:
      return Status::NotFound(message);
    case VIR_ERR_NO_CONNECT:
    case VIR_ERR_SYSTEM_ERROR:
    case VIR_ERR_RPC:
    case VIR_ERR_AUTH_FAILED:
    case VIR_ERR_AUTH_UNAVAILABLE:
    case VIR_ERR_AUTH_CANCELLED:
      return Status::Unavailable(message);
    case VIR_ERR_OPERATION_INVALID:
    case VIR_ERR_DOM_EXIST:
    case VIR_ERR_OPERATION_ABORTED:
      return Status::Conflict(message);
    case VIR_ERR_XML_ERROR:
    case VIR_ERR_XML_DETAIL:
    case VIR_ERR_INVALID_ARG:
    case VIR_ERR_CONFIG_UNSUPPORTED:
      return Status::Invalid(message);
    default:
      return Status::Error(message);
  }
}

// A source whose job libvirt does not describe within this long during a migration is blocked:
// libvirt waits for its QEMU, and a QEMU that does not answer for so long is most likely
// flushing its disk at the switchover to a storage server that is gone (libiscsi and libnfs wait
// for it to come back). Its migration cannot complete. (Longer than the qemu driver's 5 s: the
// question goes through libvirtd, which also waits for its own job lock.)
constexpr std::chrono::seconds kSourceSilent{10};

// A post-copy whose memory sent does not grow for this long is stalled on a broken link (the
// push goes on at the link's rate otherwise); counted as a broken link recovered from when it
// grows again. (The qemu driver pauses and resumes its migration after 5 s; libvirt's rides out
// the cut on its own connection, whose TCP retries add up to a few seconds after a short cut.)
constexpr std::chrono::seconds kPostcopyStall{3};
// How long libvirt is left, after a migration was aborted, to end it (a second or two here)
// before the driver ends the destination's copy itself: in Recover, and in Migrate, which then
// returns rather than wait for a job stuck on a dead link.
constexpr std::chrono::seconds kAbortSettles{15};

// A source copy a completed post-copy left behind: paused, older than its destination, which has
// all of the memory. libvirt ends it itself once QEMU has sent everything, in its own time; one
// still there kAbortSettles after it was first seen is ended here (by Migrate when libvirt's call
// failed after the switch, by Recover when the caller was killed).
class LeftSender {
 public:
  // Called at each look that finds it: false only when it was due to be ended and
  // virDomainDestroy failed (libvirt's last error says why).
  bool EndWhenSettled(virDomainPtr domain) {
    if (first_seen_ == SteadyTime{}) first_seen_ = SteadyNow();
    if (SteadyNow() - first_seen_ < kAbortSettles) return true;
    return virDomainDestroy(domain) == 0;
  }

 private:
  SteadyTime first_seen_{};
};

// libvirt prints every error on stderr unless told otherwise: greenshift reports its own.
void QuietErrors(void*, virErrorPtr) {}

// libvirt's keepalive and domain events need an event loop in this process: one, for every
// driver, started before the first connection and run on its own thread until the process ends.
class EventLoop {
 public:
  static void Ensure() { static EventLoop loop; }

 private:
  EventLoop() {
    virInitialize();
    virSetErrorFunc(nullptr, QuietErrors);
    virEventRegisterDefaultImpl();
    // A periodic timer, so the loop wakes up to see that it must stop.
    timer_ = virEventAddTimeout(
        200, [](int, void*) {}, nullptr, nullptr);
    thread_ = std::thread([this] {
      while (!stop_) virEventRunDefaultImpl();
    });
  }
  ~EventLoop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (timer_ >= 0) virEventRemoveTimeout(timer_);
  }
  std::atomic<bool> stop_{false};
  int timer_ = -1;
  std::thread thread_;
};

struct DomainFree {
  void operator()(virDomainPtr d) const {
    if (d != nullptr) virDomainFree(d);
  }
};
using Domain = std::unique_ptr<std::remove_pointer_t<virDomainPtr>, DomainFree>;

// A reference on a connection: the connection stays open while it is used, even if the driver
// drops it meanwhile (a broken connection is replaced, not closed under a caller).
class ConnRef {
 public:
  ConnRef() = default;
  explicit ConnRef(virConnectPtr c) : c_(c) {
    if (c_ != nullptr) virConnectRef(c_);
  }
  ConnRef(const ConnRef&) = delete;
  ConnRef& operator=(const ConnRef&) = delete;
  ConnRef(ConnRef&& o) noexcept : c_(o.c_) { o.c_ = nullptr; }
  ConnRef& operator=(ConnRef&& o) noexcept {
    std::swap(c_, o.c_);
    return *this;
  }
  ~ConnRef() {
    if (c_ != nullptr) virConnectClose(c_);
  }
  virConnectPtr get() const { return c_; }

 private:
  virConnectPtr c_ = nullptr;
};

// Typed parameters (job stats, migration parameters), freed on scope exit.
struct Params {
  virTypedParameterPtr p = nullptr;
  int n = 0;
  int max = 0;
  Params() = default;
  Params(const Params&) = delete;
  Params& operator=(const Params&) = delete;
  ~Params() {
    if (p != nullptr) virTypedParamsFree(p, n);
  }
  int64_t Ull(const char* name, int64_t otherwise = -1) const {
    unsigned long long v = 0;
    return virTypedParamsGetULLong(p, n, name, &v) == 1 ? static_cast<int64_t>(v) : otherwise;
  }
  int Int(const char* name, int otherwise = -1) const {
    int v = 0;
    return virTypedParamsGetInt(p, n, name, &v) == 1 ? v : otherwise;
  }
};

int64_t WallUs() {
  return UnixMicros(WallNow());
}

// The XBZRLE counters of a job's stats, when it has them (libvirt reports them once QEMU
// does: with the encoding on), and its page size.
struct DeltaReading {
  hypervisor::DeltaCounters counters;
  int64_t page_bytes = 4096;
};
std::optional<DeltaReading> DeltaOf(const Params& stats) {
  if (stats.Ull(VIR_DOMAIN_JOB_COMPRESSION_CACHE) < 0) return std::nullopt;
  DeltaReading r;
  r.counters.encoded_pages = stats.Ull(VIR_DOMAIN_JOB_COMPRESSION_PAGES, 0);
  r.counters.encoded_bytes = stats.Ull(VIR_DOMAIN_JOB_COMPRESSION_BYTES, 0);
  r.counters.cache_misses = stats.Ull(VIR_DOMAIN_JOB_COMPRESSION_CACHE_MISSES, 0);
  r.counters.overflows = stats.Ull(VIR_DOMAIN_JOB_COMPRESSION_OVERFLOW, 0);
  const int64_t page = stats.Ull(VIR_DOMAIN_JOB_MEMORY_PAGE_SIZE, 0);
  if (page > 0) r.page_bytes = page;
  return r;
}

// How long listing VMs waits for one answer about a domain. libvirt answers some questions (a
// job's stats, a disk's size) only once it holds the domain's job lock and its QEMU answers: while
// a source QEMU flushes its disk to a storage server that is gone (libiscsi and libnfs wait for
// it to come back) that is after libvirt's own 30 s wait for the lock, with an error, or never.
// Past this a listing goes on without the answer, and says so (VmInfo::unanswered).
constexpr milliseconds kAnswerWait{2000};

// A reference on `domain` for a question asked on another thread (AskWithin), which may outlive
// the caller's.
std::shared_ptr<std::remove_pointer_t<virDomainPtr>> SharedRef(virDomainPtr domain) {
  virDomainRef(domain);
  return std::shared_ptr<std::remove_pointer_t<virDomainPtr>>(domain, DomainFree());
}

// One copy of a domain on one host.
struct Copy {
  size_t host = 0;
  Domain domain;
  int state = VIR_DOMAIN_NOSTATE;
  int reason = 0;
  bool active = false;
  bool incoming = false;  // the destination of a migration that runs
  bool silent = false;    // libvirt did not answer about its job within kAnswerWait
  // Post-copy: the source, paused for good (the guest runs on the destination and takes the
  // pages it lacks from here), and the destination, running while its memory still comes.
  // Both "failed" states too: libvirt's daemons lost each other, or QEMU's stream broke.
  bool postcopy_sender = false;
  bool postcopy_receiver = false;
};

}  // namespace

std::string MetadataElement(const std::map<std::string, std::string>& metadata,
                            const std::string& uri) {
  std::string xml = "<greenshift:vm xmlns:greenshift=\"" + XmlEscape(uri) + "\"";
  for (const auto& [key, value] : metadata) xml += " " + key + "=\"" + XmlEscape(value) + "\"";
  return xml + "/>";
}

std::map<std::string, std::string> ParseMetadataElement(const std::string& xml) {
  // The element libvirt gives back is the one greenshift wrote (with libvirt's own prefix and
  // namespace declaration added): attributes name="value" (or 'value'); the namespace
  // declaration is not metadata.
  std::map<std::string, std::string> out;
  size_t i = xml.find('<');
  if (i == std::string::npos) return out;
  i = xml.find_first_of(" \t\r\n/>", i);
  while (i != std::string::npos && i < xml.size()) {
    i = xml.find_first_not_of(" \t\r\n", i);
    if (i == std::string::npos || xml[i] == '/' || xml[i] == '>') break;
    const size_t eq = xml.find('=', i);
    if (eq == std::string::npos || eq + 1 >= xml.size()) break;
    const std::string key = xml.substr(i, eq - i);
    const char quote = xml[eq + 1];
    if (quote != '"' && quote != '\'') break;
    const size_t end = xml.find(quote, eq + 2);
    if (end == std::string::npos) break;
    std::string raw = xml.substr(eq + 2, end - eq - 2), value;
    for (size_t k = 0; k < raw.size(); ++k) {
      if (raw[k] != '&') {
        value += raw[k];
        continue;
      }
      const size_t semi = raw.find(';', k);
      const std::string entity = semi == std::string::npos ? "" : raw.substr(k, semi - k + 1);
      const std::map<std::string, char> entities = {
          {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
      auto it = entities.find(entity);
      if (it == entities.end()) {
        value += raw[k];
        continue;
      }
      value += it->second;
      k = semi;
    }
    if (key.rfind("xmlns", 0) != 0) out[key] = value;
    i = end + 1;
  }
  return out;
}

namespace {

// An attribute of an element ("" when absent).
std::string Attribute(xmlNodePtr node, const char* name) {
  xmlChar* value = xmlGetProp(node, reinterpret_cast<const xmlChar*>(name));
  if (value == nullptr) return "";
  std::string out(reinterpret_cast<const char*>(value));
  xmlFree(value);
  return out;
}

// XML from a daemon, parsed with no network, no entities from outside and no messages on
// stderr; null when it does not parse.
using XmlDoc = std::unique_ptr<xmlDoc, void (*)(xmlDocPtr)>;
XmlDoc ParseXml(const std::string& xml) {
  return XmlDoc(xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "libvirt.xml", nullptr,
                              XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING),
                xmlFreeDoc);
}

bool Named(xmlNodePtr node, const char* name) {
  return node->type == XML_ELEMENT_NODE &&
         xmlStrcmp(node->name, reinterpret_cast<const xmlChar*>(name)) == 0;
}

}  // namespace

Result<std::vector<DomainDisk>> ParseDomainDisks(const std::string& xml) {
  const XmlDoc doc = ParseXml(xml);
  if (!doc) return Status::Invalid("the domain's XML does not parse");
  xmlNodePtr root = xmlDocGetRootElement(doc.get());
  if (root == nullptr || !Named(root, "domain"))
    return Status::Invalid("the domain's XML has no <domain> element");
  std::vector<DomainDisk> disks;
  for (xmlNodePtr devices = root->children; devices != nullptr; devices = devices->next) {
    if (!Named(devices, "devices")) continue;
    for (xmlNodePtr node = devices->children; node != nullptr; node = node->next) {
      if (!Named(node, "disk")) continue;
      DomainDisk disk;
      disk.type = Attribute(node, "type");
      disk.device = Attribute(node, "device");
      if (disk.device.empty()) disk.device = "disk";  // libvirt's default
      for (xmlNodePtr child = node->children; child != nullptr; child = child->next) {
        if (Named(child, "target")) disk.target = Attribute(child, "dev");
        if (Named(child, "readonly")) disk.readonly = true;
        if (Named(child, "shareable")) disk.shareable = true;
        if (Named(child, "source")) {
          // file= for files, dev= for block devices; a network disk's source names a protocol.
          disk.source = Attribute(child, disk.type == "block" ? "dev" : "file");
          if (disk.type == "network") {
            disk.protocol = Attribute(child, "protocol");
            for (xmlNodePtr host = child->children; host != nullptr && disk.host.empty();
                 host = host->next) {
              if (Named(host, "host")) disk.host = Attribute(host, "name");
            }
          }
        }
      }
      if (disk.target.empty())
        return Status::Invalid("a disk of the domain has no <target dev=...>");
      disks.push_back(disk);
    }
  }
  return disks;
}

bool UnderSharedPath(const std::string& path, const std::vector<std::string>& shared_paths) {
  for (std::string dir : shared_paths) {
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    if (dir.empty()) continue;
    if (dir == "/") return true;
    if (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
        path[dir.size()] == '/')
      return true;
  }
  return false;
}

std::vector<DomainDisk> DisksToCopy(const std::vector<DomainDisk>& disks,
                                    const std::vector<std::string>& shared_paths) {
  std::vector<DomainDisk> out;
  for (const DomainDisk& d : disks) {
    // A read-only or shareable disk is one every host must reach already (an installation
    // image, a cluster disk); a network disk is reached over the network from anywhere.
    if (d.readonly || d.shareable || d.source.empty()) continue;
    if (d.type != "file" && d.type != "block") continue;
    if (UnderSharedPath(d.source, shared_paths)) continue;
    out.push_back(d);
  }
  return out;
}

// One migration being watched: the events of its VM, from both hosts' connections.
struct Watch {
  std::string source, destination;
  int64_t started_wall_us = 0;
  std::vector<MigrationEvent> events;
  int64_t paused_us = 0, resumed_us = 0;
  int passes = 0;
  // Called as a pass begins on the source (its number), under watch_mutex: Migrate's poller
  // asks for the job's stats then rather than at its next tick.
  std::function<void(int)> on_pass;
  // The caller's, called from the events: the guest suspended on the source, resumed on the
  // destination, or resumed on the source after it had suspended (the switchover failed).
  hypervisor::SwitchoverHooks hooks;
  bool source_paused = false, source_running_again = false;
};

struct LibvirtDriver::Impl {
  LibvirtDriverConfig config;
  // Per host: its connection (null until opened, or after it broke), under its own mutex (an
  // open to a host that does not answer must not hold up the others).
  struct Host {
    std::mutex mutex;
    virConnectPtr conn = nullptr;
    int lifecycle_id = -1, iteration_id = -1;
  };
  std::vector<std::unique_ptr<Host>> hosts;
  // What the event callbacks need: the impl and the host a connection belongs to.
  struct Opaque {
    Impl* impl;
    size_t host;
  };
  std::vector<std::unique_ptr<Opaque>> opaques;

  std::mutex watch_mutex;  // the watches; taken by the event loop's callbacks
  std::map<std::string, std::shared_ptr<Watch>> watches;
  std::set<std::string> cancel_requests;

  int HostIndex(const std::string& name) const {
    for (size_t h = 0; h < config.hosts.size(); ++h) {
      if (config.hosts[h].name == name) return static_cast<int>(h);
    }
    return -1;
  }
  const std::string& HostName(size_t h) const { return config.hosts[h].name; }

  void Drop(Host& host) {
    if (host.conn == nullptr) return;
    if (host.lifecycle_id >= 0) virConnectDomainEventDeregisterAny(host.conn, host.lifecycle_id);
    if (host.iteration_id >= 0) virConnectDomainEventDeregisterAny(host.conn, host.iteration_id);
    host.lifecycle_id = host.iteration_id = -1;
    virConnectClose(host.conn);
    host.conn = nullptr;
  }

  static void OnLifecycle(virConnectPtr, virDomainPtr dom, int event, int, void* opaque) {
    if (event != VIR_DOMAIN_EVENT_SUSPENDED && event != VIR_DOMAIN_EVENT_RESUMED) return;
    auto* o = static_cast<Opaque*>(opaque);
    o->impl->Record(o->host, virDomainGetName(dom),
                    event == VIR_DOMAIN_EVENT_SUSPENDED ? MigrationEventKind::kPaused
                                                        : MigrationEventKind::kResumed,
                    "");
  }
  static void OnIteration(virConnectPtr, virDomainPtr dom, int iteration, void* opaque) {
    auto* o = static_cast<Opaque*>(opaque);
    o->impl->Record(o->host, virDomainGetName(dom), MigrationEventKind::kPass,
                    std::to_string(iteration));
  }

  void Record(size_t host, const char* vm, MigrationEventKind kind, const std::string& detail) {
    if (vm == nullptr) return;
    const int64_t now = WallUs();
    std::lock_guard<std::mutex> lock(watch_mutex);
    auto it = watches.find(vm);
    if (it == watches.end()) return;
    Watch& w = *it->second;
    MigrationEvent e;
    e.at_ms = (now - w.started_wall_us) / 1000.0;
    e.host = HostName(host);
    e.kind = kind;
    e.detail = detail;
    w.events.push_back(e);
    if (kind == MigrationEventKind::kPass) {
      w.passes = std::max(w.passes, std::atoi(detail.c_str()));
      if (w.on_pass && e.host == w.source) w.on_pass(std::atoi(detail.c_str()));
    }
    // The hooks run under watch_mutex, on the event loop's thread: Migrate drops the watch
    // under it too, so no hook runs once Migrate has returned (the hooks hold the caller's
    // state). They must not call this driver.
    if (kind == MigrationEventKind::kPaused && e.host == w.source && w.paused_us == 0) {
      w.paused_us = now;
      w.source_paused = true;
      if (w.hooks.source_paused) w.hooks.source_paused();
    }
    if (kind == MigrationEventKind::kResumed && e.host == w.destination && w.resumed_us == 0) {
      w.resumed_us = now;
      if (w.hooks.destination_running) w.hooks.destination_running();
    }
    if (kind == MigrationEventKind::kResumed && e.host == w.source && w.source_paused &&
        !w.source_running_again) {
      w.source_running_again = true;
      if (w.hooks.source_running_again) w.hooks.source_running_again();
    }
  }

  // The open connection to host `h`, opened (again) if it is not, or broke.
  Result<ConnRef> Connect(size_t h) {
    Host& host = *hosts[h];
    std::lock_guard<std::mutex> lock(host.mutex);
    if (host.conn != nullptr && virConnectIsAlive(host.conn) == 1) return ConnRef(host.conn);
    Drop(host);
    const LibvirtHost& config_host = config.hosts[h];
    virConnectPtr conn = virConnectOpen(config_host.uri.c_str());
    if (conn == nullptr)
      return Status::Unavailable(
          LastError("host " + config_host.name + " (" + config_host.uri + ") does not answer")
              .message());
    // Keepalive needs the remote driver; a local one (test:///) has none and needs none.
    (void)virConnectSetKeepAlive(conn, config.keepalive_interval_s, config.keepalive_count);
    host.conn = conn;
    host.lifecycle_id = virConnectDomainEventRegisterAny(
        conn, nullptr, VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(OnLifecycle),
        opaques[h].get(), nullptr);
    host.iteration_id = virConnectDomainEventRegisterAny(
        conn, nullptr, VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION,
        VIR_DOMAIN_EVENT_CALLBACK(OnIteration), opaques[h].get(), nullptr);
    return ConnRef(conn);
  }

  // Every copy of domain `name` on the hosts. Unavailable when a host does not answer (the VM
  // may be there): a VM is never taken for missing because its host is unreachable.
  Result<std::vector<Copy>> Copies(const std::string& name) {
    std::vector<Copy> copies;
    for (size_t h = 0; h < hosts.size(); ++h) {
      Result<ConnRef> conn = Connect(h);
      if (!conn.ok()) return conn.status();
      Domain dom(virDomainLookupByName(conn->get(), name.c_str()));
      if (!dom) {
        Status why = LastError("host " + HostName(h) + ": looking up VM '" + name + "'");
        if (why.IsNotFound()) continue;
        return why;
      }
      copies.push_back(Describe(h, std::move(dom)));
    }
    return copies;
  }

  Copy Describe(size_t h, Domain dom) {
    Copy c;
    c.host = h;
    c.active = virDomainIsActive(dom.get()) == 1;
    if (virDomainGetState(dom.get(), &c.state, &c.reason, 0) < 0) c.state = VIR_DOMAIN_NOSTATE;
    c.postcopy_sender =
        c.active && c.state == VIR_DOMAIN_PAUSED &&
        (c.reason == VIR_DOMAIN_PAUSED_POSTCOPY || c.reason == VIR_DOMAIN_PAUSED_POSTCOPY_FAILED);
    c.postcopy_receiver =
        c.active && c.state == VIR_DOMAIN_RUNNING &&
        (c.reason == VIR_DOMAIN_RUNNING_POSTCOPY || c.reason == VIR_DOMAIN_RUNNING_POSTCOPY_FAILED);
    if (c.active && c.state == VIR_DOMAIN_PAUSED && !c.postcopy_sender) {
      // A paused copy may be the destination of a migration: its job says so. An incoming copy
      // answers at once (libvirt knows its job without asking QEMU); one that does not answer in
      // time is a source whose QEMU does not answer (kAnswerWait), so not incoming.
      struct Job {
        bool known = false;  // libvirt described an active job
        bool incoming = false;
      };
      const std::optional<Job> job = AskWithin<Job>(
          [d = SharedRef(dom.get())] {
            const std::optional<int> operation = JobOperation(d.get());
            return Job{operation.has_value(), operation == VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN};
          },
          kAnswerWait);
      if (!job) {
        c.silent = true;
      } else if (job->known) {
        c.incoming = job->incoming;
      } else if (c.reason == VIR_DOMAIN_PAUSED_MIGRATION) {
        c.incoming = true;  // paused for a migration, and not the one sending it
      }
    }
    c.domain = std::move(dom);
    return c;
  }

  // The VM as its copies show it: where it runs (the copy that is not incoming), in what state.
  VmInfo InfoOf(const std::string& name, const std::vector<Copy>& copies) {
    VmInfo info;
    info.spec.name = name;
    const Copy* main = nullptr;
    for (const Copy& c : copies) {
      if (c.active) info.copies.push_back(HostName(c.host));
      if (c.active && !c.incoming && !c.postcopy_sender && main == nullptr) main = &c;
    }
    if (main == nullptr && !copies.empty()) main = &copies[0];  // defined but shut off
    if (main == nullptr) return info;
    virDomainPtr d = main->domain.get();
    info.host = HostName(main->host);
    char uuid[VIR_UUID_STRING_BUFLEN];
    if (virDomainGetUUIDString(d, uuid) == 0) info.uuid = uuid;
    info.metadata = Metadata(d);  // the domain's definition: libvirt answers without its QEMU
    // Its size and its disks' (what a move would copy at most): a disk's size is QEMU's answer,
    // so asked within kAnswerWait, and not at all of a copy already found silent.
    struct Sizes {
      int memory_mib = 0, vcpus = 0, disk_gib = 0;
    };
    const std::optional<Sizes> sizes =
        main->silent
            ? std::nullopt
            : AskWithin<Sizes>(
                  [ref = SharedRef(d)] {
                    virDomainPtr dom = ref.get();
                    Sizes out;
                    virDomainInfo di;
                    if (virDomainGetInfo(dom, &di) == 0) {
                      out.memory_mib = static_cast<int>(di.maxMem / 1024);
                      out.vcpus = di.nrVirtCpu;
                    }
                    if (Result<std::vector<DomainDisk>> disks = Disks(dom); disks.ok()) {
                      int64_t bytes = 0;
                      for (const DomainDisk& disk : *disks) {
                        virDomainBlockInfo block;
                        if (disk.device == "disk" &&
                            virDomainGetBlockInfo(dom, disk.target.c_str(), &block, 0) == 0)
                          bytes += static_cast<int64_t>(block.capacity);
                      }
                      out.disk_gib = static_cast<int>((bytes + (int64_t{1} << 30) - 1) >> 30);
                    }
                    return out;
                  },
                  kAnswerWait);
    if (sizes) {
      info.spec.memory_mib = sizes->memory_mib;
      info.spec.vcpus = sizes->vcpus;
      info.spec.disk_gib = sizes->disk_gib;
    } else {
      info.unanswered = "libvirt on host " + info.host + " did not answer about it within " +
                        std::to_string(kAnswerWait.count()) +
                        " ms: it waits for the VM's QEMU, which most likely waits for its disk "
                        "(is its storage server down?); its sizes are unknown";
    }
    if (!main->active) {
      info.state = VmState::kStopped;
    } else if (info.copies.size() > 1) {
      info.state = VmState::kMigrating;
    } else if (main->state == VIR_DOMAIN_RUNNING) {
      // One running copy may still send a migration: libvirt's job outlives the destination's
      // copy when an abort waits on a disk copy's writes into a dead link (Migrate, past
      // kAbortSettles), and it comes before the destination's copy when a move begins. Another
      // move is refused until it ends, so the VM is listed as migrating (the planner leaves it,
      // the service's restart settles it). Its job is asked of a copy that answered above.
      const bool sending =
          sizes && AskWithin<bool>(
                       [ref = SharedRef(d)] {
                         return JobOperation(ref.get()) == VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT;
                       },
                       kAnswerWait)
                       .value_or(false);
      info.state = sending ? VmState::kMigrating : VmState::kRunning;
    } else if (main->state == VIR_DOMAIN_PAUSED) {
      info.state =
          main->reason == VIR_DOMAIN_PAUSED_MIGRATION ? VmState::kMigrating : VmState::kPaused;
    } else {
      info.state = VmState::kUnknown;
    }
    return info;
  }

  // The copy that runs the VM: the one that sends a migration of `name` or would (the active
  // copy that is not incoming), or in post-copy the destination (the source only serves it).
  static const Copy* Source(const std::vector<Copy>& copies) {
    for (const Copy& c : copies) {
      if (c.active && !c.incoming && !c.postcopy_sender) return &c;
    }
    return nullptr;
  }
  // Whether a copy is in post-copy (sending or receiving): the VM's state is split between two
  // hosts, and nothing may end either.
  static bool InPostcopy(const std::vector<Copy>& copies) {
    for (const Copy& c : copies) {
      if (c.postcopy_sender || c.postcopy_receiver) return true;
    }
    return false;
  }

  // The domain's disks, from its XML.
  static Result<std::vector<DomainDisk>> Disks(virDomainPtr d) {
    char* xml = virDomainGetXMLDesc(d, 0);
    if (xml == nullptr) return LastError("reading the domain's XML");
    const std::string text = xml;
    free(xml);  // NOLINT: libvirt's allocation
    return ParseDomainDisks(text);
  }

  // Where the disk file `path` stands on host `h`: whether an active storage pool of the host
  // has its directory (libvirt makes a migrated disk's copy in such a pool), and whether the
  // file exists there. The pool is refreshed first: a file made without libvirt is not one of
  // its volumes until then.
  struct DiskOnHost {
    bool pool = false;
    bool exists = false;
  };
  Result<DiskOnHost> DiskAt(size_t h, const std::string& path, bool remove) {
    Result<ConnRef> conn = Connect(h);
    if (!conn.ok()) return conn.status();
    const std::string dir = path.substr(0, path.rfind('/'));
    DiskOnHost out;
    virStoragePoolPtr* pools = nullptr;
    const int n =
        virConnectListAllStoragePools(conn->get(), &pools, VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE);
    if (n < 0) return LastError("host " + HostName(h) + ": listing its storage pools");
    for (int i = 0; i < n; ++i) {
      char* xml = virStoragePoolGetXMLDesc(pools[i], 0);
      if (xml != nullptr) {
        if (PoolTargetPath(xml) == dir) {
          out.pool = true;
          (void)virStoragePoolRefresh(pools[i], 0);
        }
        free(xml);  // NOLINT: libvirt's allocation
      }
      virStoragePoolFree(pools[i]);
    }
    free(pools);  // NOLINT: libvirt's allocation
    if (!out.pool) return out;
    virStorageVolPtr vol = virStorageVolLookupByPath(conn->get(), path.c_str());
    if (vol == nullptr) return out;
    out.exists = true;
    Status removed;
    if (remove && virStorageVolDelete(vol, 0) < 0)
      removed = LastError("host " + HostName(h) + ": removing " + path);
    virStorageVolFree(vol);
    if (!removed.ok()) return removed;
    return out;
  }

  // A pool's directory: <pool><target><path>.
  static std::string PoolTargetPath(const std::string& xml) {
    const XmlDoc doc = ParseXml(xml);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc.get()) : nullptr;
    if (root == nullptr) return "";
    for (xmlNodePtr target = root->children; target != nullptr; target = target->next) {
      if (!Named(target, "target")) continue;
      for (xmlNodePtr path = target->children; path != nullptr; path = path->next) {
        if (!Named(path, "path")) continue;
        xmlChar* text = xmlNodeGetContent(path);
        std::string out = text != nullptr ? reinterpret_cast<const char*>(text) : "";
        xmlFree(text);
        while (out.size() > 1 && out.back() == '/') out.pop_back();
        return out;
      }
    }
    return "";
  }

  // The domain's greenshift metadata (empty when it has none).
  std::map<std::string, std::string> Metadata(virDomainPtr d) const {
    char* meta =
        virDomainGetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT, config.metadata_uri.c_str(), 0);
    if (meta == nullptr) return {};
    std::map<std::string, std::string> out = ParseMetadataElement(meta);
    free(meta);  // NOLINT: libvirt's allocation
    return out;
  }
  // Sets (or, with an empty value, removes) one key of the running domain's metadata.
  Status SetMetadataKey(virDomainPtr d, const std::string& key, const std::string& value) const {
    std::map<std::string, std::string> meta = Metadata(d);
    if (value.empty()) {
      if (meta.erase(key) == 0) return Status::Ok();
    } else {
      meta[key] = value;
    }
    // libvirt puts the element in the namespace itself (a declared one is refused).
    std::string element = "<vm";
    for (const auto& [k, v] : meta) element += " " + k + "=\"" + XmlEscape(v) + "\"";
    element += "/>";
    if (virDomainSetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT, element.c_str(), "greenshift",
                             config.metadata_uri.c_str(), VIR_DOMAIN_AFFECT_LIVE) < 0)
      return LastError("setting the metadata of the VM");
    return Status::Ok();
  }

  // A disk copy in flight is marked in the VM's metadata ("disk_copy": source>destination),
  // set before the migration starts and cleared when it ends; it goes along with the domain.
  // A caller that dies meanwhile leaves it, and Recover knows from it which host holds a copy
  // that is no longer the VM's disk (greenshift had checked that none stood on the destination
  // before).
  static constexpr const char* kDiskCopyKey = "disk_copy";

  // Removes the copies of `disks` on host `h` (where the VM no longer runs); what could not be
  // removed, in words (empty when all were).
  std::string RemoveCopies(size_t h, const std::vector<DomainDisk>& disks) {
    std::string left;
    for (const DomainDisk& disk : disks) {
      Result<DiskOnHost> removed = DiskAt(h, disk.source, true);
      if (!removed.ok() || !removed->pool)
        left += std::string(left.empty() ? "" : "; ") + disk.source + " on host " + HostName(h) +
                ": " + (removed.ok() ? "in no storage pool of that host" : removed.error());
    }
    return left;
  }

  // After a migration whose caller died: the copies of the VM's disks on the host of its
  // marked disk copy where it does not run now are removed, and the mark with them. What could
  // not be removed, in words (the mark then stays, for the next try).
  std::string SettleDiskCopy(const Copy& runs) {
    const std::string mark = Metadata(runs.domain.get())[kDiskCopyKey];
    const size_t arrow = mark.find('>');
    if (mark.empty()) return "";
    const int from = arrow == std::string::npos ? -1 : HostIndex(mark.substr(0, arrow));
    const int to = arrow == std::string::npos ? -1 : HostIndex(mark.substr(arrow + 1));
    if (from < 0 || to < 0)
      return "the VM's metadata marks a disk copy '" + mark +
             "' between hosts this driver does not know: look there for a stale copy of its "
             "disks, then remove the disk_copy attribute from its greenshift metadata";
    const size_t here = runs.host;
    const size_t other =
        here == static_cast<size_t>(to) ? static_cast<size_t>(from) : static_cast<size_t>(to);
    Result<std::vector<DomainDisk>> disks = Disks(runs.domain.get());
    if (!disks.ok()) return disks.error();
    const std::string left = RemoveCopies(other, DisksToCopy(*disks, SharedBetween(here, other)));
    if (left.empty()) (void)SetMetadataKey(runs.domain.get(), kDiskCopyKey, "");
    return left;
  }

  // The shared paths of two hosts: a directory is shared between them when both say so.
  std::vector<std::string> SharedBetween(size_t a, size_t b) const {
    std::vector<std::string> out;
    for (const std::string& dir : config.hosts[a].shared_paths) {
      if (UnderSharedPath(dir + "/x", config.hosts[b].shared_paths)) out.push_back(dir);
    }
    return out;
  }

  // The operation of libvirt's job on `d` (a VIR_DOMAIN_JOB_OPERATION_*, -1 if libvirt does not
  // say), nullopt when no job runs. Libvirt asks QEMU about a running job: may wait.
  static std::optional<int> JobOperation(virDomainPtr d) {
    Params stats;
    int type = 0;
    if (virDomainGetJobStats(d, &type, &stats.p, &stats.n, 0) != 0 || type == VIR_DOMAIN_JOB_NONE)
      return std::nullopt;
    return stats.Int(VIR_DOMAIN_JOB_OPERATION);
  }

  static bool JobRunning(virDomainPtr d) {
    virDomainJobInfo job;
    return virDomainGetJobInfo(d, &job) == 0 && job.type != VIR_DOMAIN_JOB_NONE;
  }
};

LibvirtDriver::LibvirtDriver(LibvirtDriverConfig config) : impl_(std::make_unique<Impl>()) {
  EventLoop::Ensure();
  impl_->config = std::move(config);
  for (size_t h = 0; h < impl_->config.hosts.size(); ++h) {
    impl_->hosts.push_back(std::make_unique<Impl::Host>());
    impl_->opaques.push_back(std::make_unique<Impl::Opaque>(Impl::Opaque{impl_.get(), h}));
  }
}

LibvirtDriver::~LibvirtDriver() {
  for (auto& host : impl_->hosts) {
    std::lock_guard<std::mutex> lock(host->mutex);
    impl_->Drop(*host);
  }
}

hypervisor::Capabilities LibvirtDriver::GetCapabilities() const {
  // What this driver asks of libvirt today.
  hypervisor::Capabilities c;
  c.live_migration = c.offline_migration = true;
  c.adopt = true;  // every domain of its hosts, whoever defined it
  // libvirt's Xen driver (libxl, xen:// URIs) migrates live or not, peer to peer, with a
  // migration URI, and nothing more: no downtime target, bandwidth cap, auto-converge, dirty
  // rate or job abort (libvirt's LIBXL_MIGRATION_FLAGS and _PARAMETERS). The service's hosts all
  // have one driver; one Xen host makes the whole fleet's capabilities Xen's.
  for (const LibvirtHost& host : impl_->config.hosts) {
    if (host.uri.rfind("xen", 0) == 0) return c;
  }
  c.auto_converge = c.downtime_limit = c.bandwidth_limit = true;
  c.dirty_rate = true;  // virDomainStartDirtyRateCalc, page sampling
  c.cancel = true;      // virDomainAbortJob
  c.disk_copy = true;   // VIR_MIGRATE_NON_SHARED_DISK: file disks not on shared_paths
  c.recovery = true;    // the source daemon drives a migration: its job says how it ends
  // From the domains' lifecycle events: suspended on the source, resumed on the destination.
  c.switchover_hooks = true;
  // QEMU's XBZRLE through VIR_MIGRATE_PARAM_COMPRESSION, its counters in the job stats.
  c.delta_encoding = true;
  // VIR_MIGRATE_POSTCOPY and virDomainMigrateStartPostCopy, by the qemu driver's rule; a link
  // cut is ridden out by the migration's own connection, never paused and resumed (Migrate).
  c.post_copy = true;
  return c;
}

std::vector<std::pair<std::string, Status>> LibvirtDriver::CheckHosts() {
  std::vector<std::pair<std::string, Status>> out;
  for (size_t h = 0; h < impl_->hosts.size(); ++h) {
    Result<ConnRef> conn = impl_->Connect(h);
    out.emplace_back(impl_->HostName(h), conn.ok() ? Status::Ok() : conn.status());
  }
  return out;
}

Status LibvirtDriver::CreateDomain(const std::string& host, const std::string& xml) {
  const int h = impl_->HostIndex(host);
  if (h < 0) return Status::NotFound("no host is named '" + host + "'");
  // One VM of a name across the hosts: a name taken anywhere is a conflict (two of them would
  // be one VM running twice to whoever moves it).
  const size_t open = xml.find("<name>"), close = xml.find("</name>");
  if (open == std::string::npos || close == std::string::npos || close < open)
    return Status::Invalid("the domain XML has no <name>");
  const std::string name = xml.substr(open + 6, close - open - 6);
  Result<std::vector<Copy>> copies = impl_->Copies(name);
  if (!copies.ok()) return copies.status();
  if (!copies->empty())
    return Status::Conflict("a VM named '" + name + "' already exists on host " +
                            impl_->HostName((*copies)[0].host));
  Result<ConnRef> conn = impl_->Connect(static_cast<size_t>(h));
  if (!conn.ok()) return conn.status();
  Domain dom(virDomainCreateXML(conn->get(), xml.c_str(), 0));
  if (!dom) return LastError("host " + host + ": starting VM '" + name + "'");
  return Status::Ok();
}

Status LibvirtDriver::StopVm(const std::string& name) {
  Result<std::vector<Copy>> copies = impl_->Copies(name);
  if (!copies.ok()) return copies.status();
  if (copies->empty()) return Status::NotFound("no VM is named '" + name + "'");
  // Every running copy ends; a persistent domain stays defined (an operator's VM is not
  // deleted by stopping it).
  for (const Copy& c : *copies) {
    if (!c.active) continue;
    if (Impl::JobRunning(c.domain.get()))
      return Status::Conflict("VM '" + name + "' is migrating: cancel the migration first");
    if (virDomainDestroy(c.domain.get()) < 0)
      return LastError("host " + impl_->HostName(c.host) + ": stopping VM '" + name + "'");
  }
  return Status::Ok();
}

Result<std::vector<VmInfo>> LibvirtDriver::ListVms() {
  std::map<std::string, std::vector<Copy>> by_name;
  for (size_t h = 0; h < impl_->hosts.size(); ++h) {
    Result<ConnRef> conn = impl_->Connect(h);
    if (!conn.ok()) return conn.status();
    virDomainPtr* domains = nullptr;
    const int n = virConnectListAllDomains(conn->get(), &domains, 0);
    if (n < 0) return LastError("host " + impl_->HostName(h) + ": listing its VMs");
    for (int i = 0; i < n; ++i) {
      Domain dom(domains[i]);
      const char* name = virDomainGetName(dom.get());
      if (name == nullptr) continue;
      const std::string vm = name;
      by_name[vm].push_back(impl_->Describe(h, std::move(dom)));
    }
    free(domains);  // NOLINT: libvirt's allocation
  }
  std::vector<VmInfo> out;
  for (const auto& [name, copies] : by_name) out.push_back(impl_->InfoOf(name, copies));
  return out;
}

Result<VmInfo> LibvirtDriver::GetVm(const std::string& name) {
  Result<std::vector<Copy>> copies = impl_->Copies(name);
  if (!copies.ok()) return copies.status();
  if (copies->empty()) return Status::NotFound("no VM is named '" + name + "'");
  return impl_->InfoOf(name, *copies);
}

MigrationResult LibvirtDriver::Migrate(const std::string& name, const std::string& to_host,
                                       const MigrationOptions& options,
                                       const hypervisor::ProgressCallback& progress) {
  const SteadyTime started = SteadyNow();
  MigrationResult result;
  result.vm = name;
  result.to = to_host;
  result.mode = options.mode;
  const bool tuned = options.tuning == hypervisor::Tuning::kGreenshift;
  const hypervisor::Capabilities can = GetCapabilities();
  result.tuning = tuned ? "greenshift" : "libvirt-defaults";
  auto elapsed_ms = [&started] {
    return std::chrono::duration<double, std::milli>(SteadyNow() - started).count();
  };
  auto fail = [&](const std::string& why) {
    result.error = why;
    result.total_ms = elapsed_ms();
    return result;
  };

  const int to = impl_->HostIndex(to_host);
  if (to < 0) return fail("no host is named '" + to_host + "'");
  Result<std::vector<Copy>> copies = impl_->Copies(name);
  if (!copies.ok()) return fail(copies.error());
  if (copies->empty()) return fail("no VM is named '" + name + "'");
  const Copy* source = Impl::Source(*copies);
  if (source == nullptr) return fail("VM '" + name + "' is not running");
  result.from = result.running_on = impl_->HostName(source->host);
  if (copies->size() > 1 || Impl::JobRunning(source->domain.get()))
    return fail("VM '" + name + "' is already migrating");
  if (source->host == static_cast<size_t>(to))
    return fail("VM '" + name + "' already runs on host " + to_host);
  if (source->state != VIR_DOMAIN_RUNNING) return fail("VM '" + name + "' is paused, not running");
  // The destination's connection is opened first: its events (the guest resuming there) are
  // part of the timeline, and a destination that does not answer fails here, before anything.
  Result<ConnRef> destination = impl_->Connect(static_cast<size_t>(to));
  if (!destination.ok()) return fail(destination.error());
  virDomainPtr dom = source->domain.get();
  const LibvirtHost& dest_host = impl_->config.hosts[static_cast<size_t>(to)];
  const std::string peer = dest_host.peer_uri.empty() ? dest_host.uri : dest_host.peer_uri;

  // Tuning: the downtime target is set on the source before it starts (QEMU keeps it);
  // bandwidth, auto-converge and the encoding of pages sent again go with the migration.
  if (tuned && can.downtime_limit && options.downtime_limit_ms > 0 &&
      virDomainMigrateSetMaxDowntime(
          dom, static_cast<unsigned long long>(options.downtime_limit_ms), 0) < 0) {
    return fail(LastError("setting the downtime target of VM '" + name + "'").message());
  }
  // A disk copy left by an earlier caller that died is settled first (its copy removed).
  if (const std::string left = impl_->SettleDiskCopy(*source); !left.empty())
    return fail("VM '" + name + "': a copy of its disk from an earlier migration is left: " + left);
  // Disks on the source host's own storage go along (libvirt mirrors them over NBD to a copy it
  // makes in the destination's pool, before and while the memory is copied). The destination
  // must have a pool at each disk's directory and no file of that name yet: a disk is never
  // overwritten (what stands there is another VM's disk, or a copy left by a move that did not
  // end; and a disk on storage both hosts share, but not listed as shared, shows up there too).
  Result<std::vector<DomainDisk>> disks = Impl::Disks(dom);
  if (!disks.ok()) return fail("VM '" + name + "': " + disks.error());
  const std::vector<DomainDisk> to_copy =
      DisksToCopy(*disks, impl_->SharedBetween(source->host, static_cast<size_t>(to)));
  for (const DomainDisk& disk : to_copy) {
    const std::string what = "disk " + disk.target + " of VM '" + name + "' (" + disk.source + ")";
    if (!can.disk_copy)
      return fail(what + " is on host " + result.from +
                  "'s own storage, and this driver copies no disks: put it on storage both "
                  "hosts share and list its directory in the hosts' shared_paths");
    if (disk.type != "file")
      return fail(what + " is a block device of host " + result.from +
                  ": greenshift copies file disks only; put it on storage both hosts share "
                  "and list it in the hosts' shared_paths");
    if (options.compare_disks_at_switchover)
      return fail(
          "comparing disks at the switchover needs the qemu driver (libvirt holds no "
          "pause at the switchover for it)");
    Result<Impl::DiskOnHost> there = impl_->DiskAt(static_cast<size_t>(to), disk.source, false);
    if (!there.ok()) return fail(there.error());
    const std::string dir = disk.source.substr(0, disk.source.rfind('/'));
    if (!there->pool)
      return fail("host " + to_host + " has no active storage pool at " + dir +
                  ", where libvirt makes the copy of " + what +
                  ": define one (a dir pool with that target) or put the disk on storage both "
                  "hosts share and list it in the hosts' shared_paths");
    if (there->exists)
      return fail("host " + to_host + " already has " + disk.source + ", where " + what +
                  " would be copied: greenshift never overwrites a disk (if it is shared "
                  "storage, list " +
                  dir +
                  " in both hosts' shared_paths; if it is a stale "
                  "copy, remove it)");
  }
  if (!to_copy.empty()) {
    result.disk_copy_mode = options.disk_copy_mode == hypervisor::DiskCopyMode::kWriteBlocking
                                ? "write-blocking"
                                : "background";
  }

  auto params = std::make_shared<Params>();  // the migration's thread keeps it (below)
  if (!dest_host.migration_uri.empty())
    virTypedParamsAddString(&params->p, &params->n, &params->max, VIR_MIGRATE_PARAM_URI,
                            dest_host.migration_uri.c_str());
  if (tuned && can.bandwidth_limit && options.max_bandwidth_bytes_s > 0) {
    const auto mib_s = static_cast<unsigned long long>(
        std::ceil(static_cast<double>(options.max_bandwidth_bytes_s) / (1 << 20)));
    virTypedParamsAddULLong(&params->p, &params->n, &params->max, VIR_MIGRATE_PARAM_BANDWIDTH,
                            mib_s);
  }
  unsigned int flags = VIR_MIGRATE_PEER2PEER;
  if (!to_copy.empty()) {
    // libvirt has no switch from background to write-blocking mid-copy (the qemu driver's
    // kAuto): kAuto is libvirt's own background copy, whose last writes drain in the pause.
    flags |= VIR_MIGRATE_NON_SHARED_DISK;
    if (options.disk_copy_mode == hypervisor::DiskCopyMode::kWriteBlocking)
      flags |= VIR_MIGRATE_NON_SHARED_SYNCHRONOUS_WRITES;
    for (const DomainDisk& disk : to_copy)
      virTypedParamsAddString(&params->p, &params->n, &params->max, VIR_MIGRATE_PARAM_MIGRATE_DISKS,
                              disk.target.c_str());
  }
  if (options.mode == MigrationMode::kLive) flags |= VIR_MIGRATE_LIVE;
  if (tuned && can.auto_converge && options.auto_converge) flags |= VIR_MIGRATE_AUTO_CONVERGE;
  // Pages sent again go as differences from their copy in a cache (XBZRLE), as under the qemu
  // driver: the lab's guest rewriting one word a page sent them at 28-61 % of a page through
  // libvirt (docs/hosts.md). libvirt leaves QEMU's cache at 64 MiB unless told; a small guest
  // gets a quarter of its memory.
  const bool encoded = tuned && can.delta_encoding && options.mode == MigrationMode::kLive;
  if (encoded) {
    // A guest whose size libvirt does not say gets QEMU's default cache.
    const unsigned long memory_kib = virDomainGetMaxMemory(dom);
    const int memory_mib = memory_kib > 0 ? static_cast<int>(memory_kib / 1024) : 1 << 20;
    virTypedParamsAddString(&params->p, &params->n, &params->max, VIR_MIGRATE_PARAM_COMPRESSION,
                            "xbzrle");
    virTypedParamsAddULLong(
        &params->p, &params->n, &params->max, VIR_MIGRATE_PARAM_COMPRESSION_XBZRLE_CACHE,
        static_cast<unsigned long long>(hypervisor::DeltaCacheBytes(memory_mib)));
  }
  // A persistent domain moves its definition along; a transient one (the lab's) stays transient.
  if (virDomainIsPersistent(dom) == 1)
    flags |= VIR_MIGRATE_PERSIST_DEST | VIR_MIGRATE_UNDEFINE_SOURCE;
  // Post-copy when pre-copy is stuck, by the qemu driver's rule (hypervisor::PrecopyStuck):
  // VIR_MIGRATE_POSTCOPY turns it on at both ends before the migration starts (it only permits
  // the switch), virDomainMigrateStartPostCopy switches. A disk copied along is complete by
  // then: libvirt starts the memory's copy only once its disks' mirrors have caught up, and
  // ends them with the guest paused before the switch (QEMU's pause-before-switchover, which
  // libvirt always asks for, holds at the switch to post-copy too).
  const bool postcopy_allowed = tuned && can.post_copy && options.mode == MigrationMode::kLive &&
                                options.postcopy == hypervisor::PostcopyPolicy::kWhenStuck;
  if (postcopy_allowed) flags |= VIR_MIGRATE_POSTCOPY;

  if (!to_copy.empty()) {
    if (Status marked = impl_->SetMetadataKey(dom, Impl::kDiskCopyKey, result.from + ">" + to_host);
        !marked.ok())
      return fail("VM '" + name + "': " + marked.message());
  }

  // The migration itself blocks until it ends, on its own thread, and so may a question about
  // its job: libvirt answers one only once the source QEMU does, and a QEMU flushing its disk at
  // the switchover to a storage server that is gone (libiscsi and libnfs wait for it to come
  // back) answers nothing until the server is back, for minutes or forever. So both calls run
  // on threads of their own, on what they own (a Flight, and a reference on the domain), and
  // this one watches them: it can give up on a source that no longer answers and return.
  struct JobSample {
    int64_t memory_processed = 0, memory_remaining = 0, iteration = 0;
    int64_t disk_processed = 0, disk_remaining = 0;
    int64_t zero_bytes = -1;  // pages found all zero, as bytes (-1: not said)
  };
  struct Flight {
    std::mutex mutex;
    std::condition_variable wake;  // the call returned, or a pass began
    bool done = false;             // the migration call returned
    bool pass_began = false;       // since the poller last asked
    int rc = -1;
    Status error;
    bool querying = false;  // a job-stats call is out, since asked_at
    SteadyTime asked_at{};
    uint64_t samples = 0;  // job-stats answers with an active job, so far
    JobSample last;
    // The XBZRLE counters when the third pass began (the second fills the cache: its pages all
    // go whole), and the last ones read; QEMU counts across a process's migrations, so only
    // what came after the first is this migration's pages sent again.
    std::optional<DeltaReading> third_pass, delta_last;
    // The memory still to send as the latest pass began and as the one before it began (read
    // at the pass's event), for the post-copy rule.
    int64_t pass = 0, pass_remaining = -1, previous_pass_remaining = -1;
    // The most memory sent and found zero that a sample said (they only grow during a
    // migration; a job being aborted reports blank stats).
    int64_t sent_bytes = 0, zero_bytes = -1;
  };
  auto flight = std::make_shared<Flight>();
  auto watch = std::make_shared<Watch>();
  watch->source = result.from;
  watch->destination = to_host;
  watch->started_wall_us = WallUs();
  watch->hooks = options.switchover;
  watch->on_pass = [weak = std::weak_ptr<Flight>(flight)](int pass) {
    std::shared_ptr<Flight> f = weak.lock();
    if (f == nullptr || pass < 2) return;
    std::lock_guard<std::mutex> lock(f->mutex);
    f->pass_began = true;
    f->wake.notify_all();
  };
  {
    std::lock_guard<std::mutex> lock(impl_->watch_mutex);
    impl_->watches[name] = watch;
    impl_->cancel_requests.erase(name);
  }
  std::thread runner(
      [flight, d = SharedRef(dom), peer, params = std::move(params), flags, name, to_host] {
        const int rc = virDomainMigrateToURI3(d.get(), peer.c_str(), params->p,
                                              static_cast<unsigned int>(params->n), flags);
        Status error;
        if (rc < 0) error = LastError("migrating VM '" + name + "' to host " + to_host);
        std::lock_guard<std::mutex> lock(flight->mutex);
        flight->rc = rc;
        flight->error = error;
        flight->done = true;
        flight->wake.notify_all();
      });
  std::thread poller([flight, d = SharedRef(dom)] {
    while (true) {
      {
        std::lock_guard<std::mutex> lock(flight->mutex);
        if (flight->done) return;
        flight->querying = true;
        flight->asked_at = SteadyNow();
      }
      Params stats;
      int type = 0;
      const bool active = virDomainGetJobStats(d.get(), &type, &stats.p, &stats.n, 0) == 0 &&
                          type != VIR_DOMAIN_JOB_NONE;
      std::unique_lock<std::mutex> lock(flight->mutex);
      flight->querying = false;
      if (active) {
        JobSample& j = flight->last;
        j.memory_processed = std::max<int64_t>(0, stats.Ull(VIR_DOMAIN_JOB_MEMORY_PROCESSED, 0));
        j.memory_remaining = std::max<int64_t>(0, stats.Ull(VIR_DOMAIN_JOB_MEMORY_REMAINING, 0));
        j.iteration = std::max<int64_t>(0, stats.Ull(VIR_DOMAIN_JOB_MEMORY_ITERATION, 0));
        j.disk_processed = std::max<int64_t>(0, stats.Ull(VIR_DOMAIN_JOB_DISK_PROCESSED, 0));
        j.disk_remaining = std::max<int64_t>(0, stats.Ull(VIR_DOMAIN_JOB_DISK_REMAINING, 0));
        const int64_t zero_pages = stats.Ull(VIR_DOMAIN_JOB_MEMORY_CONSTANT, -1);
        j.zero_bytes =
            zero_pages >= 0 ? zero_pages * stats.Ull(VIR_DOMAIN_JOB_MEMORY_PAGE_SIZE, 4096) : -1;
        ++flight->samples;
        if (std::optional<DeltaReading> delta = DeltaOf(stats)) {
          flight->delta_last = delta;
          // Read as the third pass's event came (or at the first tick that saw it begun).
          if (!flight->third_pass && j.iteration >= 3) flight->third_pass = delta;
        }
        flight->sent_bytes = std::max(flight->sent_bytes, j.memory_processed);
        flight->zero_bytes = std::max(flight->zero_bytes, j.zero_bytes);
        if (j.iteration > flight->pass) {
          flight->previous_pass_remaining = flight->pass_remaining;
          flight->pass_remaining = j.memory_remaining;
          flight->pass = j.iteration;
        }
      }
      // Every 100 ms, or at once when a pass begins (what it has to send, and from the third
      // on its counters).
      flight->wake.wait_for(lock, milliseconds(100),
                            [&flight] { return flight->done || flight->pass_began; });
      flight->pass_began = false;
    }
  });
  // Ends the job without waiting for libvirt's answer (which waits for QEMU's).
  auto abort_job = [dom] {
    std::thread([d = SharedRef(dom)] { (void)virDomainAbortJob(d.get()); }).detach();
  };
  std::string stop_reason;
  bool source_silent = false;  // the source stopped answering: given up on, see below
  // When the job was aborted (timeout, cancel), and whether it then outlived kAbortSettles: a
  // copy whose connection to the destination is stuck ends only once that connection breaks
  // (see below).
  SteadyTime aborted_at{};
  bool abort_stuck = false;
  // Post-copy: switched (no way back from here), the last pass the rule looked at, and when the
  // memory sent last grew (a post-copy that stops moving for postcopy_recover_timeout is left
  // to go on without this call).
  bool switched = false, postcopy_stalled = false;
  bool link_broken = false;  // in post-copy, no memory sent for kPostcopyStall (yet)
  int64_t pass_decided = 0, processed_seen = -1;
  SteadyTime progressed_at = started;
  std::string postcopy_refused;  // why libvirt did not switch when asked, if it did not
  MigrationProgress last;
  uint64_t samples_seen = 0;
  // The disk copy as the job stats showed it (sampled every 100 ms): its bytes, when it began
  // and when the memory's copy began (libvirt starts that once the disks have caught up).
  int64_t disk_bytes = 0;
  double disk_copy_started_ms = -1, disk_caught_up_ms = -1, last_disk_report_ms = -1000;
  while (true) {
    std::this_thread::sleep_for(milliseconds(100));
    JobSample sample;
    bool done = false, querying = false;
    uint64_t samples = 0;
    SteadyTime asked_at{};
    int64_t pass = 0, pass_remaining = -1, previous_pass_remaining = -1;
    {
      std::lock_guard<std::mutex> lock(flight->mutex);
      done = flight->done;
      sample = flight->last;
      samples = flight->samples;
      querying = flight->querying;
      asked_at = flight->asked_at;
      pass = flight->pass;
      pass_remaining = flight->pass_remaining;
      previous_pass_remaining = flight->previous_pass_remaining;
    }
    if (done) break;
    if (samples != samples_seen) {
      samples_seen = samples;
      MigrationProgress p;
      p.transferred_bytes = sample.memory_processed;
      p.remaining_bytes = sample.memory_remaining;
      p.pass = static_cast<int>(sample.iteration);
      p.disk_transferred_bytes = sample.disk_processed;
      p.disk_remaining_bytes = sample.disk_remaining;
      p.elapsed_ms = elapsed_ms();
      // libvirt copies the disks first and starts on the memory once every copy has caught up.
      p.phase = p.transferred_bytes > 0        ? MigrationPhase::kCopying
                : p.disk_transferred_bytes > 0 ? MigrationPhase::kDiskCopy
                                               : MigrationPhase::kSetup;
      if (p.phase == MigrationPhase::kSetup && last.phase != MigrationPhase::kSetup)
        p.phase = last.phase;  // a failed disk job's stats go blank; the phase does not go back
      if (switched) p.phase = MigrationPhase::kPostcopy;
      if (sample.memory_processed != processed_seen) {
        processed_seen = sample.memory_processed;
        progressed_at = SteadyNow();
        if (link_broken) ++result.postcopy_recoveries;  // it goes on: ridden out
        link_broken = false;
      }
      if (p.phase == MigrationPhase::kDiskCopy && disk_copy_started_ms < 0)
        disk_copy_started_ms = p.elapsed_ms;
      if (p.phase == MigrationPhase::kCopying && disk_copy_started_ms >= 0 && disk_caught_up_ms < 0)
        disk_caught_up_ms = p.elapsed_ms;
      // With a disk, the phases are the timeline's: the memory's copy starts seconds after the
      // command (calibration times the link from it). Sampled, so up to 100 ms late.
      if (!to_copy.empty() && p.phase != last.phase) {
        MigrationEvent e;
        e.at_ms = p.elapsed_ms;
        e.host = result.from;
        e.kind = MigrationEventKind::kPhase;
        e.detail = hypervisor::MigrationPhaseName(p.phase);
        std::lock_guard<std::mutex> lock(impl_->watch_mutex);
        watch->events.push_back(e);
      }
      disk_bytes = std::max(disk_bytes, p.disk_transferred_bytes);
      // The disk's copy reported once a second (it can take minutes), the memory's per pass.
      const bool disk_news =
          p.phase == MigrationPhase::kDiskCopy && p.elapsed_ms - last_disk_report_ms >= 1000;
      if (progress && (p.pass != last.pass || p.phase != last.phase || disk_news)) {
        progress(p);
        if (p.phase == MigrationPhase::kDiskCopy) last_disk_report_ms = p.elapsed_ms;
      }
      last = p;
    }
    if (postcopy_allowed && !switched && stop_reason.empty() && pass > pass_decided) {
      pass_decided = pass;
      if (std::optional<std::string> why = hypervisor::PrecopyStuck(
              static_cast<int>(pass), pass_remaining, previous_pass_remaining)) {
        if (virDomainMigrateStartPostCopy(dom, 0) == 0) {
          switched = true;
          progressed_at = SteadyNow();
          result.postcopy = true;
          result.postcopy_reason = *why;
          MigrationEvent e;
          e.at_ms = (WallUs() - watch->started_wall_us) / 1000.0;
          e.host = result.from;
          e.kind = MigrationEventKind::kPhase;
          e.detail = hypervisor::MigrationPhaseName(MigrationPhase::kPostcopy);
          {
            std::lock_guard<std::mutex> lock(impl_->watch_mutex);
            watch->events.push_back(e);
          }
          last.phase = MigrationPhase::kPostcopy;
          last.elapsed_ms = elapsed_ms();
          if (progress) progress(last);
        } else {
          postcopy_refused = LastError("switching VM '" + name + "' to post-copy").message();
        }
      }
    }
    bool cancel = options.cancel_requested != nullptr && options.cancel_requested->load();
    {
      std::lock_guard<std::mutex> lock(impl_->watch_mutex);
      cancel = cancel || impl_->cancel_requests.erase(name) > 0;
    }
    // Past the switch nothing stops it: the guest runs on the destination (timeout and cancel
    // no longer apply, as under the qemu driver).
    if (stop_reason.empty() && !switched && (cancel || SteadyNow() - started > options.timeout)) {
      stop_reason = cancel ? "migration was cancelled"
                           : "migration did not finish within " +
                                 std::to_string(options.timeout.count() / 1000) + " s";
      abort_job();  // the VM stays on its source
      aborted_at = SteadyNow();
    }
    if (!stop_reason.empty() && SteadyNow() - aborted_at >= kAbortSettles) {
      abort_stuck = true;
      break;
    }
    if (!switched && querying && SteadyNow() - asked_at >= kSourceSilent) {
      source_silent = true;
      break;
    }
    if (switched && SteadyNow() - progressed_at >= kPostcopyStall) link_broken = true;
    if (switched && SteadyNow() - progressed_at >= options.postcopy_recover_timeout) {
      postcopy_stalled = true;  // followed below, as when libvirt's call fails
      break;
    }
  }
  // Every way out ends the same: the watch goes, its events and timings are the result's, the
  // last event and progress say how it ended.
  auto finish = [&](MigrationPhase how) -> MigrationResult {
    {
      std::lock_guard<std::mutex> lock(impl_->watch_mutex);
      impl_->watches.erase(name);
      result.events = watch->events;
      if (watch->paused_us != 0 && watch->resumed_us > watch->paused_us)
        result.paused_ms = (watch->resumed_us - watch->paused_us) / 1000.0;
      if (result.passes == 0) result.passes = watch->passes;
    }
    MigrationEvent end;
    end.at_ms = result.total_ms;
    end.host = result.from;
    end.kind = MigrationEventKind::kPhase;
    end.detail = hypervisor::MigrationPhaseName(how);
    result.events.push_back(end);
    if (progress) {
      MigrationProgress p = last;
      p.phase = how == MigrationPhase::kCompleted ? how : MigrationPhase::kFailed;
      p.elapsed_ms = result.total_ms;
      progress(p);
    }
    return result;
  };
  // The destination's copy when Migrate gives up on a job libvirt has not ended (its source
  // silent, or its abort stuck): one that runs is libvirt's finished move and is left; one that
  // never ran is destroyed, and with it gone (or never there) its disk copies are removed, so
  // that libvirt's job fails once it can go on. Says what was done, in words.
  struct Incoming {
    bool runs = false;
    std::string ended;
  };
  auto end_incoming = [&]() {
    Incoming out;
    Domain there(virDomainLookupByName(destination->get(), name.c_str()));
    int state = VIR_DOMAIN_NOSTATE, reason = 0;
    out.runs = there && virDomainGetState(there.get(), &state, &reason, 0) == 0 &&
               state == VIR_DOMAIN_RUNNING;
    if (out.runs) return out;
    out.ended = "nothing of it was on host " + to_host + " yet";
    bool gone = true;
    if (there && virDomainDestroy(there.get()) == 0) {
      out.ended = "its incoming copy on host " + to_host + ", which never ran, was destroyed";
    } else if (there) {
      out.ended = LastError("destroying its incoming copy on host " + to_host).message();
      gone = false;
    }
    if (!to_copy.empty())
      result.disk_left_behind = gone ? impl_->RemoveCopies(static_cast<size_t>(to), to_copy)
                                     : "the copies on host " + to_host +
                                           ": its copy there is not destroyed (" + out.ended + ")";
    return out;
  };
  if (source_silent) {
    runner.detach();  // each ends when libvirt answers, on what it owns
    poller.detach();
    result.total_ms = elapsed_ms();
    // libvirt starts the guest on the destination in its Finish phase, which the source's
    // libvirtd reaches only after its QEMU has answered: the copy there is an incoming one that
    // has not run. Destroyed, it never can; the source's migration then fails once its QEMU
    // answers again, and libvirt resumes the guest there. (Asked, not assumed: were it running,
    // the VM would have moved, and its source copy is libvirt's to end.)
    const Incoming there = end_incoming();
    if (there.runs) {
      result.running_on = to_host;
      result.error = "the VM runs on host " + to_host + ", but the source QEMU on host " +
                     result.from + " stopped answering libvirt during the migration";
      result.hypervisor_status = "failed";
    } else {
      const std::string& destroyed = there.ended;
      std::string waits_for;  // the network disks it may be waiting for
      for (const DomainDisk& disk : *disks) {
        if (disk.type != "network") continue;
        waits_for += (waits_for.empty() ? " (" : "; ") + disk.target + " over " + disk.protocol +
                     (disk.host.empty() ? "" : " from " + disk.host);
      }
      result.running_on = result.from;
      result.hypervisor_status = "failed";
      result.error = "the source QEMU on host " + result.from + " stopped answering libvirt for " +
                     std::to_string(kSourceSilent.count()) + " s during the migration";
      if (!waits_for.empty()) {
        result.error += ", most likely waiting for its disk" + waits_for +
                        ": is that server down?); " + destroyed + ", and the guest stays paused " +
                        "on host " + result.from +
                        " until its disk answers (libvirt then ends the migration as failed and "
                        "the guest runs on)";
      } else {
        // No network disk to wait for: measured with the link to the destination cut during
        // the copy (the source daemon's calls to its peer hang, and its job with them).
        result.error += " (is the link to host " + to_host + " down, or host " + result.from +
                        " overloaded?); " + destroyed +
                        "; libvirt ends the migration as failed once the source answers again, "
                        "and the VM stays on host " +
                        result.from;
      }
    }
    return finish(MigrationPhase::kFailed);
  }
  if (abort_stuck) {
    // Measured with the link cut during the disk's copy: libvirt's abort ends the disk's mirror,
    // which waits for the writes it has sent to the destination's NBD server, and those wait on
    // a TCP connection retrying into a dead link: until it works again (and the next retry,
    // up to 2 min later, gets through) or TCP gives up (about 15 min at Linux's defaults). The
    // call, due at the timeout, returned 100 and 500 s past it. Now it returns here: the copy on
    // the destination, which never ran, is destroyed, so that the first retry that gets through
    // is refused and libvirt ends the job as failed; the guest runs on its source meanwhile.
    runner.detach();  // each ends when libvirt's call does, on what it owns
    poller.detach();
    result.total_ms = elapsed_ms();
    const Incoming there = end_incoming();
    Result<std::vector<Copy>> now = impl_->Copies(name);
    const Copy* runs = now.ok() ? Impl::Source(*now) : nullptr;
    result.hypervisor_status = "cancelled";
    result.running_on = there.runs        ? to_host
                        : runs != nullptr ? impl_->HostName(runs->host)
                                          : std::string();
    result.error = stop_reason + "; libvirt had not ended the migration " +
                   std::to_string(kAbortSettles.count()) + " s after it was aborted: its " +
                   (to_copy.empty() ? "" : "disk copy's ") + "connection to host " + to_host +
                   " makes no progress (is the link between the hosts down?)" +
                   (there.runs ? "" : "; " + there.ended) + ". ";
    if (there.runs) {
      result.error += "But the VM runs on host " + to_host + ": libvirt finished the move";
    } else if (runs != nullptr && runs->state == VIR_DOMAIN_RUNNING) {
      result.error += "The VM runs on host " + result.running_on +
                      "; libvirt ends the migration as failed once that connection works again "
                      "or breaks (TCP gives up after about 15 min at Linux's defaults), and "
                      "another move of the VM is refused until then";
    } else {
      result.error += "The VM is paused on host " + result.from +
                      " until libvirt ends the migration (once that connection works again or "
                      "breaks), then runs there on; `greenshift vm recover` waits for that";
    }
    return finish(MigrationPhase::kCancelled);
  }
  if (postcopy_stalled) {
    runner.detach();  // each ends when libvirt's call does, on what it owns
    poller.detach();
  } else {
    runner.join();
    poller.join();  // it sees `done` after its current question, which the source answers now
  }
  int rc = -1;
  Status migrate_error;
  std::optional<DeltaReading> third_pass, delta_at_end;
  {
    std::lock_guard<std::mutex> lock(flight->mutex);
    rc = flight->rc;
    // What was sent, as the poller last saw it (up to 100 ms before the end): a failed move's
    // figures, and a completed one's where libvirt keeps no completed job (after a post-copy,
    // or when its daemons lost each other); a completed job's figures replace them below.
    result.bytes = flight->sent_bytes;
    result.zero_bytes = flight->zero_bytes;
    migrate_error = flight->error;
    third_pass = flight->third_pass;
    delta_at_end = flight->delta_last;  // replaced by the completed job's, where it says them
  }

  // Past the switch there is no way back, and libvirt's call can fail while the migration goes
  // on: measured here, a link cut for 41 s in post-copy closed the two daemons' connection by
  // keepalive after 25 s (the call failed, "client socket is closed", and libvirt marked the
  // source "post-copy failed"), while QEMU's own connection, its segments retried by TCP,
  // carried on when the link returned, and the migration completed. So the destination is
  // followed until it has all of its memory, for up to postcopy_recover_timeout. Nothing is
  // paused, resumed or ended meanwhile: a stream that broke (a cut longer than TCP retries for,
  // about 15 min at Linux's defaults) would need libvirt's VIR_MIGRATE_POSTCOPY_RESUME, which
  // crashed the destination's libvirtd 11.3 here (docs/hosts.md); the driver never asks for it.
  enum class Postcopy { kNone, kCompleted, kUnfinished, kLost } postcopy_end = Postcopy::kNone;
  if (switched && rc != 0) {
    const SteadyTime until = SteadyNow() + options.postcopy_recover_timeout;
    LeftSender left_sender;
    postcopy_end = Postcopy::kUnfinished;
    while (postcopy_end == Postcopy::kUnfinished) {
      if (Result<std::vector<Copy>> now = impl_->Copies(name); now.ok()) {
        const Copy* there = nullptr;
        const Copy* here = nullptr;
        for (const Copy& c : *now) {
          if (c.active && c.host == static_cast<size_t>(to)) there = &c;
          if (c.active && c.host == source->host) here = &c;
        }
        if (there == nullptr) {
          postcopy_end = Postcopy::kLost;
        } else if (there->state == VIR_DOMAIN_RUNNING && !there->postcopy_receiver) {
          // All of its memory has arrived: the move is complete once no source copy is left.
          // (One that cannot be ended is looked at again; past the timeout the move is reported
          // unfinished and Recover tries again.)
          if (here == nullptr) {
            postcopy_end = Postcopy::kCompleted;
            if (link_broken) ++result.postcopy_recoveries;  // the call failed on it
          } else if (here->state != VIR_DOMAIN_RUNNING) {
            (void)left_sender.EndWhenSettled(here->domain.get());
          }
        }
      }
      if (postcopy_end != Postcopy::kUnfinished || SteadyNow() >= until) break;
      std::this_thread::sleep_for(milliseconds(500));
    }
  }
  result.total_ms = elapsed_ms();

  // Where the VM is now, as libvirt tells it (not as the return code suggests).
  Result<std::vector<Copy>> after = impl_->Copies(name);
  const Copy* runs = after.ok() ? Impl::Source(*after) : nullptr;
  if (postcopy_end == Postcopy::kLost || postcopy_end == Postcopy::kUnfinished) {
    const std::string why =
        postcopy_stalled
            ? "its memory stopped arriving for " +
                  std::to_string(options.postcopy_recover_timeout.count() / 1000) + " s"
            : migrate_error.message();
    result.hypervisor_status = "failed";
    if (postcopy_end == Postcopy::kLost) {
      result.running_on.clear();
      result.error = "the VM's copy on host " + to_host + " ended during post-copy (" + why +
                     "): the VM's memory was split between the hosts and is lost (host " +
                     result.from +
                     " keeps a paused copy older than what the guest did after the switch; "
                     "it is not resumed). Stop the VM and start it again";
      if (!to_copy.empty()) {
        // Both hosts' images stay: the destination's holds every write the guest made, the
        // source's stops at the switch.
        result.error += " from its disk: the newest is on host " + to_host + " (";
        for (size_t i = 0; i < to_copy.size(); ++i)
          result.error += (i == 0 ? "" : ", ") + to_copy[i].source;
        result.error += "), which holds every write the guest made (host " + result.from +
                        "'s stops at the switch)";
        result.disk_left_behind = "the source's copies on host " + result.from +
                                  " and the destination's on host " + to_host +
                                  ": the VM was lost in post-copy";
      }
    } else {
      result.running_on = to_host;
      result.error =
          "the VM runs on host " + to_host + " in post-copy, part of its memory still on host " +
          result.from + " (" + why + "), and it had not all arrived " +
          std::to_string(options.postcopy_recover_timeout.count() / 1000) +
          " s later: is the link between them down? The migration goes on by itself when the "
          "link returns, unless it stayed down longer than TCP retries (about 15 min at Linux's "
          "defaults); `greenshift vm recover` waits for it";
      // The source's images are no longer the VM's disk, but its copy there is still the
      // VM's memory: they go once the post-copy completes (Recover, by the VM's disk-copy
      // mark, which stays for it).
      if (!to_copy.empty())
        result.disk_left_behind = "the source's copies on host " + result.from +
                                  ", until the post-copy completes (`greenshift vm recover` "
                                  "removes them then)";
    }
  } else if (rc == 0 || postcopy_end == Postcopy::kCompleted) {
    // Wait briefly for the destination's "resumed" event: it may trail the call's return.
    for (int i = 0; i < 50; ++i) {
      {
        std::lock_guard<std::mutex> lock(impl_->watch_mutex);
        if (watch->resumed_us != 0) break;
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
    result.completed = true;
    result.running_on = to_host;
    result.hypervisor_status = "completed";
    // The source's copies are the VM's disk no longer: removed from its pool.
    result.disk_left_behind = impl_->RemoveCopies(source->host, to_copy);
    if (runs != nullptr) {
      Params stats;
      int type = 0;
      if (virDomainGetJobStats(runs->domain.get(), &type, &stats.p, &stats.n,
                               VIR_DOMAIN_JOB_STATS_COMPLETED) == 0 &&
          type != VIR_DOMAIN_JOB_NONE) {
        result.downtime_ms = static_cast<double>(stats.Ull(VIR_DOMAIN_JOB_DOWNTIME, -1));
        result.setup_ms = static_cast<double>(stats.Ull(VIR_DOMAIN_JOB_SETUP_TIME, -1));
        result.bytes = std::max<int64_t>(0, stats.Ull(VIR_DOMAIN_JOB_MEMORY_PROCESSED, 0));
        result.passes =
            static_cast<int>(std::max<int64_t>(0, stats.Ull(VIR_DOMAIN_JOB_MEMORY_ITERATION, 0)));
        result.mbps = stats.Ull(VIR_DOMAIN_JOB_MEMORY_BPS, 0) * 8 / 1000000;
        const int64_t zero_pages = stats.Ull(VIR_DOMAIN_JOB_MEMORY_CONSTANT, -1);
        if (zero_pages >= 0)
          result.zero_bytes = zero_pages * stats.Ull(VIR_DOMAIN_JOB_MEMORY_PAGE_SIZE, 4096);
        // The source's last counters came to the destination with the job's statistics.
        if (std::optional<DeltaReading> delta = DeltaOf(stats)) delta_at_end = delta;
      }
    }
  } else {
    result.error = !stop_reason.empty() ? stop_reason : migrate_error.message();
    if (!postcopy_refused.empty())
      result.error += " (post-copy was refused: " + postcopy_refused + ")";
    result.hypervisor_status = stop_reason.empty() ? "failed" : "cancelled";
    if (runs == nullptr) {
      result.running_on.clear();
    } else {
      result.running_on = impl_->HostName(runs->host);
      // A failed job's last counters, as libvirt kept them on the source; else the poller's
      // last reading, up to 100 ms before the end. (What libvirt keeps as the last completed
      // job may be an older one, the migration that brought the VM here, counted by another
      // QEMU: counters below the poller's last reading are not this migration's.)
      Params stats;
      int type = 0;
      if (runs->host == source->host && delta_at_end &&
          virDomainGetJobStats(runs->domain.get(), &type, &stats.p, &stats.n,
                               VIR_DOMAIN_JOB_STATS_COMPLETED) == 0) {
        const std::optional<DeltaReading> delta = DeltaOf(stats);
        const hypervisor::DeltaCounters& was = delta_at_end->counters;
        if (delta && delta->counters.encoded_pages >= was.encoded_pages &&
            delta->counters.encoded_bytes >= was.encoded_bytes &&
            delta->counters.cache_misses >= was.cache_misses &&
            delta->counters.overflows >= was.overflows)
          delta_at_end = delta;
      }
      // A non-live migration that failed may leave the guest paused on its source: it runs again.
      if (runs->state == VIR_DOMAIN_PAUSED && runs->reason == VIR_DOMAIN_PAUSED_MIGRATION)
        (void)virDomainResume(runs->domain.get());
      // What libvirt made of the disks on the destination is no disk of the VM's (none stood
      // there before: checked above).
      if (runs->host == source->host) {
        result.disk_left_behind = impl_->RemoveCopies(static_cast<size_t>(to), to_copy);
      } else if (!to_copy.empty()) {
        result.disk_left_behind = "the source's copies on host " + result.from +
                                  ": the VM runs on host " + result.running_on +
                                  " though libvirt said the migration failed";
      }
    }
  }
  // Pages sent again from the third pass on, failed migrations too (the cost model learns
  // what this guest's pages encode to from every try): nothing to say without a third pass.
  if (third_pass && delta_at_end) {
    std::tie(result.resent_page_bytes, result.resent_wire_bytes) = hypervisor::ResentBetween(
        third_pass->counters, delta_at_end->counters, delta_at_end->page_bytes);
  }
  if (!to_copy.empty()) {
    if (runs != nullptr && result.disk_left_behind.empty())
      (void)impl_->SetMetadataKey(runs->domain.get(), Impl::kDiskCopyKey, "");
    result.disk_bytes = disk_bytes;
    if (disk_copy_started_ms >= 0 && disk_caught_up_ms >= 0)
      result.disk_copy_ms = disk_caught_up_ms - disk_copy_started_ms;
  }
  return finish(result.completed      ? MigrationPhase::kCompleted
                : stop_reason.empty() ? MigrationPhase::kFailed
                                      : MigrationPhase::kCancelled);
}

Status LibvirtDriver::CancelMigration(const std::string& name) {
  Result<std::vector<Copy>> copies = impl_->Copies(name);
  if (!copies.ok()) return copies.status();
  const auto no_way_back = [&name] {
    return Status::Conflict("VM '" + name +
                            "' is in post-copy: it runs on its destination, and there is no "
                            "way back; the migration ends by itself");
  };
  if (Impl::InPostcopy(*copies)) return no_way_back();
  const Copy* source = Impl::Source(*copies);
  if (source == nullptr || !Impl::JobRunning(source->domain.get()))
    return Status::Conflict("VM '" + name + "' is not migrating");
  {
    std::lock_guard<std::mutex> lock(impl_->watch_mutex);
    if (impl_->watches.count(name)) impl_->cancel_requests.insert(name);
  }
  if (virDomainAbortJob(source->domain.get()) < 0) {
    const Status refused = LastError("cancelling the migration of VM '" + name + "'");
    // The switch to post-copy may have come between the look above and the abort (seen in a
    // test: the switch asked for, libvirt's job already post-copy, the copies' states not yet):
    // libvirt refuses then, and the caller is told why in greenshift's words once the states
    // say so.
    for (int i = 0; i < 10; ++i) {
      if (Result<std::vector<Copy>> now = impl_->Copies(name); now.ok() && Impl::InPostcopy(*now))
        return no_way_back();
      std::this_thread::sleep_for(milliseconds(100));
    }
    return refused;
  }
  return Status::Ok();
}

Result<VmInfo> LibvirtDriver::Recover(const std::string& name, milliseconds timeout) {
  // The source daemon drives a peer-to-peer migration on its own: it is waited for, then
  // aborted if it still runs; libvirt leaves the VM in one place either way.
  const SteadyTime deadline = SteadyNow() + timeout;
  // After an abort libvirt ends the destination's copy itself, in its own time (seconds on a
  // busy host: 500 ms was once too little); past this, Recover ends it.
  SteadyTime abort_deadline{};
  bool aborted = false;
  LeftSender left_sender;
  while (true) {
    Result<std::vector<Copy>> copies = impl_->Copies(name);
    if (!copies.ok()) return copies.status();
    if (copies->empty()) return Status::NotFound("no VM is named '" + name + "'");
    if (Impl::InPostcopy(*copies)) {
      // Past the switch of a post-copy: nothing is aborted, resumed or ended while the guest's
      // memory is split. It is waited for (its own connection carries on when a cut link
      // returns: Migrate); a source left paused once the destination has everything is ended.
      // The destination is the other active copy: receiving (running in post-copy), about to
      // (still paused, as it is at the switch), or done (running, its memory all there).
      const Copy* sender = nullptr;
      const Copy* other = nullptr;
      for (const Copy& c : *copies) {
        if (c.postcopy_sender && sender == nullptr) {
          sender = &c;
        } else if (c.active && other == nullptr) {
          other = &c;
        }
      }
      const bool done =
          other != nullptr && other->state == VIR_DOMAIN_RUNNING && !other->postcopy_receiver;
      if (sender != nullptr && other == nullptr)
        return Status::Error("VM '" + name + "' is lost: its destination ended during post-copy, " +
                             "and its copy paused on host " + impl_->HostName(sender->host) +
                             " is older than what the guest did after the switch (it is not " +
                             "resumed). Stop the VM and start it again");
      if (sender != nullptr && done) {
        if (!left_sender.EndWhenSettled(sender->domain.get()))
          return LastError("VM '" + name + "' runs on host " + impl_->HostName(other->host) +
                           ", ending the paused copy its post-copy left on host " +
                           impl_->HostName(sender->host));
      } else if (SteadyNow() >= deadline && sender == nullptr) {
        return Status::Error("VM '" + name + "' runs on host " + impl_->HostName(other->host) +
                             " in post-copy, and no host has its source any more: libvirt "
                             "still counts its memory as arriving; if it did not all arrive, "
                             "the guest is lost (its console says so)");
      } else if (SteadyNow() >= deadline) {
        return Status::Unavailable(
            "VM '" + name + "' is in post-copy: it runs on host " + impl_->HostName(other->host) +
            ", part of its memory still on host " + impl_->HostName(sender->host) +
            ", and it cannot be rolled back; it completes by itself once the link between them "
            "works (try again then)");
      }
      std::this_thread::sleep_for(milliseconds(200));
      continue;
    }
    const Copy* source = Impl::Source(*copies);
    const bool migrating =
        copies->size() > 1 || (source != nullptr && Impl::JobRunning(source->domain.get()));
    if (!migrating) break;
    if (!aborted && SteadyNow() >= deadline) {
      if (source != nullptr) (void)virDomainAbortJob(source->domain.get());
      aborted = true;
      abort_deadline = SteadyNow() + kAbortSettles;
    }
    if (aborted && SteadyNow() >= abort_deadline) {
      // The source runs the VM: an incoming copy left elsewhere is no longer the VM.
      if (source != nullptr) {
        for (const Copy& c : *copies) {
          if (c.active && c.incoming && virDomainDestroy(c.domain.get()) < 0)
            return LastError("VM '" + name + "' runs on host " + impl_->HostName(source->host) +
                             ", ending the copy an aborted migration left on host " +
                             impl_->HostName(c.host));
        }
      }
      break;
    }
    std::this_thread::sleep_for(milliseconds(200));
  }
  Result<std::vector<Copy>> copies = impl_->Copies(name);
  if (!copies.ok()) return copies.status();
  if (const Copy* source = Impl::Source(*copies); source != nullptr) {
    if (source->state == VIR_DOMAIN_PAUSED && source->reason == VIR_DOMAIN_PAUSED_MIGRATION)
      (void)virDomainResume(source->domain.get());  // left paused by the migration that ended
    // A disk copy the dead caller started: the copy where the VM does not run goes.
    if (const std::string left = impl_->SettleDiskCopy(*source); !left.empty())
      return Status::Error("VM '" + name + "' runs on host " + impl_->HostName(source->host) +
                           ", but a copy of its disk is left: " + left);
  }
  return GetVm(name);
}

Result<double> LibvirtDriver::MeasureDirtyRate(const std::string& name, int seconds) {
  if (seconds < 1 || seconds > 60)
    return Status::Invalid("dirty-rate measurement time must be 1..60 s, got " +
                           std::to_string(seconds));
  Result<std::vector<Copy>> copies = impl_->Copies(name);
  if (!copies.ok()) return copies.status();
  const Copy* source = Impl::Source(*copies);
  if (source == nullptr) return Status::NotFound("VM '" + name + "' is not running");
  virDomainPtr dom = source->domain.get();
  if (virDomainStartDirtyRateCalc(dom, seconds, VIR_DOMAIN_DIRTYRATE_MODE_PAGE_SAMPLING) < 0)
    return LastError("VM '" + name + "': measuring its dirty rate");
  const SteadyTime deadline = SteadyNow() + std::chrono::seconds(seconds + 10);
  while (SteadyNow() < deadline) {
    std::this_thread::sleep_for(milliseconds(200));
    virDomainPtr doms[] = {dom, nullptr};
    virDomainStatsRecordPtr* records = nullptr;
    const int n = virDomainListGetStats(doms, VIR_DOMAIN_STATS_DIRTYRATE, &records, 0);
    if (n < 0) return LastError("VM '" + name + "': reading its dirty rate");
    int status = -1;
    long long mib_s = 0;
    if (n > 0) {
      (void)virTypedParamsGetInt(records[0]->params, records[0]->nparams,
                                 VIR_DOMAIN_STATS_DIRTYRATE_CALC_STATUS, &status);
      (void)virTypedParamsGetLLong(records[0]->params, records[0]->nparams,
                                   VIR_DOMAIN_STATS_DIRTYRATE_MEGABYTES_PER_SECOND, &mib_s);
    }
    virDomainStatsRecordListFree(records);
    if (status == VIR_DOMAIN_DIRTYRATE_MEASURED) return static_cast<double>(mib_s) * 1024 * 1024;
  }
  return Status::Unavailable("VM '" + name + "': libvirt did not finish measuring in time");
}

}  // namespace greenshift::libvirt
