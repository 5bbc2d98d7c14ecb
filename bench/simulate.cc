// bench/simulate: a year, hourly, of 10 sites and 10,000 VMs through the simulator (goal: under
// 10 s per policy), for static (the simulator's own cost: forecasts, accounting), follow-sensor
// and greedy-forecast, with each run's planning time, the results, and peak memory. The input is
// bench/synthetic.h's; the simulator is the one `greenshift simulate` runs.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "placement/policy.h"
#include "rss.h"
#include "sim/simulate.h"
#include "synthetic.h"

using namespace greenshift;

int main(int argc, char** argv) {
  CLI::App app{"greenshift: a year of simulation at scale"};
  size_t sites = 10, vms = 10000, days = 365;
  std::string policies = "static,follow-sensor,greedy-forecast";
  app.add_option("--sites", sites, "sites")->check(CLI::Range(2, 1000));
  app.add_option("--vms", vms, "VMs")->check(CLI::Range(1, 1000000));
  app.add_option("--days", days, "days, hourly slots")->check(CLI::Range(1, 3660));
  app.add_option("--policies", policies, "comma-separated");
  CLI11_PARSE(app, argc, argv);

  const double rss_before = bench::PeakRssMib();
  bench::SyntheticSeries series = bench::MakeSynthetic(sites, vms, days * 24, 11);
  sim::World world;
  world.problem = std::move(series.problem);
  world.start_utc_s = 1640995200;  // 2022-01-01
  world.slots = series.slots;
  world.pv_w = std::move(series.pv_w);
  world.pv_clear_w = std::move(series.pv_clear_w);
  world.wind_w = std::move(series.wind_w);
  world.carbon_g_per_kwh = std::move(series.carbon_g_per_kwh);
  world.vm_power_w = std::move(series.vm_power_w);
  world.initial_site = std::move(series.initial_site);
  std::printf("%zu sites x %zu VMs x %zu hourly slots (input %.0f MiB)\n\n", sites, vms,
              world.slots, bench::PeakRssMib() - rss_before);

  sim::SimulationOptions options;
  options.policy.horizon_slots = 2;
  options.policy.hysteresis_fraction = 0.1;
  std::printf("| %-16s | %8s | %8s | %7s | %10s | %10s | %10s |\n", "policy", "total s", "plan s",
              "green", "kg CO2", "migrations", "downtime s");
  std::printf("|%s|%s|%s|%s|%s|%s|%s|\n", std::string(18, '-').c_str(),
              std::string(10, '-').c_str(), std::string(10, '-').c_str(),
              std::string(9, '-').c_str(), std::string(12, '-').c_str(),
              std::string(12, '-').c_str(), std::string(12, '-').c_str());
  bool ok = true;
  double worst_s = 0;
  size_t start = 0;
  while (start <= policies.size()) {
    size_t end = policies.find(',', start);
    if (end == std::string::npos) end = policies.size();
    const std::string name = policies.substr(start, end - start);
    start = end + 1;
    Result<std::unique_ptr<placement::Policy>> policy = placement::MakePolicy(name, options.policy);
    if (!policy.ok()) {
      std::fprintf(stderr, "%s\n", policy.error().c_str());
      return 2;
    }
    const auto began = std::chrono::steady_clock::now();
    Result<sim::PolicyResult> r = sim::Simulate(world, **policy, options);
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    if (!r.ok()) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), r.error().c_str());
      ok = false;
      continue;
    }
    worst_s = std::max(worst_s, s);
    std::printf("| %-16s | %8.2f | %8.2f | %6.1f%% | %10.0f | %10lld | %10.1f |\n", name.c_str(), s,
                r->planning_ms / 1000, 100 * r->green_share, r->co2_kg,
                static_cast<long long>(r->migrations), r->downtime_s);
  }
  std::printf("\nslowest policy: %.2f s for the year (goal: under 10 s); peak memory %.0f MiB\n",
              worst_s, bench::PeakRssMib());
  return ok ? 0 : 1;
}
