// The process's peak resident memory so far, for the benchmarks' memory figures.
#pragma once

#include <sys/resource.h>

namespace greenshift::bench {

inline double PeakRssMib() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024;  // KiB on Linux
}

}  // namespace greenshift::bench
