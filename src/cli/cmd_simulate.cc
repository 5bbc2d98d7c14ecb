// greenshift simulate: the predict / plan / act loop over a scenario's recorded year, per policy,
// against `static` (never move) and the oracle's bound. greenshift plan: one plan, as a table.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/chart.h"
#include "cli/context.h"
#include "core/clock.h"
#include "core/files.h"
#include "core/xml.h"
#include "energy/csv.h"
#include "placement/policy.h"
#include "sim/scenario.h"
#include "sim/simulate.h"

namespace greenshift::cli {

namespace {

struct SimulateOptions {
  std::string scenario, report, policies, from;
  double days = 0;
  bool json = false, quiet = false;
  bool clairvoyant = false;       // also `optimal` with perfect foresight, as a reference
  double progress_every_s = NAN;  // NaN: 0.5 s on a terminal, 30 s otherwise
};

struct PlanOptions {
  std::string scenario, at, policy = "greedy-forecast";
  bool json = false;
};

// "0.4 s", "45 s", "3 min 05 s", "2 h 07 min": a duration as people read an ETA.
std::string Duration(double seconds) {
  const int64_t s = std::llround(std::max(0.0, seconds));
  char text[32];
  if (seconds < 9.95) {
    std::snprintf(text, sizeof text, "%.1f s", std::max(0.0, seconds));
  } else if (s < 60) {
    std::snprintf(text, sizeof text, "%lld s", static_cast<long long>(s));
  } else if (s < 3600) {
    std::snprintf(text, sizeof text, "%lld min %02lld s", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  } else {
    std::snprintf(text, sizeof text, "%lld h %02lld min", static_cast<long long>(s / 3600),
                  static_cast<long long>(s % 3600 / 60));
  }
  return text;
}

// Progress of one policy's run on stderr: the share of slots done, the time so far and an
// estimate of the time left (from the pace so far: a policy that re-plans every few slots
// keeps a steady pace over a year). On a terminal one line redrawn every `every_s`; otherwise
// (a log, CI) a line every `every_s`. Always a last line with the time it took.
class Progress {
 public:
  Progress(std::string policy, double every_s, bool terminal)
      : policy_(std::move(policy)), every_s_(every_s), terminal_(terminal) {}
  void operator()(size_t done, size_t total) {
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - began_).count();
    if (done >= total) {
      std::fprintf(stderr, "%ssimulate: %s: %zu slots in %s\n", terminal_ ? "\r\033[K" : "",
                   policy_.c_str(), total, Duration(elapsed).c_str());
      return;
    }
    if (elapsed - shown_s_ < every_s_) return;
    shown_s_ = elapsed;
    const double left = elapsed * static_cast<double>(total - done) / static_cast<double>(done);
    std::fprintf(stderr, "%ssimulate: %s: %.1f%% (%zu of %zu slots), %s so far, about %s left%s",
                 terminal_ ? "\r\033[K" : "", policy_.c_str(),
                 100.0 * static_cast<double>(done) / static_cast<double>(total), done, total,
                 Duration(elapsed).c_str(), Duration(left).c_str(), terminal_ ? "" : "\n");
    std::fflush(stderr);
  }

 private:
  const std::string policy_;
  const double every_s_;
  const bool terminal_;
  const std::chrono::steady_clock::time_point began_ = std::chrono::steady_clock::now();
  double shown_s_ = 0;
};

std::vector<std::string> SplitNames(const std::string& text) {
  std::vector<std::string> names;
  std::stringstream in(text);
  for (std::string name; std::getline(in, name, ',');) {
    if (!name.empty()) names.push_back(name);
  }
  return names;
}

// Share of the way from static to a reference (the oracle's bound, or the clairvoyant plan;
// 1 = all of it), by CO2.
double GapClosed(const sim::PolicyResult& r, const sim::PolicyResult& base,
                 const sim::PolicyResult& reference) {
  const double gap = base.co2_kg - reference.co2_kg;
  return gap > 0 ? (base.co2_kg - r.co2_kg) / gap : NAN;
}

bool IsReference(const sim::PolicyResult& r) {
  return r.policy == "oracle" || r.policy == "clairvoyant";
}

// Daily means of a per-slot series, for charts of a long period.
std::vector<double> Daily(const double* values, size_t slots) {
  std::vector<double> out;
  for (size_t t = 0; t < slots; t += 24) {
    double sum = 0;
    size_t n = 0;
    for (size_t j = t; j < std::min(slots, t + 24); ++j, ++n) sum += values[j];
    out.push_back(sum / static_cast<double>(n));
  }
  return out;
}

std::string Report(const sim::Scenario& scenario, const std::vector<sim::PolicyResult>& results) {
  const sim::World& world = scenario.world;
  const size_t T = world.slots, S = world.problem.sites.size();
  const bool daily = T > 24 * 14;
  const size_t step = daily ? 24 : 1;
  std::vector<int64_t> times;
  for (size_t t = 0; t < T; t += step)
    times.push_back(world.start_utc_s + static_cast<int64_t>(t) * 3600);
  auto series = [&](const double* values) {
    return daily ? Daily(values, T) : std::vector<double>(values, values + T);
  };
  const sim::PolicyResult* best = &results.front();
  for (const sim::PolicyResult& r : results) {
    if (!IsReference(r) && r.co2_kg < best->co2_kg) best = &r;
  }
  std::string html =
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>greenshift simulate: " +
      XmlEscape(scenario.name) +
      "</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
      "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f4f4f4}"
      "</style></head><body>\n<h1>greenshift simulate: " +
      XmlEscape(scenario.name) + "</h1>\n<p>" + std::to_string(S) + " sites, " +
      std::to_string(world.problem.vms.size()) + " VMs, " + std::to_string(T) +
      " hourly slots from " + FormatUtcMinutes(world.start_utc_s) +
      (daily ? "; charts show daily means" : "") +
      ".</p>\n<table><tr><th>policy</th><th>green share</th><th>brown kWh</th><th>kg CO2</th>"
      "<th>migrations</th><th>GB moved</th><th>downtime s</th></tr>\n";
  for (const sim::PolicyResult& r : results) {
    char row[400];
    std::snprintf(
        row, sizeof row,
        "<tr><td style=\"text-align:left\">%s</td><td>%.1f%%</td><td>%.0f</td><td>%.0f</td>"
        "<td>%lld</td><td>%.1f</td><td>%.1f</td></tr>\n",
        r.policy.c_str(), 100 * r.green_share, r.brown_kwh, r.co2_kg,
        static_cast<long long>(r.migrations), r.bytes_moved / 1e9, r.downtime_s);
    html += row;
  }
  html += "</table>\n";
  // Green supply vs load per site.
  for (size_t s = 0; s < S; ++s) {
    TimeChart chart;
    chart.title = "site " + world.problem.sites[s].name + ": green power and load";
    chart.y_label = "kW";
    chart.y_scale = 1000;
    chart.time_utc_s = times;
    std::vector<double> green(T);
    for (size_t t = 0; t < T; ++t) green[t] = world.GreenW(s, t);
    chart.series.push_back({"green supply", series(green.data()), kGreenColor, false, true});
    // A policy's colour is its place in the results, the same in every chart.
    for (size_t i = 0; i < results.size(); ++i) {
      const sim::PolicyResult& r = results[i];
      if (r.site_load_w.empty()) continue;
      chart.series.push_back({"load, " + r.policy, series(&r.site_load_w[s * T]), SeriesColor(i)});
    }
    html += RenderSvg(chart, 1000, 320);
  }
  // Placements under the best policy.
  if (!best->site_vms.empty()) {
    TimeChart chart;
    chart.title = "where the VMs run (" + best->policy + ")";
    chart.y_label = "VMs";
    chart.time_utc_s = times;
    for (size_t s = 0; s < S; ++s)
      chart.series.push_back(
          {world.problem.sites[s].name, series(&best->site_vms[s * T]), SeriesColor(s)});
    html += RenderSvg(chart, 1000, 320);
  }
  // Cumulative carbon.
  TimeChart carbon;
  carbon.title = "cumulative CO2";
  carbon.y_label = "kg CO2";
  carbon.time_utc_s = times;
  for (size_t i = 0; i < results.size(); ++i) {
    const sim::PolicyResult& r = results[i];
    std::vector<double> sampled;
    for (size_t t = 0; t < T; t += step)
      sampled.push_back(r.cumulative_co2_kg[std::min(T - 1, t + step - 1)]);
    carbon.series.push_back({r.policy, sampled, SeriesColor(i), IsReference(r)});
  }
  html += RenderSvg(carbon, 1000, 320);
  html += "</body></html>\n";
  return html;
}

void RunSimulate(Context& context, const SimulateOptions& o) {
  int64_t from_utc_s = 0;
  if (!o.from.empty()) {
    Result<int64_t> from = energy::ParseIsoTime(o.from, {"--from", 0, ""});
    if (!from.ok()) return context.Fail(from.error());
    from_utc_s = *from;
  }
  Result<sim::Scenario> scenario = sim::LoadScenario(o.scenario, o.days, from_utc_s);
  if (!scenario.ok()) return context.Fail(scenario.error());
  std::vector<std::string> names = o.policies.empty() ? scenario->policies : SplitNames(o.policies);
  if (std::find(names.begin(), names.end(), "static") == names.end())
    names.insert(names.begin(), "static");
  // One policy through the engine over the world, its progress on stderr (a redrawn line on a
  // terminal, a line every 30 s in a log). Clairvoyant: its forecasts replaced by what
  // happened, the row named so.
  std::vector<sim::PolicyResult> results;
  auto run = [&](const std::string& name, bool clairvoyant) -> Status {
    Result<std::unique_ptr<placement::Policy>> policy =
        placement::MakePolicy(name, scenario->options.policy);
    if (!policy.ok()) return policy.status();
    sim::SimulationOptions options = scenario->options;
    options.clairvoyant = clairvoyant;
    const std::string label = clairvoyant ? "clairvoyant" : name;
    if (!o.quiet) {
      const bool terminal = isatty(STDERR_FILENO) == 1;
      const double every_s =
          std::isnan(o.progress_every_s) ? (terminal ? 0.5 : 30) : o.progress_every_s;
      options.progress = Progress(label, every_s, terminal);
    }
    Result<sim::PolicyResult> result = sim::Simulate(scenario->world, **policy, options);
    if (!result.ok()) return result.status();
    if (clairvoyant) result->policy = label;
    results.push_back(*result);
    return Status::Ok();
  };
  for (const std::string& name : names) {
    Status ran = run(name, false);
    if (!ran.ok()) return context.Fail(ran.message());
  }
  if (o.clairvoyant) {
    // The same engine and `optimal` with perfect foresight: the achievable reference.
    Status ran = run("optimal", true);
    if (!ran.ok()) return context.Fail(ran.message());
  }
  Result<sim::PolicyResult> oracle_result = sim::OracleResult(scenario->world);
  if (!oracle_result.ok()) return context.Fail(oracle_result.error());
  results.push_back(*oracle_result);
  const sim::PolicyResult& base = results.front();
  const sim::PolicyResult& oracle = results.back();
  const sim::PolicyResult* clairvoyant = o.clairvoyant ? &results[results.size() - 2] : nullptr;
  auto closed_to_clairvoyant = [&](const sim::PolicyResult& r) {
    return clairvoyant != nullptr ? GapClosed(r, base, *clairvoyant) : NAN;
  };
  if (!o.report.empty()) {
    Status written = WriteFileAtomic(o.report, Report(*scenario, results));
    if (!written.ok()) return context.Fail(written.message());
  }
  if (o.json) {
    nlohmann::json rows = nlohmann::json::array();
    for (const sim::PolicyResult& r : results) {
      const double closed = GapClosed(r, base, oracle);
      rows.push_back(
          {{"policy", r.policy},
           {"green_share", r.green_share},
           {"load_kwh", r.load_kwh},
           {"green_kwh", r.green_kwh},
           {"brown_kwh", r.brown_kwh},
           {"co2_kg", r.co2_kg},
           {"migrations", r.migrations},
           {"bytes_moved", r.bytes_moved},
           {"downtime_s", r.downtime_s},
           {"migration_energy_kwh", r.migration_energy_kwh},
           {"refused_moves", r.refused_moves},
           {"planning_ms", r.planning_ms},
           {"solves", r.solves},
           {"solves_stopped_by_clock", r.solves_stopped_by_clock},
           {"solves_without_plan", r.solves_without_plan},
           {"mip_gap", std::isnan(r.MipGap()) ? nlohmann::json() : nlohmann::json(r.MipGap())},
           {"mip_gap_kg", r.mip_gap_kg},
           {"worst_mip_gap_kg", r.worst_mip_gap_kg},
           {"migrations_per_vm_day", sim::MovesPerVmDay(r, scenario->world)},
           {"busiest_30_days_migrations_per_vm_day",
            sim::BusiestMovesPerVmDay(r, scenario->world, 30)},
           {"busiest_91_days_migrations_per_vm_day",
            sim::BusiestMovesPerVmDay(r, scenario->world, 91)},
           {"gap_closed", std::isnan(closed) ? nlohmann::json() : nlohmann::json(closed)},
           {"gap_closed_clairvoyant", std::isnan(closed_to_clairvoyant(r))
                                          ? nlohmann::json()
                                          : nlohmann::json(closed_to_clairvoyant(r))}});
    }
    std::cout << nlohmann::json{{"scenario", scenario->name},
                                {"sites", scenario->world.problem.sites.size()},
                                {"vms", scenario->world.problem.vms.size()},
                                {"slots", scenario->world.slots},
                                {"start", FormatUtcMinutes(scenario->world.start_utc_s)},
                                {"policies", rows}}
                     .dump(2)
              << "\n";
    return;
  }
  std::printf("scenario %s: %zu sites, %zu VMs, %zu hourly slots from %s\n\n",
              scenario->name.c_str(), scenario->world.problem.sites.size(),
              scenario->world.problem.vms.size(), scenario->world.slots,
              FormatUtcMinutes(scenario->world.start_utc_s).c_str());
  std::printf("| %-16s | %7s | %9s | %9s | %10s | %8s | %8s | %10s | %11s |%s %10s |\n", "policy",
              "green", "brown kWh", "kg CO2", "migrations", "/VM/day", "GB moved", "downtime s",
              "gap closed", clairvoyant ? "  of clairv. |" : "", "plan ms");
  std::printf(
      "|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s%s|\n", std::string(18, '-').c_str(),
      std::string(9, '-').c_str(), std::string(11, '-').c_str(), std::string(11, '-').c_str(),
      std::string(12, '-').c_str(), std::string(10, '-').c_str(), std::string(10, '-').c_str(),
      std::string(12, '-').c_str(), std::string(13, '-').c_str(),
      clairvoyant ? (std::string(13, '-') + "|").c_str() : "", std::string(12, '-').c_str());
  for (const sim::PolicyResult& r : results) {
    const double closed = GapClosed(r, base, oracle);
    char of_clairvoyant[32] = "";
    if (clairvoyant != nullptr)
      std::snprintf(of_clairvoyant, sizeof of_clairvoyant, " %10.1f%% |",
                    100 * closed_to_clairvoyant(r));
    std::printf(
        "| %-16s | %6.1f%% | %9.1f | %9.1f | %10lld | %8.2f | %8.1f | %10.2f | %10.1f%% |%s "
        "%10.0f |\n",
        r.policy.c_str(), 100 * r.green_share, r.brown_kwh, r.co2_kg,
        static_cast<long long>(r.migrations), sim::MovesPerVmDay(r, scenario->world),
        r.bytes_moved / 1e9, r.downtime_s, 100 * closed, of_clairvoyant, r.planning_ms);
  }
  std::printf(
      "\ngap closed: share of the CO2 between static and the oracle's bound that a policy "
      "saves (migration energy included).\n");
  if (clairvoyant != nullptr) {
    std::printf(
        "of clairv.: the same share of the CO2 between static and the clairvoyant plan (optimal "
        "with perfect foresight: whole VMs, moves and their costs, dwell, capacity), what was "
        "achievable.\n");
  }
  for (const sim::PolicyResult& r : results) {
    if (r.solves == 0) continue;
    std::printf(
        "%s: %lld solves; their plans are within %.3f kg CO2 of their bounds in all (%.2f%% of "
        "what they emit over their horizons), at most %.3f kg in one",
        r.policy.c_str(), static_cast<long long>(r.solves), r.mip_gap_kg, 100 * r.MipGap(),
        r.worst_mip_gap_kg);
    if (r.solves_without_plan > 0)
      std::printf("; %lld found no whole plan (the greedy one was used)",
                  static_cast<long long>(r.solves_without_plan));
    if (r.solves_stopped_by_clock > 0) {
      std::printf(
          "; %lld were stopped by the time limit, not the work limits: another run may differ "
          "(raise optimal_time_limit_s or lower optimal_max_steps/rounds/nodes)",
          static_cast<long long>(r.solves_stopped_by_clock));
    }
    std::printf(".\n");
  }
  if (!o.report.empty()) std::printf("report written to %s\n", o.report.c_str());
}

void RunPlan(Context& context, const PlanOptions& o) {
  Result<sim::Scenario> scenario = sim::LoadScenario(o.scenario);
  if (!scenario.ok()) return context.Fail(scenario.error());
  const sim::World& world = scenario->world;
  Result<int64_t> at = energy::ParseIsoTime(o.at, {"--at", 0, ""});
  if (!at.ok()) return context.Fail(at.error());
  const int64_t slot = (*at - world.start_utc_s) / 3600;
  if (*at < world.start_utc_s || slot >= static_cast<int64_t>(world.slots)) {
    return context.Fail("--at " + o.at + " is outside the scenario's period (" +
                        FormatUtcMinutes(world.start_utc_s) + ", " + std::to_string(world.slots) +
                        " hours)");
  }
  Result<std::unique_ptr<placement::Policy>> policy =
      placement::MakePolicy(o.policy, scenario->options.policy);
  if (!policy.ok()) return context.Fail(policy.error());
  const placement::MoveCosts costs(world.problem);
  const placement::Outlook outlook =
      sim::OutlookFor(world, **policy, static_cast<size_t>(slot), world.initial_site,
                      std::vector<int64_t>(world.problem.vms.size(), -(int64_t{1} << 40)));
  const placement::Plan plan = (*policy)->Decide(world.problem, costs, outlook);
  Status valid =
      placement::CheckPlan(world.problem, outlook, plan, scenario->options.policy.min_dwell_slots);
  if (!valid.ok()) return context.Fail(valid.message());
  if (o.json) {
    nlohmann::json moves = nlohmann::json::array();
    for (const placement::Move& m : plan.moves) {
      moves.push_back({{"vm", world.problem.vms[m.vm].name},
                       {"from", world.problem.sites[m.from].name},
                       {"to", world.problem.sites[m.to].name},
                       {"when", FormatUtcMinutes(world.start_utc_s + m.slot * 3600)},
                       {"reason", m.reason},
                       {"predicted_downtime_ms", m.predicted.downtime_s * 1000},
                       {"predicted_total_s", m.predicted.total_s},
                       {"predicted_bytes", m.predicted.bytes},
                       {"predicted_energy_j", m.predicted.energy_j},
                       {"predicted_saving_kg", m.predicted_saving_kg}});
    }
    std::cout << nlohmann::json{{"policy", plan.policy},
                                {"at", FormatUtcMinutes(*at)},
                                {"moves", moves}}
                     .dump(2)
              << "\n";
    return;
  }
  std::printf(
      "plan by %s at %s (VMs where the scenario starts them; forecasts from the data before)\n\n",
      plan.policy.c_str(), FormatUtcMinutes(*at).c_str());
  std::printf("%-10s %-10s %-10s %-18s %9s %8s %8s  %s\n", "vm", "from", "to", "when (UTC)",
              "downtime", "time", "GiB", "reason");
  for (const placement::Move& m : plan.moves) {
    std::printf(
        "%-10s %-10s %-10s %-18s %7.0fms %7.1fs %8.2f  %s\n", world.problem.vms[m.vm].name.c_str(),
        world.problem.sites[m.from].name.c_str(), world.problem.sites[m.to].name.c_str(),
        FormatUtcMinutes(world.start_utc_s + m.slot * 3600).c_str(), m.predicted.downtime_s * 1000,
        m.predicted.total_s, m.predicted.bytes / 1073741824.0, m.reason.c_str());
  }
  std::printf("\n%zu moves\n", plan.moves.size());
}

}  // namespace

void AddSimulateCommands(CLI::App& app, Context& context) {
  auto sim = std::make_shared<SimulateOptions>();
  CLI::App* cmd = app.add_subcommand(
      "simulate", "run policies over a scenario's recorded period, against static and the oracle");
  cmd->add_option("--scenario", sim->scenario,
                  "scenario JSON (e.g. data/scenarios/three-sites-2022.json)")
      ->required();
  cmd->add_option("--policies", sim->policies,
                  "comma-separated: static, follow-sensor, greedy-forecast, optimal "
                  "(default: the scenario's)");
  cmd->add_option("--days", sim->days, "simulate only the first N days");
  cmd->add_option("--from", sim->from,
                  "start at this time (RFC 3339, on a whole hour) inside the scenario's period, "
                  "e.g. the months held back from tuning");
  cmd->add_option("--report", sim->report, "write an HTML report with charts to this file");
  cmd->add_flag("--json", sim->json, "print as JSON");
  cmd->add_flag("--quiet", sim->quiet, "no progress on stderr");
  cmd->add_flag("--clairvoyant", sim->clairvoyant,
                "also run optimal with perfect foresight (the same engine, its forecasts "
                "replaced by what happened) as an achievable reference");
  cmd->add_option("--progress-every", sim->progress_every_s,
                  "seconds between progress lines on stderr (default: 0.5 on a terminal, 30 "
                  "otherwise)")
      ->check(CLI::Range(0.0, 86400.0));
  cmd->callback([&context, sim]() { RunSimulate(context, *sim); });

  auto plan = std::make_shared<PlanOptions>();
  CLI::App* plan_cmd = app.add_subcommand("plan", "one plan from a scenario at a given time");
  plan_cmd->add_option("--scenario", plan->scenario, "scenario JSON")->required();
  plan_cmd->add_option("--at", plan->at, "decision time, ISO with offset")->required();
  plan_cmd->add_option("--policy", plan->policy, "policy")->capture_default_str();
  plan_cmd->add_flag("--json", plan->json, "print as JSON");
  plan_cmd->callback([&context, plan]() { RunPlan(context, *plan); });
}

}  // namespace greenshift::cli
