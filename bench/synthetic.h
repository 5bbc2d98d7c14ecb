// Synthetic but realistically shaped planning inputs for the benchmarks: sites spread over the
// world's longitudes with PV that follows the sun under drifting clouds, wind as a random walk,
// grid carbon intensity with a daily swing; VMs of four kinds (1-8 GiB, 5-40 MB/s dirty rate)
// with diurnal CPU load through an idle + proportional power model. Deterministic per seed.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "placement/problem.h"

namespace greenshift::bench {

struct SyntheticSeries {
  placement::Problem problem;
  size_t slots = 0;
  // site * slots + t
  std::vector<double> pv_w, pv_clear_w, wind_w, carbon_g_per_kwh;
  // vm * slots + t
  std::vector<double> vm_power_w;
  std::vector<int> initial_site;
};

// Every site ends up about 2/3 full (in peak power) with the VMs spread round-robin.
inline SyntheticSeries MakeSynthetic(size_t sites, size_t vms, size_t slots, uint32_t seed) {
  constexpr double kPi = 3.14159265358979323846;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> unit(0, 1);
  SyntheticSeries in;
  in.slots = slots;
  placement::Problem& p = in.problem;
  p.slot_s = 3600;
  p.energy_per_byte_j = 1e-5;
  const double kinds_mib[4] = {1024, 2048, 4096, 8192};
  const double kinds_dirty[4] = {5e6, 10e6, 20e6, 40e6};
  double total_peak = 0;
  for (size_t v = 0; v < vms; ++v) {
    placement::Vm vm;
    vm.name = "vm" + std::to_string(v);
    const size_t kind = v % 4;
    vm.memory_bytes = static_cast<int64_t>(kinds_mib[kind]) << 20;
    vm.dirty_rate_bytes_s = kinds_dirty[kind];
    vm.working_set_bytes = vm.memory_bytes / 8;
    vm.peak_power_w = 100 + 25 * static_cast<double>(kind);
    vm.downtime_budget_s = 0.5;
    total_peak += vm.peak_power_w;
    p.vms.push_back(vm);
  }
  for (size_t s = 0; s < sites; ++s)
    p.sites.push_back({"site" + std::to_string(s), 1.5 * total_peak / static_cast<double>(sites)});
  p.links.resize(sites * sites);  // 1 or 10 Gbit/s
  for (size_t a = 0; a < sites; ++a) {
    for (size_t b = 0; b < sites; ++b)
      p.links[a * sites + b].bandwidth_bytes_s = (a + b) % 3 ? 125e6 : 1.25e9;
  }
  const size_t S = sites;
  in.pv_w.resize(S * slots);
  in.pv_clear_w.resize(S * slots);
  in.wind_w.resize(S * slots);
  in.carbon_g_per_kwh.resize(S * slots);
  const double site_load = total_peak / static_cast<double>(sites) * 0.6;
  for (size_t s = 0; s < S; ++s) {
    const double lon_h = 24.0 * static_cast<double>(s) / static_cast<double>(sites);
    const double pv_peak = site_load * (0.5 + 1.5 * unit(rng));
    const double wind_mean = site_load * 0.4 * unit(rng);
    const double carbon_base = 50 + 650 * unit(rng);
    double wind = wind_mean, cloud = unit(rng);
    for (size_t t = 0; t < slots; ++t) {
      const double local_h = std::fmod(static_cast<double>(t) + lon_h, 24.0);
      const double sun = std::max(0.0, std::sin(kPi * (local_h - 6) / 12));
      cloud = std::clamp(cloud + 0.2 * (unit(rng) - 0.5), 0.0, 1.0);
      wind = std::max(0.0, wind + wind_mean * 0.3 * (unit(rng) - 0.5));
      in.pv_clear_w[s * slots + t] = pv_peak * sun;
      in.pv_w[s * slots + t] = pv_peak * sun * (1 - 0.75 * cloud);
      in.wind_w[s * slots + t] = wind;
      in.carbon_g_per_kwh[s * slots + t] =
          carbon_base * (1 + 0.25 * std::sin(2 * kPi * (local_h - 14) / 24));
    }
  }
  in.vm_power_w.resize(vms * slots);
  in.initial_site.resize(vms);
  for (size_t v = 0; v < vms; ++v) {
    in.initial_site[v] = static_cast<int>(v % sites);
    const double peak = p.vms[v].peak_power_w, idle = 0.4 * peak;
    const double phase = 24 * unit(rng), busy = unit(rng);
    for (size_t t = 0; t < slots; ++t) {
      const double daily = 0.6 + 0.4 * std::sin(2 * kPi * (static_cast<double>(t) + phase) / 24);
      const double util = std::clamp(busy * daily + 0.1 * (unit(rng) - 0.5), 0.0, 1.0);
      in.vm_power_w[v * slots + t] = idle + (peak - idle) * util;
    }
  }
  return in;
}

}  // namespace greenshift::bench
