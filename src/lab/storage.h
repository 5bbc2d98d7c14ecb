// The lab's shared storage (`lab up --storage`): a namespace of its own, <lab>-st, with the
// address 198.19.254.1, linked to every site the way sites are linked to each other (so a link
// to it can be shaped or cut), running qemu-storage-daemon as an NBD server. A VM started with
// storage "nbd" has its qcow2 image there, exported under the VM's name; its QEMU on whichever
// site reaches it over NBD, so a migration moves no disk.
#pragma once

#include <string>

#include "core/status.h"
#include "lab/lab.h"

namespace greenshift::lab {

constexpr char kStorageNode[] = "storage";
constexpr char kStorageAddress[] = "198.19.254.1";
constexpr int kStorageNbdPort = 10809;

// The image of `vm`'s shared disk.
std::string SharedImagePath(const LabState& state, const std::string& vm);
std::string StoragePidFile(const LabState& state);

// Starts qemu-storage-daemon in the storage namespace and exports every image already in the
// storage directory (after the server died, its VMs find their disks again under their names).
Status StartStorageServer(const LabState& state);
// Ends it (SIGTERM, then SIGKILL). The images stay.
void StopStorageServer(const LabState& state);
// Its pid when it runs, else 0.
int StorageServerPid(const LabState& state);

// Creates `vm`'s image of `gib` GiB and exports it. Conflict when it exists (a disk is never
// overwritten); an error when the lab has no storage or its server does not answer.
Status AddSharedDisk(const LabState& state, const std::string& vm, int gib);
// Withdraws the export and deletes the image (the VM was stopped and forgotten).
void RemoveSharedDisk(const LabState& state, const std::string& vm);

}  // namespace greenshift::lab
