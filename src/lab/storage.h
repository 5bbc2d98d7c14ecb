// The lab's shared storage (`lab up --storage`): a namespace of its own, <lab>-st, with the
// address 198.19.254.1, linked to every site the way sites are linked to each other (so a link
// to it can be shaped or cut), running three servers, one per protocol a VM's disk may be
// shared over:
//   nbd    qemu-storage-daemon, port 10809: the VM's qcow2 image exported under its name;
//   iscsi  tgtd (Debian's tgt), port 3260: one target per VM (iqn.2026-11.org.greenshift:<vm>),
//          its LUN 1 a raw image;
//   nfs    nfs-ganesha (NFSv3, with rpcbind as its portmapper), port 2049: the directory of the
//          VMs' qcow2 images, exported read-write without root squashing.
// A VM started with storage nbd, iscsi or nfs has its image in the storage directory; its QEMU
// on whichever site reaches it over the network, so a migration moves no disk.
//
// rpcbind has one fixed socket path (/run/rpcbind.sock) through which a local server registers;
// rpcbind and ganesha therefore run in a mount namespace of their own with a private /run, so
// that two labs, or a lab and the machine's own NFS, never register with each other's rpcbind.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "hypervisor/qemu/qemu_driver.h"
#include "lab/lab.h"

namespace greenshift::lab {

constexpr char kStorageNode[] = "storage";
constexpr char kStorageAddress[] = "198.19.254.1";
constexpr int kStorageNbdPort = 10809;
constexpr int kStorageIscsiPort = 3260;
constexpr int kStorageNfsPort = 2049;

// True for the storage modes whose disk is shared: nbd, iscsi, nfs ("copy" is not).
bool IsSharedStorage(const std::string& storage);

// One server of the storage namespace.
struct StorageServer {
  std::string protocol;  // nbd, iscsi, nfs
  std::string program;   // qemu-storage-daemon, tgtd, ganesha.nfsd
  int port = 0;
  int pid = 0;  // 0: not running
};
// All three, in the order nbd, iscsi, nfs.
std::vector<StorageServer> StorageServers(const LabState& state);

// The image of `vm`'s disk shared over `protocol`, and how a QEMU reaches it.
std::string SharedImagePath(const LabState& state, const std::string& vm,
                            const std::string& protocol);
qemu::SharedDisk SharedDiskFor(const std::string& vm, const std::string& protocol,
                               const LabState& state);

// Starts every server that does not run, and gives it back every image of its protocol already
// in the storage directory (after a server died, its VMs find their disks again under their
// names). Servers that run are left alone. An error names the server that did not start.
Status StartStorageServers(const LabState& state);
// Ends them all (SIGTERM, then SIGKILL). The images stay.
void StopStorageServers(const LabState& state);

// Creates `vm`'s image of `gib` GiB and shares it over `protocol`. Conflict when it exists (a
// disk is never overwritten); an error when the lab has no storage or the server does not
// answer.
Status AddSharedDisk(const LabState& state, const std::string& vm, int gib,
                     const std::string& protocol);
// Withdraws the share and deletes the image (the VM was stopped and forgotten).
void RemoveSharedDisk(const LabState& state, const std::string& vm, const std::string& protocol);

}  // namespace greenshift::lab
