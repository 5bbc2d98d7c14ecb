#include "lab/storage.h"

#include <algorithm>
#include <chrono>
#include <regex>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/files.h"
#include "core/process.h"
#include "hypervisor/qemu/qmp_client.h"

namespace greenshift::lab {

using nlohmann::json;
using std::chrono::milliseconds;

namespace {

constexpr char kIqnPrefix[] = "iqn.2026-11.org.greenshift:";

std::string StorageDir(const LabState& state) {
  return state.disk_dir + "/" + kStorageNode;
}

std::string ImageDir(const LabState& state, const std::string& protocol) {
  return StorageDir(state) + "/" + protocol;
}

std::string ImageSuffix(const std::string& protocol) {
  return protocol == "iscsi" ? ".img" : ".qcow2";
}

// The servers' own files. qemu-storage-daemon's and tgtd's are in the lab's run directory;
// ganesha's and rpcbind's are not, as they see a /run of their own (see storage.h).
std::string ServerDir(const LabState& state) {
  return state.run_dir + "/storage";
}
std::string QmpSocket(const LabState& state) {
  return ServerDir(state) + "/qsd.qmp";
}
std::string NfsDir(const LabState& state) {
  return StorageDir(state) + "/ganesha";
}

std::string PidFile(const LabState& state, const std::string& protocol) {
  if (protocol == "nbd") return ServerDir(state) + "/qsd.pid";
  if (protocol == "iscsi") return ServerDir(state) + "/tgtd.pid";
  return NfsDir(state) + "/ganesha.pid";
}
std::string RpcbindPidFile(const LabState& state) {
  return NfsDir(state) + "/rpcbind.pid";
}

std::string Program(const std::string& protocol) {
  if (protocol == "nbd") return "qemu-storage-daemon";
  if (protocol == "iscsi") return "tgtd";
  return "ganesha.nfsd";
}

int ServerPid(const LabState& state, const std::string& protocol) {
  const int pid = RunningPid(PidFile(state, protocol), Program(protocol));
  // ganesha without its portmapper serves nobody.
  if (protocol == "nfs" && pid > 0 && RunningPid(RpcbindPidFile(state), "rpcbind") == 0) return 0;
  return pid;
}

Status NoStorage(const LabState& state) {
  return Status::Invalid("lab " + state.name + " has no shared storage (lab up --storage)");
}

// Image names in `protocol`'s directory, without their suffix, sorted.
std::vector<std::string> SharedVms(const LabState& state, const std::string& protocol) {
  const std::string suffix = ImageSuffix(protocol);
  std::vector<std::string> vms;
  for (const std::string& file : ListDir(ImageDir(state, protocol))) {
    if (file.size() > suffix.size() && file.substr(file.size() - suffix.size()) == suffix)
      vms.push_back(file.substr(0, file.size() - suffix.size()));
  }
  std::sort(vms.begin(), vms.end());
  return vms;
}

// --- nbd: qemu-storage-daemon ------------------------------------------------------------

Result<std::unique_ptr<qemu::QmpClient>> ConnectNbdServer(const LabState& state) {
  if (!state.has_storage) return NoStorage(state);
  Result<std::unique_ptr<qemu::QmpClient>> qmp =
      qemu::QmpClient::Connect(QmpSocket(state), milliseconds(3000));
  if (!qmp.ok()) return qmp.status().Context("the lab's NBD server");
  return qmp;
}

// Adds the image as a node and exports it writable under the VM's name.
Status ExportNbd(qemu::QmpClient& qmp, const std::string& vm, const std::string& image) {
  const json node = {{"driver", "qcow2"},
                     {"node-name", "vm-" + vm},
                     {"file", {{"driver", "file"}, {"filename", image}}}};
  if (Result<json> r = qmp.Execute("blockdev-add", node); !r.ok())
    return r.status().Context("NBD server: image of VM '" + vm + "'");
  const json exported = {{"type", "nbd"},
                         {"id", "vm-" + vm},
                         {"node-name", "vm-" + vm},
                         {"writable", true},
                         {"name", vm}};
  if (Result<json> r = qmp.Execute("block-export-add", exported); !r.ok())
    return r.status().Context("NBD server: export of VM '" + vm + "'");
  return Status::Ok();
}

Status StartNbdServer(const LabState& state) {
  (void)RemoveFile(QmpSocket(state));
  (void)RemoveFile(PidFile(state, "nbd"));
  const std::vector<std::string> argv = {
      "qemu-storage-daemon",
      "--chardev",
      "socket,id=qmp0,path=" + QmpSocket(state) + ",server=on,wait=off",
      "--monitor",
      "chardev=qmp0",
      "--nbd-server",
      std::string("addr.type=inet,addr.host=") + kStorageAddress +
          ",addr.port=" + std::to_string(kStorageNbdPort),
      "--pidfile",
      PidFile(state, "nbd"),
      "--daemonize"};
  GS_RETURN_IF_ERROR(RunChecked(argv, RunOptions{state.storage.netns, std::chrono::seconds(30)})
                         .Context("qemu-storage-daemon did not start in " + state.storage.netns));
  Result<std::unique_ptr<qemu::QmpClient>> qmp = ConnectNbdServer(state);
  if (!qmp.ok()) return qmp.status();
  for (const std::string& vm : SharedVms(state, "nbd"))
    GS_RETURN_IF_ERROR(ExportNbd(**qmp, vm, SharedImagePath(state, vm, "nbd")));
  return Status::Ok();
}

// --- iscsi: tgtd -------------------------------------------------------------------------

// tgtd is managed through a unix socket named by a "control port" (/var/run/tgtd/socket.N),
// one path for the whole machine: each lab picks a free N once and keeps it.
Result<int> TgtdControlPort(const LabState& state) {
  const std::string saved = ServerDir(state) + "/tgtd.port";
  if (Result<std::string> text = ReadFile(saved); text.ok() && std::atoi(text->c_str()) > 0)
    return std::atoi(text->c_str());
  for (int port = 100; port < 1000; ++port) {
    if (PathExists("/var/run/tgtd/socket." + std::to_string(port))) continue;
    GS_RETURN_IF_ERROR(WriteFileAtomic(saved, std::to_string(port) + "\n"));
    return port;
  }
  return Status::Error("no free tgtd control port in 100..999 (/var/run/tgtd/)");
}

// tgtadm on the lab's control port, with `args`.
Result<std::vector<std::string>> TgtadmArgv(const LabState& state,
                                            const std::vector<std::string>& args) {
  Result<int> port = TgtdControlPort(state);
  if (!port.ok()) return port.status();
  std::vector<std::string> argv = {"tgtadm", "-C", std::to_string(*port), "--lld", "iscsi"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}
constexpr std::chrono::seconds kTgtadmTimeout{20};

Result<CommandOutput> Tgtadm(const LabState& state, const std::vector<std::string>& args) {
  Result<std::vector<std::string>> argv = TgtadmArgv(state, args);
  if (!argv.ok()) return argv.status();
  return RunCommand(*argv, RunOptions{"", kTgtadmTimeout});
}

Status TgtadmChecked(const LabState& state, const std::vector<std::string>& args,
                     const std::string& what) {
  Result<std::vector<std::string>> argv = TgtadmArgv(state, args);
  if (!argv.ok()) return argv.status().Context(what);
  return RunChecked(*argv, RunOptions{"", kTgtadmTimeout}).Context(what);
}

// Target id by IQN, from `tgtadm --op show --mode target`.
Result<std::map<std::string, int>> IscsiTargets(const LabState& state) {
  Result<CommandOutput> out = Tgtadm(state, {"--op", "show", "--mode", "target"});
  if (!out.ok()) return out.status();
  if (out->exit_code != 0)
    return Status::Error("the lab's iSCSI server does not answer: " + out->stderr_text);
  std::map<std::string, int> targets;
  static const std::regex line(R"(^Target (\d+): (\S+)$)");
  size_t start = 0;
  while (start < out->stdout_text.size()) {
    size_t end = out->stdout_text.find('\n', start);
    if (end == std::string::npos) end = out->stdout_text.size();
    std::smatch m;
    const std::string text = out->stdout_text.substr(start, end - start);
    if (std::regex_match(text, m, line)) targets[m[2]] = std::stoi(m[1]);
    start = end + 1;
  }
  return targets;
}

// A target for the VM with its image as LUN 1, open to every initiator (the lab's sites).
Status ExportIscsi(const LabState& state, const std::string& vm, const std::string& image) {
  Result<std::map<std::string, int>> targets = IscsiTargets(state);
  if (!targets.ok()) return targets.status();
  if (targets->count(kIqnPrefix + vm)) return Status::Ok();
  int tid = 1;
  for (const auto& [iqn, id] : *targets) tid = std::max(tid, id + 1);
  const std::string what = "iSCSI server: target of VM '" + vm + "'";
  GS_RETURN_IF_ERROR(TgtadmChecked(
      state,
      {"--op", "new", "--mode", "target", "--tid", std::to_string(tid), "-T", kIqnPrefix + vm},
      what));
  GS_RETURN_IF_ERROR(
      TgtadmChecked(state,
                    {"--op", "new", "--mode", "logicalunit", "--tid", std::to_string(tid), "--lun",
                     "1", "--bstype", "rdwr", "--backing-store", image},
                    what));
  return TgtadmChecked(
      state, {"--op", "bind", "--mode", "target", "--tid", std::to_string(tid), "-I", "ALL"}, what);
}

Status StartIscsiServer(const LabState& state) {
  Result<int> port = TgtdControlPort(state);
  if (!port.ok()) return port.status();
  (void)RemoveFile(PidFile(state, "iscsi"));
  // tgtd goes to the background once its sockets are bound.
  GS_RETURN_IF_ERROR(RunChecked({"tgtd", "--iscsi",
                                 std::string("portal=") + kStorageAddress + ":" +
                                     std::to_string(kStorageIscsiPort),
                                 "-C", std::to_string(*port), "-p", PidFile(state, "iscsi")},
                                RunOptions{state.storage.netns, std::chrono::seconds(30)})
                         .Context("tgtd did not start in " + state.storage.netns +
                                  " (is Debian's tgt installed? scripts/setup.sh installs it)"));
  Status answered = Status::Ok();
  for (int i = 0; i < 50; ++i) {
    Result<std::map<std::string, int>> targets = IscsiTargets(state);
    answered = targets.status();
    if (answered.ok()) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  GS_RETURN_IF_ERROR(answered);
  for (const std::string& vm : SharedVms(state, "iscsi"))
    GS_RETURN_IF_ERROR(ExportIscsi(state, vm, SharedImagePath(state, vm, "iscsi")));
  return Status::Ok();
}

// --- nfs: nfs-ganesha and rpcbind --------------------------------------------------------

std::string GaneshaConfig(const LabState& state) {
  // NFSv3 only (what QEMU's libnfs speaks); no lock manager or quotas; the VMs' images
  // directory exported read-write to the sites, root not squashed (QEMU runs as root).
  return "NFS_CORE_PARAM {\n"
         "  Bind_addr = " +
         std::string(kStorageAddress) +
         ";\n"
         "  NFS_Port = " +
         std::to_string(kStorageNfsPort) +
         ";\n"
         "  MNT_Port = 20048;\n"
         "  Protocols = 3;\n"
         "  Enable_NLM = false;\n"
         "  Enable_RQUOTA = false;\n"
         "}\n"
         "NFSv4 { RecoveryRoot = \"" +
         NfsDir(state) +
         "/recovery\"; Graceless = true; }\n"
         "EXPORT {\n"
         "  Export_Id = 1;\n"
         "  Path = \"" +
         ImageDir(state, "nfs") +
         "\";\n"
         "  Pseudo = /greenshift;\n"
         "  Access_Type = RW;\n"
         "  Squash = No_Root_Squash;\n"
         "  Protocols = 3;\n"
         "  Transports = TCP;\n"
         "  SecType = sys;\n"
         "  FSAL { Name = VFS; }\n"
         "}\n"
         "LOG { Default_Log_Level = WARN; }\n";
}

Status StartNfsServer(const LabState& state) {
  // A portmapper left from a ganesha that died holds port 111: both start afresh.
  if (const int pid = RunningPid(RpcbindPidFile(state), "rpcbind"); pid > 0)
    TerminateProcess(pid, std::chrono::seconds(5));
  if (const int pid = RunningPid(PidFile(state, "nfs"), "ganesha.nfsd"); pid > 0)
    TerminateProcess(pid, std::chrono::seconds(5));
  GS_RETURN_IF_ERROR(MakeDirs(NfsDir(state) + "/recovery"));
  const std::string config = NfsDir(state) + "/ganesha.conf";
  GS_RETURN_IF_ERROR(WriteFileAtomic(config, GaneshaConfig(state)));
  (void)RemoveFile(PidFile(state, "nfs"));
  (void)RemoveFile(RpcbindPidFile(state));
  // In a mount namespace of its own with a private /run: rpcbind's socket there, ganesha
  // registering through it. The paths passed in are outside /run.
  const std::string script =
      "set -e\n"
      "mount --make-rprivate /\n"
      "mount -t tmpfs greenshift-nfs /run\n"
      "mkdir -p /run/ganesha\n"
      // -s: as the daemon user (there is no _rpc user); -f: stays a child we have the pid of.
      "rpcbind -s -f </dev/null >/dev/null 2>&1 &\n"
      "echo $! >\"$1\"\n"
      "i=0\n"
      "while [ ! -S /run/rpcbind.sock ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done\n"
      "exec ganesha.nfsd -f \"$2\" -L \"$3\" -p \"$4\" </dev/null >/dev/null 2>&1\n";
  GS_RETURN_IF_ERROR(
      RunChecked({"unshare", "--mount", "sh", "-c", script, "ganesha-start", RpcbindPidFile(state),
                  config, NfsDir(state) + "/ganesha.log", PidFile(state, "nfs")},
                 RunOptions{state.storage.netns, std::chrono::seconds(30)})
          .Context("nfs-ganesha did not start in " + state.storage.netns +
                   " (are nfs-ganesha, nfs-ganesha-vfs and rpcbind installed? "
                   "scripts/setup.sh installs them)"));
  // It serves once NFS and MOUNT are registered with the portmapper.
  for (int i = 0; i < 150; ++i) {
    Result<CommandOutput> nfs =
        RunCommand({"rpcinfo", "-T", "tcp", kStorageAddress, "mountd", "3"},
                   RunOptions{state.storage.netns, std::chrono::seconds(5)});
    if (nfs.ok() && nfs->exit_code == 0 && ServerPid(state, "nfs") > 0) return Status::Ok();
    std::this_thread::sleep_for(milliseconds(100));
  }
  return Status::Error("nfs-ganesha in " + state.storage.netns +
                       " does not serve after 15 s (see " + NfsDir(state) + "/ganesha.log)");
}

}  // namespace

bool IsSharedStorage(const std::string& storage) {
  return storage == "nbd" || storage == "iscsi" || storage == "nfs";
}

std::vector<StorageServer> StorageServers(const LabState& state) {
  std::vector<StorageServer> servers;
  for (const auto& [protocol, port] : {std::pair<std::string, int>{"nbd", kStorageNbdPort},
                                       {"iscsi", kStorageIscsiPort},
                                       {"nfs", kStorageNfsPort}}) {
    servers.push_back({protocol, Program(protocol), port, ServerPid(state, protocol)});
  }
  return servers;
}

std::string SharedImagePath(const LabState& state, const std::string& vm,
                            const std::string& protocol) {
  return ImageDir(state, protocol) + "/" + vm + ImageSuffix(protocol);
}

qemu::SharedDisk SharedDiskFor(const std::string& vm, const std::string& protocol,
                               const LabState& state) {
  qemu::SharedDisk disk;
  disk.protocol = protocol;
  disk.host = kStorageAddress;
  if (protocol == "iscsi") {
    disk.port = kStorageIscsiPort;
    disk.export_name = kIqnPrefix + vm;
  } else if (protocol == "nfs") {
    disk.port = kStorageNfsPort;
    disk.export_name = SharedImagePath(state, vm, "nfs");
  } else {
    disk.port = kStorageNbdPort;
    disk.export_name = vm;
  }
  return disk;
}

Status StartStorageServers(const LabState& state) {
  if (!state.has_storage) return NoStorage(state);
  GS_RETURN_IF_ERROR(MakeDirs(ServerDir(state)));
  for (const char* protocol : {"nbd", "iscsi", "nfs"})
    GS_RETURN_IF_ERROR(MakeDirs(ImageDir(state, protocol)));
  if (ServerPid(state, "nbd") == 0) GS_RETURN_IF_ERROR(StartNbdServer(state));
  if (ServerPid(state, "iscsi") == 0) GS_RETURN_IF_ERROR(StartIscsiServer(state));
  if (ServerPid(state, "nfs") == 0) GS_RETURN_IF_ERROR(StartNfsServer(state));
  return Status::Ok();
}

void StopStorageServers(const LabState& state) {
  // tgtd ignores SIGTERM while it has targets: it is asked to end (its own way), then signalled.
  if (ServerPid(state, "iscsi") > 0)
    (void)Tgtadm(state, {"--op", "delete", "--mode", "system", "--force"});
  for (const StorageServer& server : StorageServers(state)) {
    if (const int pid = RunningPid(PidFile(state, server.protocol), server.program); pid > 0)
      TerminateProcess(pid, std::chrono::seconds(5));
  }
  if (const int pid = RunningPid(RpcbindPidFile(state), "rpcbind"); pid > 0)
    TerminateProcess(pid, std::chrono::seconds(5));
  (void)RemoveFile(QmpSocket(state));
  if (Result<std::string> port = ReadFile(ServerDir(state) + "/tgtd.port"); port.ok()) {
    const std::string socket = "/var/run/tgtd/socket." + std::to_string(std::atoi(port->c_str()));
    (void)RemoveFile(socket);
    (void)RemoveFile(socket + ".lock");
  }
}

Status AddSharedDisk(const LabState& state, const std::string& vm, int gib,
                     const std::string& protocol) {
  if (!state.has_storage) return NoStorage(state);
  if (!IsSharedStorage(protocol))
    return Status::Invalid("shared storage is nbd, iscsi or nfs, not '" + protocol + "'");
  if (ServerPid(state, protocol) == 0) {
    return Status::Error("the lab's " + protocol + " server (" + Program(protocol) +
                         ") does not run; `lab up --storage` starts it again");
  }
  const std::string image = SharedImagePath(state, vm, protocol);
  if (PathExists(image)) {
    return Status::Conflict("the shared image of VM '" + vm + "' already exists: " + image +
                            " (a disk is never overwritten: remove it, or name the VM otherwise)");
  }
  // iSCSI serves a raw image (tgtd's backing store), sparse; the others a qcow2.
  GS_RETURN_IF_ERROR(
      RunChecked({"qemu-img", "create", "-q", "-f", protocol == "iscsi" ? "raw" : "qcow2", image,
                  std::to_string(gib) + "G"}));
  Status shared = Status::Ok();
  if (protocol == "nbd") {
    Result<std::unique_ptr<qemu::QmpClient>> qmp = ConnectNbdServer(state);
    shared = qmp.ok() ? ExportNbd(**qmp, vm, image) : qmp.status();
  } else if (protocol == "iscsi") {
    shared = ExportIscsi(state, vm, image);
  }  // nfs: the export is the directory; the image is in it
  if (!shared.ok()) (void)RemoveFile(image);
  return shared;
}

void RemoveSharedDisk(const LabState& state, const std::string& vm, const std::string& protocol) {
  if (protocol == "nbd") {
    if (Result<std::unique_ptr<qemu::QmpClient>> qmp = ConnectNbdServer(state); qmp.ok()) {
      (void)(*qmp)->Execute("block-export-del", {{"id", "vm-" + vm}, {"mode", "hard"}});
      // The export goes asynchronously; the node can be deleted once it has.
      for (int i = 0; i < 50; ++i) {
        if ((*qmp)->Execute("blockdev-del", {{"node-name", "vm-" + vm}}).ok()) break;
        std::this_thread::sleep_for(milliseconds(20));
      }
    }
  } else if (protocol == "iscsi" && ServerPid(state, "iscsi") > 0) {
    if (Result<std::map<std::string, int>> targets = IscsiTargets(state); targets.ok()) {
      if (auto it = targets->find(kIqnPrefix + vm); it != targets->end()) {
        (void)Tgtadm(state, {"--op", "delete", "--mode", "target", "--force", "--tid",
                             std::to_string(it->second)});
      }
    }
  }
  (void)RemoveFile(SharedImagePath(state, vm, protocol));
}

}  // namespace greenshift::lab
