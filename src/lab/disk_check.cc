#include "lab/disk_check.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>

#include "core/process.h"
#include "lab/guest/disk_record.h"

namespace greenshift::lab {

namespace {

constexpr size_t kExamples = 10;

struct SlotSeen {
  disk::Slot state = disk::Slot::kEmpty;
  disk::Header header{};
};

}  // namespace

nlohmann::json ToJson(const DiskReport& r) {
  return {{"slots", r.slots},
          {"run", r.run},
          {"acked", r.acked},
          {"highest", r.highest},
          {"checked", r.checked},
          {"present", r.present},
          {"missing", r.missing},
          {"torn", r.torn},
          {"in_flight_torn", r.in_flight_torn},
          {"missing_examples", r.missing_examples},
          {"torn_examples", r.torn_examples},
          {"clean", r.Clean()}};
}

Result<DiskReport> CheckDiskRecords(
    uint64_t slot_count, uint64_t acked, uint64_t run,
    const std::function<Status(uint64_t slot, uint8_t* buffer)>& read_slot) {
  if (slot_count == 0) return Status::Invalid("the disk is smaller than one record");
  std::vector<SlotSeen> seen(slot_count);
  std::unique_ptr<uint8_t[]> buffer(new uint8_t[disk::kRecordBytes]);
  // The run to check: the one of the newest whole record (a disk may hold an older boot's).
  std::map<uint64_t, uint64_t> newest_of_run;
  for (uint64_t slot = 0; slot < slot_count; ++slot) {
    GS_RETURN_IF_ERROR(read_slot(slot, buffer.get()));
    seen[slot].state = disk::Check(buffer.get(), &seen[slot].header);
    if (seen[slot].state == disk::Slot::kIntact) {
      uint64_t& newest = newest_of_run[seen[slot].header.run];
      newest = std::max(newest, seen[slot].header.seq);
    }
  }
  DiskReport report;
  report.slots = slot_count;
  report.acked = acked;
  for (const auto& [candidate, newest] : newest_of_run) {
    if (run == 0 ? newest > report.highest : candidate == run) {
      report.highest = newest;
      report.run = candidate;
    }
  }
  if (run != 0) report.run = run;
  // A record in its slot belongs to the checked run when its position agrees with its number
  // (a header that is garbage from a torn write cannot claim another slot's record).
  auto ours = [&](uint64_t slot) {
    const disk::Header& h = seen[slot].header;
    return seen[slot].state != disk::Slot::kEmpty && h.run == report.run && h.seq >= 1 &&
           (h.seq - 1) % slot_count == slot;
  };
  for (uint64_t slot = 0; slot < slot_count; ++slot) {
    if (seen[slot].state == disk::Slot::kTorn && ours(slot) && seen[slot].header.seq > acked)
      ++report.in_flight_torn;
  }
  // The ring keeps the last `slot_count` records: those of them up to `acked` must be whole.
  const uint64_t first = acked > slot_count ? acked - slot_count + 1 : 1;
  for (uint64_t seq = first; seq <= acked && acked > 0; ++seq) {
    ++report.checked;
    const uint64_t slot = (seq - 1) % slot_count;
    const disk::Header& h = seen[slot].header;
    if (ours(slot) && h.seq == seq && seen[slot].state == disk::Slot::kIntact) {
      ++report.present;
    } else if (ours(slot) && h.seq > seq && seen[slot].state == disk::Slot::kIntact) {
      ++report.present;  // overwritten by a newer lap of the ring after it was acknowledged
    } else if (ours(slot) && h.seq == seq && seen[slot].state == disk::Slot::kTorn) {
      ++report.torn;
      if (report.torn_examples.size() < kExamples) report.torn_examples.push_back(seq);
    } else {
      ++report.missing;
      if (report.missing_examples.size() < kExamples) report.missing_examples.push_back(seq);
    }
  }
  return report;
}

Result<DiskReport> CheckRawImage(const std::string& path, uint64_t acked, uint64_t run) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Error("cannot open disk image " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    close(fd);
    return Status::Error("cannot stat disk image " + path);
  }
  const uint64_t slots = static_cast<uint64_t>(st.st_size) / disk::kRecordBytes;
  Result<DiskReport> report =
      CheckDiskRecords(slots, acked, run, [&](uint64_t slot, uint8_t* buffer) -> Status {
        size_t done = 0;
        const off_t offset = static_cast<off_t>(slot * disk::kRecordBytes);
        while (done < disk::kRecordBytes) {
          const ssize_t n = pread(fd, buffer + done, disk::kRecordBytes - done,
                                  offset + static_cast<off_t>(done));
          if (n <= 0)
            return Status::Error("cannot read disk image " + path + " at " +
                                 std::to_string(offset + static_cast<off_t>(done)));
          done += static_cast<size_t>(n);
        }
        return Status::Ok();
      });
  close(fd);
  if (!report.ok()) return report.status().Context("disk image " + path);
  return report;
}

Result<DiskReport> CheckImage(const std::string& path, uint64_t acked, uint64_t run,
                              const std::string& temp_dir) {
  std::string raw = temp_dir + "/gs-disk-check-XXXXXX";
  const int fd = mkstemp(raw.data());
  if (fd < 0) return Status::Error("cannot create a temporary file in " + temp_dir);
  close(fd);
  Result<CommandOutput> converted =
      RunCommand({"qemu-img", "convert", "-U", "-O", "raw", path, raw},
                 RunOptions{"", std::chrono::minutes(10)});
  if (!converted.ok() || converted->exit_code != 0) {
    unlink(raw.c_str());
    return Status::Error("qemu-img could not read disk image " + path + ": " +
                         (converted.ok() ? converted->stderr_text : converted.error()));
  }
  Result<DiskReport> report = CheckRawImage(raw, acked, run);
  unlink(raw.c_str());
  return report;
}

}  // namespace greenshift::lab
