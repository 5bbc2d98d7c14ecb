// The lab guest's memory-dirtying workload: fills SIZE MiB with non-zero data, then rewrites
// RATE MB/s of it (whole pages, round-robin), the load that makes pre-copy migration work hard.
// With RATE 0 it only fills and holds the memory (a VM with a resident working set).
// Usage: gs-dirty SIZE_MIB RATE_MB_S
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace {

constexpr size_t kPage = 4096;
constexpr long kTickNs = 10 * 1000 * 1000;  // dirty in 10 ms slices

uint64_t Next(uint64_t& state) {  // xorshift64: cheap non-repeating data, so pages never look zero
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: gs-dirty SIZE_MIB RATE_MB_S\n");
    return 2;
  }
  const size_t size = static_cast<size_t>(std::atol(argv[1])) * 1024 * 1024;
  const double rate_bytes_s = std::atof(argv[2]) * 1e6;
  if (size == 0 || rate_bytes_s < 0) return 0;
  auto* memory = static_cast<uint64_t*>(
      mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (memory == MAP_FAILED) {
    std::perror("gs-dirty: mmap");
    return 1;
  }
  uint64_t state = 0x9e3779b97f4a7c15ULL;
  for (size_t i = 0; i < size / sizeof(uint64_t); ++i) memory[i] = Next(state);
  std::printf("gs-dirty: %zu MiB filled, dirtying %.1f MB/s\n", size >> 20, rate_bytes_s / 1e6);
  std::fflush(stdout);
  if (rate_bytes_s == 0) {
    while (true) pause();  // hold the filled memory, write nothing more
  }

  const size_t pages = size / kPage;
  const size_t words_per_page = kPage / sizeof(uint64_t);
  size_t cursor = 0;
  double owed_pages = 0;
  timespec next{};
  clock_gettime(CLOCK_MONOTONIC, &next);
  while (true) {
    owed_pages += rate_bytes_s / kPage * (static_cast<double>(kTickNs) / 1e9);
    while (owed_pages >= 1) {
      // One store per page is enough to dirty it; the value changes each time round.
      memory[cursor * words_per_page + (Next(state) % words_per_page)] = Next(state);
      cursor = (cursor + 1) % pages;
      owed_pages -= 1;
    }
    next.tv_nsec += kTickNs;
    if (next.tv_nsec >= 1000000000L) {
      next.tv_nsec -= 1000000000L;
      next.tv_sec += 1;
    }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr);
  }
}
