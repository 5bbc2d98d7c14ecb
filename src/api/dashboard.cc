#include "api/dashboard.h"

#include "core/files.h"

namespace greenshift::api {

namespace {

const char kChartJsPath[] = "/usr/share/javascript/chart.js/chart.min.js";

const char kHtml[] = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>greenshift</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font-family: system-ui, sans-serif; margin: 1.2em; color: #1d2b1f; background: #f6f8f5; }
  h1 { font-size: 1.4em; margin: 0 0 .3em; }
  h2 { font-size: 1.1em; margin: 1.2em 0 .4em; }
  #status { color: #445; margin-bottom: .8em; }
  .figures span { display: inline-block; margin-right: 1.5em; }
  .figures b { font-size: 1.2em; }
  table { border-collapse: collapse; background: white; font-size: .9em; }
  th, td { border: 1px solid #cdd5cb; padding: .25em .6em; text-align: left; }
  th { background: #e4ebe2; }
  .grid { display: grid; grid-template-columns: minmax(0, 2fr) minmax(0, 1fr); gap: 1.2em; }
  .card { background: white; border: 1px solid #cdd5cb; padding: .6em; }
  .completed { color: #1b7a2b; } .failed, .interrupted { color: #b3261e; }
  .running, .queued { color: #9a6700; }
  #error { color: #b3261e; }
  #stale { color: #9a3b00; background: #fff4e5; border: 1px solid #e8b36b; padding: .4em .6em;
           margin: .5em 0; }
  #stale:empty { display: none; }
</style>
<script src="/static/chart.js"></script>
</head>
<body>
<h1>greenshift: VMs follow the green power</h1>
<div id="status">loading&hellip;</div>
<div class="figures" id="figures"></div>
<div id="error"></div>
<div id="stale"></div>
<div class="grid">
  <div class="card"><h2>Green power per site: measured (solid) and forecast (dashed), W</h2>
    <canvas id="power" height="130"></canvas></div>
  <div class="card"><h2>Measured downtime per migration, ms</h2>
    <canvas id="downtime" height="260"></canvas></div>
</div>
<h2>Where each VM runs</h2>
<table id="vms"><thead><tr><th>VM</th><th>site</th><th>host</th><th>state</th><th>home</th>
<th>power W</th><th>address</th><th>last move</th></tr></thead><tbody></tbody></table>
<h2>Current plan</h2>
<div id="plan"></div>
<h2>Migrations</h2>
<table id="moves"><thead><tr><th>#</th><th>VM</th><th>from &rarr; to</th><th>state</th>
<th>downtime ms</th><th>requested</th><th>reason</th></tr></thead><tbody></tbody></table>
<script>
"use strict";
const colors = ["#d08c00", "#1f77b4", "#2ca02c", "#9467bd", "#d62728", "#17becf"];
const history = {};  // site -> [{x: ms, y: W}]
let powerChart = null, downtimeChart = null;
const hhmm = (ms) => new Date(ms).toISOString().slice(11, 16);
const text = (s) => String(s === null || s === undefined ? "" : s)
  .replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;"}[c]));
async function get(path) {
  const r = await fetch(path);
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}
function makeCharts(sites) {
  const datasets = [];
  sites.forEach((s, i) => {
    datasets.push({label: s.name + " measured", data: history[s.name], borderColor: colors[i % 6],
                   backgroundColor: colors[i % 6], pointRadius: 0, borderWidth: 2});
    datasets.push({label: s.name + " forecast", data: [], borderColor: colors[i % 6],
                   borderDash: [6, 4], pointRadius: 0, borderWidth: 1.5});
  });
  powerChart = new Chart(document.getElementById("power"), {
    type: "line", data: {datasets},
    options: {animation: false, parsing: false, normalized: true,
              scales: {x: {type: "linear", ticks: {callback: (v) => hhmm(v)}},
                       y: {beginAtZero: true}},
              plugins: {legend: {position: "bottom"}}}});
  downtimeChart = new Chart(document.getElementById("downtime"), {
    type: "bar", data: {labels: [], datasets: [{label: "downtime ms", data: [],
                                                 backgroundColor: "#2ca02c"}]},
    options: {animation: false, plugins: {legend: {display: false}}}});
}
async function seed(sites) {
  for (const s of sites) {
    history[s.name] = [];
    const rows = await get("/api/readings?site=" + encodeURIComponent(s.name) + "&limit=5000");
    const byTime = new Map();
    for (const r of rows) byTime.set(r.time_utc_ms, (byTime.get(r.time_utc_ms) || 0) + r.power_w);
    for (const [t, w] of [...byTime.entries()].sort((a, b) => a[0] - b[0]))
      history[s.name].push({x: t, y: w});
  }
}
async function refresh() {
  try {
    const [status, sites, vms, moves, forecasts] = await Promise.all([
      get("/api/status"), get("/api/sites"), get("/api/vms"), get("/api/moves?limit=200"),
      get("/api/forecasts")]);
    if (!powerChart) { await seed(sites); makeCharts(sites); }
    const now = Date.parse(status.now);
    document.getElementById("status").textContent =
      (status.replay ? "replay at " + status.speed + "x, " : "") + "service time " + status.now +
      " | mode " + status.mode + " | policy " + status.policy + " | loop every " +
      status.period_s + " s";
    const done = (status.moves_by_result || {}).completed || 0;
    document.getElementById("figures").innerHTML =
      "<span>green share <b>" + (100 * status.green_share).toFixed(1) + " %</b></span>" +
      "<span>without greenshift <b>" + (100 * status.static_green_share).toFixed(1) +
      " %</b></span><span>kg CO2 <b>" + status.co2_kg.toFixed(3) + "</b> (static " +
      status.static_co2_kg.toFixed(3) + ")</span><span>migrations <b>" + done +
      "</b></span><span>moving now <b>" + (status.moves_running + status.moves_queued) +
      "</b></span>";
    document.getElementById("error").textContent = status.last_error || "";
    // A site whose inputs do not cover now: nothing planned moves to or from it.
    const stale = sites.filter((s) => s.stale);
    document.getElementById("stale").innerHTML = stale.length
      ? "<b>Stale inputs: no planned move touches these sites.</b><ul>" +
        stale.map((s) => "<li>" + text(s.name) + ": " + text(s.stale) + "</li>").join("") +
        "</ul>"
      : "";
    sites.forEach((s, i) => {
      const h = history[s.name];
      if (s.green_w !== null && (!h.length || h[h.length - 1].x < now)) h.push({x: now, y: s.green_w});
      if (h.length > 5000) h.shift();
      const f = forecasts.find((x) => x.site === s.name);
      powerChart.data.datasets[2 * i].data = h;
      powerChart.data.datasets[2 * i + 1].data =
        f ? f.slots.map((p) => ({x: Date.parse(p.time), y: p.power_w})) : [];
    });
    powerChart.update();
    document.querySelector("#vms tbody").innerHTML = vms.map((v) =>
      "<tr><td>" + text(v.name) + "</td><td><b>" + text(v.site) + "</b></td><td>" +
      text(v.host) + "</td><td>" + text(v.state) + (v.moving ? " (moving)" : "") + "</td><td>" + text(v.home_site) +
      "</td><td>" + v.power_w + "</td><td>" + text(v.address) + "</td><td>" +
      text(v.last_move) + "</td></tr>").join("");
    const plan = status.current_plan || {};
    const planMoves = plan.moves || [];
    document.getElementById("plan").innerHTML = (plan.made ? "made " + text(plan.made) +
      (plan.status ? " (" + text(plan.status) + ")" : "") + ": " : "") +
      (planMoves.length ? "<ul>" + planMoves.map((m) => "<li>" + text(m.vm) + ": " +
        text(m.from) + " &rarr; " + text(m.to) + ", " + text(m.reason) + "</li>").join("") +
        "</ul>" : "no move: every VM is where it should be");
    document.querySelector("#moves tbody").innerHTML = moves.map((m) =>
      "<tr><td>" + m.id + "</td><td>" + text(m.vm) + "</td><td>" + text(m.from) + " &rarr; " +
      text(m.to) + "</td><td class=\"" + text(m.state) + "\">" + text(m.state) + "</td><td>" +
      (m.downtime_ms === null ? "" : m.downtime_ms.toFixed(1)) + "</td><td>" +
      text(m.requested) + "</td><td>" + text(m.reason) + "</td></tr>").join("");
    const measured = moves.filter((m) => m.downtime_ms !== null).reverse();
    downtimeChart.data.labels = measured.map((m) => "#" + m.id + " " + m.vm);
    downtimeChart.data.datasets[0].data = measured.map((m) => m.downtime_ms);
    downtimeChart.update();
    document.body.dataset.charts = Object.keys(Chart.instances).length;
    document.body.dataset.ready = "yes";
  } catch (e) {
    document.getElementById("error").textContent = String(e);
  }
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
)html";

}  // namespace

const std::string& DashboardHtml() {
  static const std::string html(kHtml);
  return html;
}

Result<std::string> ChartJs() {
  Result<std::string> script = ReadFile(kChartJsPath);
  if (!script.ok())
    return Status::Error(std::string("Chart.js is not installed (") + kChartJsPath +
                         "; Debian's libjs-chart.js): " + script.error());
  return script;
}

}  // namespace greenshift::api
