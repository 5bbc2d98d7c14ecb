// The lab guest's disk workload: writes checksummed, sequence-numbered records (disk_record.h) to
// its disk at a set rate. Each write is O_DIRECT and O_DSYNC, so when pwrite returns the record
// is on the disk (QEMU turns the guest's FUA/flush into a flush of the image): only then is it
// acknowledged, by writing its number (and the run's id) to /tmp/gs-disk.acked, which the HTTP
// status line shows. A failed write is retried (the same record) until it is on the disk; it is
// never skipped.
//
// With FILL_MIB, the first FILL_MIB of records are written as fast as the disk takes them (a
// disk that already holds data when the measurement starts), then the rate holds.
//
// usage: gs-disk DEVICE MB_PER_S [FILL_MIB]
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "disk_record.h"

namespace disk = greenshift::lab::disk;

namespace {

void AddNanos(timespec& t, long long nanos) {
  t.tv_sec += nanos / 1000000000;
  t.tv_nsec += nanos % 1000000000;
  if (t.tv_nsec >= 1000000000) {
    t.tv_nsec -= 1000000000;
    ++t.tv_sec;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: gs-disk DEVICE MB_PER_S [FILL_MIB]\n");
    return 2;
  }
  const char* device = argv[1];
  const double rate_mb_s = std::atof(argv[2]);
  const unsigned long long fill_records =
      argc == 4 ? std::strtoull(argv[3], nullptr, 10) * 1024 * 1024 / disk::kRecordBytes : 0;
  if (!(rate_mb_s > 0)) {
    std::fprintf(stderr, "gs-disk: the rate must be > 0 MB/s, got %s\n", argv[2]);
    return 2;
  }
  const int fd = open(device, O_RDWR | O_DIRECT | O_DSYNC);
  if (fd < 0) {
    std::fprintf(stderr, "gs-disk: open %s: %s\n", device, std::strerror(errno));
    return 1;
  }
  unsigned long long device_bytes = 0;
  if (ioctl(fd, BLKGETSIZE64, &device_bytes) != 0 || device_bytes < disk::kRecordBytes) {
    std::fprintf(stderr, "gs-disk: %s is too small or not a block device\n", device);
    return 1;
  }
  const unsigned long long slots = device_bytes / disk::kRecordBytes;
  const int acked_fd = open("/tmp/gs-disk.acked", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  void* buffer = nullptr;
  if (posix_memalign(&buffer, 4096, disk::kRecordBytes) != 0) return 1;
  uint8_t* record = static_cast<uint8_t*>(buffer);
  uint64_t run = 0;
  if (getrandom(&run, sizeof run, 0) != sizeof run) run = static_cast<uint64_t>(time(nullptr));

  const long long interval_ns =
      static_cast<long long>(1e9 * static_cast<double>(disk::kRecordBytes) / (rate_mb_s * 1e6));
  std::printf("gs-disk: writing %.1f MB/s to %s (%llu slots of %zu KiB), run %016llx\n", rate_mb_s,
              device, slots, disk::kRecordBytes / 1024, static_cast<unsigned long long>(run));
  std::fflush(stdout);
  timespec next{};
  clock_gettime(CLOCK_MONOTONIC, &next);
  for (uint64_t seq = 1;; ++seq) {
    disk::Fill(record, run, seq);
    const off_t offset = static_cast<off_t>(((seq - 1) % slots) * disk::kRecordBytes);
    int failures = 0;
    while (pwrite(fd, record, disk::kRecordBytes, offset) !=
           static_cast<ssize_t>(disk::kRecordBytes)) {
      if (failures++ % 50 == 0)
        std::fprintf(stderr, "gs-disk: record %llu: %s; retrying\n",
                     static_cast<unsigned long long>(seq), std::strerror(errno));
      usleep(100000);
    }
    if (acked_fd >= 0) {
      char text[48];
      const int n =
          std::snprintf(text, sizeof text, "%020llu %016llx\n",
                        static_cast<unsigned long long>(seq), static_cast<unsigned long long>(run));
      (void)pwrite(acked_fd, text, static_cast<size_t>(n), 0);
    }
    if (seq < fill_records) continue;
    if (seq == fill_records) {
      std::printf("gs-disk: %llu MiB filled\n", fill_records * disk::kRecordBytes >> 20);
      std::fflush(stdout);
      clock_gettime(CLOCK_MONOTONIC, &next);
    }
    AddNanos(next, interval_ns);
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    // Behind by more than a second (the guest was paused): start the schedule again from now
    // instead of bursting to catch up.
    if (now.tv_sec > next.tv_sec + 1) next = now;
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr);
  }
}
