#include "lab/libvirt_hosts.h"

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "core/files.h"
#include "core/process.h"
#include "lab/storage.h"

namespace greenshift::lab {

namespace {

std::string HostDir(const LabState& state, const LabSite& site) {
  return state.run_dir + "/libvirt/" + site.name;
}

// The system directories each daemon gets a private copy of.
const std::pair<const char*, const char*> kPrivate[] = {
    {"run", "/run/libvirt"},     {"lib", "/var/lib/libvirt"},     {"etc", "/etc/libvirt"},
    {"log", "/var/log/libvirt"}, {"cache", "/var/cache/libvirt"},
};

int ReadPid(const std::string& path) {
  Result<std::string> text = ReadFile(path);
  return text.ok() ? std::atoi(text->c_str()) : 0;
}

}  // namespace

std::string HostUuid(const std::string& lab, const std::string& site) {
  // Two FNV-1a hashes of "lab/site", as a version-4 UUID.
  uint64_t a = 1469598103934665603ull, b = 1099511628211ull * 31;
  for (char c : lab + "/" + site) {
    a = (a ^ static_cast<uint8_t>(c)) * 1099511628211ull;
    b = (b ^ static_cast<uint8_t>(c)) * 1469598103934665603ull;
  }
  char uuid[37];
  std::snprintf(uuid, sizeof uuid, "%08x-%04x-4%03x-8%03x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>((b >> 48) & 0xfff),
                static_cast<unsigned long long>(b & 0xffffffffffffull));
  return uuid;
}

libvirt::LibvirtHost LibvirtHostFor(const LabState& state, const LabSite& site) {
  libvirt::LibvirtHost host;
  host.name = site.name;
  host.uri = "qemu+unix:///system?socket=" + HostDir(state, site) + "/run/libvirt-sock";
  host.peer_uri = "qemu+tcp://" + site.migration_address + "/system";
  host.migration_uri = "tcp://" + site.migration_address;
  return host;
}

Status StartLibvirtHost(const LabState& state, const LabSite& site) {
  const std::string dir = HostDir(state, site);
  for (const auto& [name, target] : kPrivate) {
    GS_RETURN_IF_ERROR(MakeDirs(dir + "/" + name));
    GS_RETURN_IF_ERROR(MakeDirs(target));  // the mount point
  }
  // The distribution's configuration, then ours over it.
  GS_RETURN_IF_ERROR(RunChecked({"cp", "-rn", "/etc/libvirt/.", dir + "/etc/"}));
  GS_RETURN_IF_ERROR(
      WriteFileAtomic(dir + "/etc/libvirtd.conf",
                      "listen_tls = 0\n"
                      "listen_tcp = 1\n"
                      "auth_tcp = \"none\"\n"
                      "tcp_port = \"16509\"\n"
                      "host_uuid = \"" +
                          HostUuid(state.name, site.name) +
                          "\"\n"
                          "unix_sock_group = \"root\"\n"
                          "unix_sock_rw_perms = \"0700\"\n"
                          "log_outputs = \"3:file:/var/log/libvirt/libvirtd.log\"\n"));
  GS_RETURN_IF_ERROR(WriteFileAtomic(dir + "/etc/qemu.conf",
                                     "user = \"root\"\n"
                                     "group = \"root\"\n"
                                     "dynamic_ownership = 0\n"
                                     "remember_owner = 0\n"
                                     "security_driver = \"none\"\n"
                                     // The sites' daemons share this machine's cgroup tree,
                                     // where each would put its first domain "web" in the
                                     // same group: the destination's QEMU in the source's.
                                     // The source's stop then retried removing the group
                                     // (busy) after every migration: 1.7 s more before the
                                     // migration call returned (3.1 s -> 1.4 s). Each daemon's
                                     // limits would land on the other's QEMU. A fleet's hosts
                                     // are machines of their own; the lab's use no cgroups.
                                     "cgroup_controllers = [ ]\n"));
  // The guests' disks: the site's directory of the lab's disks (not /run, a small tmpfs).
  const std::string images = state.disk_dir + "/" + site.name;
  GS_RETURN_IF_ERROR(MakeDirs(images));
  GS_RETURN_IF_ERROR(MakeDirs(dir + "/lib/images"));  // the mount point, in the private lib
  std::string script = "set -e\n";
  for (const auto& [name, target] : kPrivate)
    script += "mount --bind '" + dir + "/" + name + "' " + target + "\n";
  script += "mount --bind '" + images + "' " + kLibvirtImageDir + "\n";
  script +=
      "virtlogd -d -p /run/libvirt/virtlogd.pid\n"
      "libvirtd -d --listen -p /run/libvirt/libvirtd.pid\n";
  GS_RETURN_IF_ERROR(
      RunChecked({"unshare", "--mount", "--propagation", "private", "sh", "-c", script},
                 RunOptions{site.netns, std::chrono::seconds(30)})
          .Context("starting the libvirt daemon of site " + site.name));
  // Until it answers on its socket.
  const std::string socket = dir + "/run/libvirt-sock";
  for (int i = 0; i < 100; ++i) {
    if (PathExists(socket)) {
      libvirt::LibvirtDriverConfig config;
      config.hosts = {LibvirtHostFor(state, site)};
      libvirt::LibvirtDriver driver(config);
      if (driver.CheckHosts()[0].second.ok()) {
        // A fresh daemon probes QEMU's capabilities the first time it starts a guest (seconds
        // here, under TCG); a host of a real fleet has them cached. Probed now, so that the
        // lab's first migration is not seconds slower than the next.
        Result<CommandOutput> probed = RunCommand({"virsh", "-c", LibvirtHostFor(state, site).uri,
                                                   "domcapabilities", "--virttype", "qemu"},
                                                  RunOptions{"", std::chrono::seconds(60)});
        if (!probed.ok() || probed->exit_code != 0)
          return Status::Unavailable(
              "the libvirt daemon of site " + site.name +
              " could not probe QEMU: " + (probed.ok() ? probed->stderr_text : probed.error()));
        // The pool of the guests' disks (persistent, started with the daemon).
        for (const std::vector<std::string>& args :
             {std::vector<std::string>{"pool-define-as", kLibvirtPool, "dir", "--target",
                                       kLibvirtImageDir},
              std::vector<std::string>{"pool-start", kLibvirtPool},
              std::vector<std::string>{"pool-autostart", kLibvirtPool}}) {
          std::vector<std::string> argv = {"virsh", "-q", "-c", LibvirtHostFor(state, site).uri};
          argv.insert(argv.end(), args.begin(), args.end());
          GS_RETURN_IF_ERROR(RunChecked(argv, RunOptions{"", std::chrono::seconds(30)})
                                 .Context("the disk pool of site " + site.name));
        }
        return Status::Ok();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Status::Unavailable("the libvirt daemon of site " + site.name +
                             " did not answer within 10 s (see " + dir + "/log/libvirtd.log)");
}

namespace {

std::string ImageOn(const LabState& state, const std::string& site, const std::string& vm) {
  return state.disk_dir + "/" + site + "/" + vm + ".qcow2";
}

}  // namespace

Status StartLibvirtGuest(libvirt::LibvirtDriver& driver, const LabState& state,
                         const GuestSpec& guest, const std::string& host, const std::string& site,
                         const std::string& guest_dir, const std::string& accel,
                         const std::string& bridge) {
  GS_RETURN_IF_ERROR(CheckGuest(guest));
  const std::string& name = guest.vm.name;
  if (Result<hypervisor::VmInfo> existing = driver.GetVm(name); existing.ok())
    return Status::Conflict("a VM named '" + name + "' already runs on host " + existing->host);
  if (guest.vm.disk_gib <= 0)
    return driver.CreateDomain(host, GuestDomainXml(guest, guest_dir, accel, bridge));
  if (IsSharedStorage(guest.storage)) {
    // Its disk on the lab's shared storage, exported under its name; the domain reaches it
    // as a network disk from whichever host runs it.
    GS_RETURN_IF_ERROR(AddSharedDisk(state, name, guest.vm.disk_gib, guest.storage));
    GuestSpec shared = guest;
    shared.shared_disk = SharedDiskFor(name, guest.storage, state);
    Status created = driver.CreateDomain(host, GuestDomainXml(shared, guest_dir, accel, bridge));
    if (!created.ok()) RemoveSharedDisk(state, name, guest.storage);
    return created;
  }
  for (const LabSite& other : state.sites) {
    if (PathExists(ImageOn(state, other.name, name)))
      return Status::Conflict("an image of VM '" + name +
                              "''s disk already exists: " + ImageOn(state, other.name, name) +
                              " (a disk is never overwritten: remove it, or name the VM "
                              "otherwise)");
  }
  const std::string image = ImageOn(state, site, name);
  GS_RETURN_IF_ERROR(RunChecked({"qemu-img", "create", "-q", "-f", "qcow2", image,
                                 std::to_string(guest.vm.disk_gib) + "G"})
                         .Context("disk of VM '" + name + "' on site " + site));
  Status created = driver.CreateDomain(host, GuestDomainXml(guest, guest_dir, accel, bridge));
  if (!created.ok()) (void)RemoveFile(image);
  return created;
}

Result<int> LibvirtGuestPid(const LabState& state, const LabSite& site, const std::string& vm) {
  // libvirt writes /run/libvirt/qemu/<name>.pid, which in the daemon's mount namespace is the
  // site's own run directory; a pid left by a QEMU that has exited names no process.
  const std::string path = HostDir(state, site) + "/run/qemu/" + vm + ".pid";
  const int pid = ReadPid(path);
  if (!ProcessAlive(pid))
    return Status::NotFound("no QEMU of VM '" + vm + "' at site " + site.name + " (" + path + ")");
  return pid;
}

void RemoveLibvirtGuestDisk(const LabState& state, const std::string& vm) {
  for (const LabSite& site : state.sites) (void)RemoveFile(ImageOn(state, site.name, vm));
}

void StopLibvirtHost(const LabState& state, const LabSite& site) {
  const std::string dir = HostDir(state, site);
  for (const char* daemon : {"libvirtd", "virtlogd"}) {
    const std::string pid_file = dir + "/run/" + daemon + ".pid";
    const int pid = ReadPid(pid_file);
    Result<std::string> cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
    // Only the daemon this lab started (its pid file's process runs that daemon).
    if (pid > 0 && ProcessAlive(pid) && cmdline.ok() && cmdline->find(daemon) != std::string::npos)
      TerminateProcess(pid, std::chrono::seconds(10));
  }
  // A guest its daemon did not stop (the daemon died first): its QEMU's pid file is the
  // daemon's, under the site's directory.
  const std::string qemu_dir = dir + "/run/qemu";
  for (const std::string& entry : ListDir(qemu_dir)) {
    if (entry.size() < 5 || entry.substr(entry.size() - 4) != ".pid") continue;
    const int pid = ReadPid(qemu_dir + "/" + entry);
    Result<std::string> cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
    if (pid > 0 && ProcessAlive(pid) && cmdline.ok() &&
        cmdline->find("qemu") != std::string::npos) {
      std::fprintf(stderr, "greenshift: lab down: stopping QEMU %d (%s) of site %s\n", pid,
                   entry.c_str(), site.name.c_str());
      TerminateProcess(pid, std::chrono::seconds(5));
    }
  }
}

}  // namespace greenshift::lab
