// The verifier of the guest's disk workload (guest/disk_record.h): reads a disk image and says
// which acknowledged records are on it, missing, or torn. "Acknowledged" is what the guest
// reported as on its disk (its status line's disk_acked): every record up to that number must be
// there, whole. Records past it may be in flight and are only counted.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace greenshift::lab {

struct DiskReport {
  uint64_t slots = 0;    // records the disk holds at once
  uint64_t run = 0;      // the workload's run whose records were checked (the newest on the disk)
  uint64_t acked = 0;    // the guest's last acknowledged record, as given
  uint64_t highest = 0;  // the newest whole record of the run on the disk
  uint64_t checked = 0;  // acknowledged records that should still be on the disk (the ring keeps
                         // the last `slots`)
  uint64_t present = 0;  // of those, whole on the disk
  uint64_t missing = 0;  // of those, absent (never written, or an older record in its slot)
  uint64_t torn = 0;     // of those, in their slot but failing their checksum
  uint64_t in_flight_torn = 0;  // torn records past `acked` (being written when read: allowed)
  std::vector<uint64_t> missing_examples, torn_examples;  // the first few of each
  bool Clean() const { return missing == 0 && torn == 0; }
};

nlohmann::json ToJson(const DiskReport& report);

// Checks `slot_count` slots, read one at a time by `read_slot` (kRecordBytes into the buffer).
// `run`: the workload run to check (the guest's status line shows it); 0 checks the run of the
// newest record on the disk.
Result<DiskReport> CheckDiskRecords(
    uint64_t slot_count, uint64_t acked, uint64_t run,
    const std::function<Status(uint64_t slot, uint8_t* buffer)>& read_slot);

// Checks a raw image file.
Result<DiskReport> CheckRawImage(const std::string& path, uint64_t acked, uint64_t run);

// Checks an image of any format QEMU reads (qcow2, raw): converts it to a temporary raw file with
// qemu-img, sharing the image with a QEMU that may be running it (-U): acknowledged records were
// flushed by the guest, so they are in the file even while the VM runs.
Result<DiskReport> CheckImage(const std::string& path, uint64_t acked, uint64_t run,
                              const std::string& temp_dir = "/tmp");

}  // namespace greenshift::lab
