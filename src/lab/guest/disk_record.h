// The records the guest's disk workload writes (guest/disk.cc) and the host's verifier reads
// (lab/disk_check.h). Header-only and free of the project's other code: the guest program is
// linked statically into the initramfs.
//
// The disk is a ring of fixed-size slots; record `seq` (1, 2, ...) lives in slot (seq-1) % slots.
// A record is one write of kDiskRecordBytes: a header (magic, run, seq, checksum) and a payload
// that follows from (run, seq). The checksum covers the whole record, so a write that reached
// the disk only in part (torn) does not check out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace greenshift::lab::disk {

constexpr uint64_t kMagic = 0x31736b69642d7367;  // "gs-disk1", little-endian
constexpr size_t kRecordBytes = 64 * 1024;

struct Header {
  uint64_t magic;
  uint64_t run;  // one boot of the workload: records of earlier runs are not this run's
  uint64_t seq;
  uint64_t checksum;  // FNV-1a 64 of the record with this field zero
};
static_assert(sizeof(Header) == 32, "the header is four 64-bit words");

inline uint64_t Checksum(const uint8_t* record) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < kRecordBytes; ++i) {
    // The checksum field counts as zero.
    const uint8_t byte = (i >= offsetof(Header, checksum) && i < sizeof(Header)) ? 0 : record[i];
    hash = (hash ^ byte) * 0x100000001b3ull;
  }
  return hash;
}

// Writes record `seq` of run `run` into `record` (kRecordBytes).
inline void Fill(uint8_t* record, uint64_t run, uint64_t seq) {
  // The payload: xorshift64 from a seed of (run, seq), so every record's bytes differ.
  uint64_t state = (run ^ (seq * 0x9e3779b97f4a7c15ull)) | 1;
  for (size_t i = sizeof(Header); i < kRecordBytes; i += sizeof state) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    std::memcpy(record + i, &state, sizeof state);
  }
  Header header{kMagic, run, seq, 0};
  std::memcpy(record, &header, sizeof header);
  header.checksum = Checksum(record);
  std::memcpy(record, &header, sizeof header);
}

enum class Slot { kEmpty, kIntact, kTorn };

// What a slot holds. kEmpty: no record's magic (never written); kTorn: a record's header whose
// checksum fails. `header` is filled unless kEmpty.
inline Slot Check(const uint8_t* record, Header* header) {
  std::memcpy(header, record, sizeof *header);
  if (header->magic != kMagic) return Slot::kEmpty;
  return Checksum(record) == header->checksum ? Slot::kIntact : Slot::kTorn;
}

}  // namespace greenshift::lab::disk
