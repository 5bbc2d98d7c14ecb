#include "lab/storage.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/files.h"
#include "core/process.h"
#include "hypervisor/qemu/qmp_client.h"

namespace greenshift::lab {

using nlohmann::json;
using std::chrono::milliseconds;

namespace {

std::string StorageDir(const LabState& state) {
  return state.disk_dir + "/" + kStorageNode;
}

std::string QmpSocket(const LabState& state) {
  return state.run_dir + "/storage/qsd.qmp";
}

Result<std::unique_ptr<qemu::QmpClient>> ConnectStorage(const LabState& state) {
  if (!state.has_storage)
    return Status::Invalid("lab " + state.name + " has no shared storage (lab up --storage)");
  Result<std::unique_ptr<qemu::QmpClient>> qmp =
      qemu::QmpClient::Connect(QmpSocket(state), milliseconds(3000));
  if (!qmp.ok()) return qmp.status().Context("the lab's storage server");
  return qmp;
}

// Adds the image as a node and exports it writable under the VM's name.
Status Export(qemu::QmpClient& qmp, const std::string& vm, const std::string& image) {
  const json node = {{"driver", "qcow2"},
                     {"node-name", "vm-" + vm},
                     {"file", {{"driver", "file"}, {"filename", image}}}};
  if (Result<json> r = qmp.Execute("blockdev-add", node); !r.ok())
    return r.status().Context("storage server: image of VM '" + vm + "'");
  const json exported = {{"type", "nbd"},
                         {"id", "vm-" + vm},
                         {"node-name", "vm-" + vm},
                         {"writable", true},
                         {"name", vm}};
  if (Result<json> r = qmp.Execute("block-export-add", exported); !r.ok())
    return r.status().Context("storage server: export of VM '" + vm + "'");
  return Status::Ok();
}

}  // namespace

std::string SharedImagePath(const LabState& state, const std::string& vm) {
  return StorageDir(state) + "/" + vm + ".qcow2";
}

std::string StoragePidFile(const LabState& state) {
  return state.run_dir + "/storage/qsd.pid";
}

int StorageServerPid(const LabState& state) {
  Result<std::string> text = ReadFile(StoragePidFile(state));
  if (!text.ok()) return 0;
  const int pid = std::atoi(text->c_str());
  return pid > 0 && ProcessAlive(pid) ? pid : 0;
}

Status StartStorageServer(const LabState& state) {
  if (!state.has_storage) return Status::Invalid("lab " + state.name + " has no shared storage");
  GS_RETURN_IF_ERROR(MakeDirs(state.run_dir + "/storage"));
  GS_RETURN_IF_ERROR(MakeDirs(StorageDir(state)));
  (void)RemoveFile(QmpSocket(state));
  (void)RemoveFile(StoragePidFile(state));
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
      StoragePidFile(state),
      "--daemonize"};
  Result<CommandOutput> started =
      RunCommand(argv, RunOptions{state.storage.netns, std::chrono::seconds(30)});
  if (!started.ok() || started->exit_code != 0) {
    return Status::Error("qemu-storage-daemon did not start in " + state.storage.netns + ": " +
                         (started.ok() ? started->stderr_text : started.error()));
  }
  Result<std::unique_ptr<qemu::QmpClient>> qmp = ConnectStorage(state);
  if (!qmp.ok()) return qmp.status();
  std::vector<std::string> images = ListDir(StorageDir(state));
  std::sort(images.begin(), images.end());
  for (const std::string& file : images) {
    if (file.size() <= 6 || file.substr(file.size() - 6) != ".qcow2") continue;
    GS_RETURN_IF_ERROR(
        Export(**qmp, file.substr(0, file.size() - 6), StorageDir(state) + "/" + file));
  }
  return Status::Ok();
}

void StopStorageServer(const LabState& state) {
  if (const int pid = StorageServerPid(state); pid > 0)
    TerminateProcess(pid, std::chrono::seconds(5));
  (void)RemoveFile(QmpSocket(state));
}

Status AddSharedDisk(const LabState& state, const std::string& vm, int gib) {
  Result<std::unique_ptr<qemu::QmpClient>> qmp = ConnectStorage(state);
  if (!qmp.ok()) return qmp.status();
  const std::string image = SharedImagePath(state, vm);
  if (PathExists(image)) {
    return Status::Conflict("the shared image of VM '" + vm + "' already exists: " + image +
                            " (a disk is never overwritten: remove it, or name the VM otherwise)");
  }
  GS_RETURN_IF_ERROR(
      RunChecked({"qemu-img", "create", "-q", "-f", "qcow2", image, std::to_string(gib) + "G"}));
  if (Status exported = Export(**qmp, vm, image); !exported.ok()) {
    (void)RemoveFile(image);
    return exported;
  }
  return Status::Ok();
}

void RemoveSharedDisk(const LabState& state, const std::string& vm) {
  if (Result<std::unique_ptr<qemu::QmpClient>> qmp = ConnectStorage(state); qmp.ok()) {
    (void)(*qmp)->Execute("block-export-del", {{"id", "vm-" + vm}, {"mode", "hard"}});
    // The export goes asynchronously; the node can be deleted once it has.
    for (int i = 0; i < 50; ++i) {
      if ((*qmp)->Execute("blockdev-del", {{"node-name", "vm-" + vm}}).ok()) break;
      std::this_thread::sleep_for(milliseconds(20));
    }
  }
  (void)RemoveFile(SharedImagePath(state, vm));
}

}  // namespace greenshift::lab
