#!/usr/bin/env bash
# Installs what greenshift needs, builds it, and runs the demo: a lab with three sites
# (Frankfurt, London, San Jose), two VMs serving HTTP, and `greenshift serve` in auto mode while
# a real day of 2022 weather (21 June) is replayed fast (a day in about 4 minutes): the VMs
# follow the sun by real live migrations while `ab` loads both of them. It prints the dashboard
# URL, and at the end a summary: green share with and without greenshift, CO2, migrations,
# their downtime, HTTP requests and failures.
#   scripts/demo.sh [--speed N] [--keep] [--hypervisor qemu|libvirt]
# (N: replayed seconds per second, default 360; libvirt: one libvirt daemon per site, the service
# driving them through libvirt's API as it would real hosts).
# The talk's single measured migration is `build/src/cli/greenshift demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
SPEED=360
KEEP=0
HYPERVISOR=qemu
while [[ $# -gt 0 ]]; do
  case $1 in
    --speed) SPEED=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --hypervisor) HYPERVISOR=$2; shift 2 ;;
    *) echo "demo.sh: unknown argument '$1' (use --speed N, --keep, --hypervisor qemu|libvirt)" >&2
       exit 2 ;;
  esac
done
scripts/setup.sh
scripts/build.sh
ROOT=$PWD
G=$ROOT/build/src/cli/greenshift
DATA=$ROOT/data
export GREENSHIFT_LAB=demo
DIR=$(mktemp -d /tmp/greenshift-demo.XXXXXX)
SERVICE_PID=""
cleanup() {
  local rc=$?
  [[ -n $SERVICE_PID ]] && kill -TERM "$SERVICE_PID" 2>/dev/null || true
  jobs -p | xargs -r kill -INT 2>/dev/null || true
  wait 2>/dev/null || true
  if ((KEEP)); then
    echo "== the lab stays up: \`$G --lab demo vm list\`, then \`$G --lab demo lab down\`"
  else
    "$G" lab down >/dev/null 2>&1 || true
  fi
  echo "== files of this run (config, service log, store, ab output): $DIR"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ $HYPERVISOR == qemu || $HYPERVISOR == libvirt ]] ||
  { echo "demo.sh: --hypervisor is qemu or libvirt, not '$HYPERVISOR'" >&2; exit 2; }
echo "== lab 'demo' with three sites under $HYPERVISOR: a = Frankfurt, b = London, c = San Jose"
"$G" lab down >/dev/null 2>&1 || true
"$G" lab up --sites 3 --hypervisor "$HYPERVISOR"
LAB_JSON=$("$G" lab status --json)
sites=(frankfurt:DE-LU:a:50.11:8.68 london:GB:b:51.51:-0.13 sanjose:US-CAL-CISO:c:37.34:-121.89)
echo "== what each site's PV sensor reports: 1 kWp modelled on the real 2022 weather"
for s in "${sites[@]}"; do
  IFS=: read -r name zone _ _ _ <<<"$s"
  "$G" energy pv --weather "$DATA/weather/openmeteo_${zone}_2022.json" --capacity-kw 1 \
    --series-csv "$DIR/$name.csv" >/dev/null
done

{
  cat <<TOML
[service]
port = 0
token = "demo-token-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
database = "greenshift.db"
mode = "auto"
period_s = 900
lab = "demo"
replay_start = "2022-06-21T00:00:00Z"
replay_speed = $SPEED

[policy]
name = "greedy-forecast"
min_dwell_hours = 2
horizon_hours = 2
TOML
  for s in "${sites[@]}"; do
    IFS=: read -r name zone lab_site lat lon <<<"$s"
    cat <<TOML

[[sites]]
name = "$name"
latitude = $lat
longitude = $lon
capacity_kw = 0.4
pv_kwp = 1
weather = "$DATA/weather/openmeteo_${zone}_2022.json"
carbon = "$DATA/carbon/${zone}_2022_hourly.csv"
[[sites.sensors]]
name = "pv"
kind = "replay"
address = "$name.csv"
capacity_kw = 1.2

[[hosts]]
name = "${name}1"
site = "$name"
TOML
    if [[ $HYPERVISOR == libvirt ]]; then
      # The site's libvirt daemon, as `lab status --json` names it.
      jq -r --arg s "$lab_site" '.sites[] | select(.name == $s) | .libvirt |
        "driver = \"libvirt\"\naddress = \"\(.uri)\"\npeer_uri = \"\(.peer_uri)\"\nmigration_uri = \"\(.migration_uri)\""' \
        <<<"$LAB_JSON"
    else
      printf 'driver = "qemu"\naddress = "%s"\n' "$lab_site"
    fi
  done
  cat <<TOML

[[vms]]
name = "web1"
host = "frankfurt1"
memory_mib = 256
peak_w = 200
power_w = 150
address = "198.18.128.10/16"

[[vms]]
name = "web2"
host = "london1"
memory_mib = 256
peak_w = 200
power_w = 150
address = "198.18.128.11/16"
TOML
} >"$DIR/greenshift.toml"

echo "== greenshift serve --config $DIR/greenshift.toml (auto mode, 21 June 2022 at ${SPEED}x)"
cd "$DIR"
"$G" serve --config "$DIR/greenshift.toml" >"$DIR/serve.log" 2>&1 &
SERVICE_PID=$!
URL=""
for _ in $(seq 600); do
  URL=$(sed -n 's|^dashboard at \(http://[0-9.:]*\)/.*|\1|p' "$DIR/serve.log")
  [[ -n $URL ]] && break
  kill -0 "$SERVICE_PID" 2>/dev/null || { cat "$DIR/serve.log"; exit 1; }
  sleep 0.2
done
[[ -n $URL ]] || { cat "$DIR/serve.log"; echo "the service never listened" >&2; exit 1; }
echo "== dashboard: $URL/  (from another machine: ssh -L ${URL##*:}:127.0.0.1:${URL##*:} this-host)"

for ip in 198.18.128.10 198.18.128.11; do
  for _ in $(seq 180); do
    ip netns exec demo-client curl -fsS -m 2 "http://$ip/status" >/dev/null 2>&1 && break
    sleep 0.5
  done
done
end_s=$(date -d 2022-06-22T00:00:00Z +%s)
now_s=$(date -d "$(curl -fsS "$URL/api/status" | jq -r .now)" +%s)
load_s=$(( (end_s - now_s) / SPEED + 5 ))
echo "== both VMs answer; HTTP load on each (ab -c 2) for the rest of the day (${load_s} s)"
AB_PIDS=()
for ip in 198.18.128.10 198.18.128.11; do
  ip netns exec demo-client ab -c 2 -t "$load_s" -n 100000000 -s 10 "http://$ip/" \
    >"$DIR/ab-$ip.txt" 2>&1 &
  AB_PIDS+=($!)
done
last=""
while true; do
  status=$(curl -fsS "$URL/api/status")
  now=$(jq -r .now <<<"$status")
  line=$(curl -fsS "$URL/api/vms" | jq -r 'map("\(.name)@\(.site)\(if .moving then "(moving)" else "" end)") | join(" ")')
  if [[ $line != "$last" ]]; then
    echo "   $now  $line  green share $(jq -r '.green_share * 100 | floor' <<<"$status") %"
    last=$line
  fi
  (( $(date -d "$now" +%s) >= end_s )) && break
  kill -0 "$SERVICE_PID" 2>/dev/null || { tail "$DIR/serve.log"; exit 1; }
  sleep 1
done
for _ in $(seq 60); do
  [[ $(curl -fsS "$URL/api/status" | jq '.moves_running + .moves_queued') == 0 ]] && break
  sleep 1
done
kill -INT "${AB_PIDS[@]}" 2>/dev/null || true  # ab prints its figures when interrupted
wait "${AB_PIDS[@]}" 2>/dev/null || true

status=$(curl -fsS "$URL/api/status")
moves=$(curl -fsS "$URL/api/moves?limit=1000")
requests=0
failures=0
for f in "$DIR"/ab-*.txt; do
  done_here=$(sed -n 's/^Complete requests: *//p' "$f" | tail -n 1)
  failed_here=$(sed -n 's/^Failed requests: *//p' "$f" | tail -n 1)
  [[ -n $done_here ]] || { echo "ab gave no figures:"; tail -n 5 "$f"; }
  requests=$((requests + ${done_here:-0}))
  failures=$((failures + ${failed_here:-0}))
done
echo
echo "== summary of 21 June 2022, replayed"
jq -r '"   green share with greenshift   \(.green_share * 1000 | round / 10) %",
       "   without (VMs stay home)      \(.static_green_share * 1000 | round / 10) %",
       "   kg CO2 with / without        \(.co2_kg * 1000 | round / 1000) / \(.static_co2_kg * 1000 | round / 1000)"' <<<"$status"
jq -r '"   migrations                   \([.[] | select(.state == "completed")] | length) completed, \([.[] | select(.state == "failed")] | length) failed",
       "   downtime per migration (ms)  \([.[] | select(.downtime_ms != null) | .downtime_ms * 10 | round / 10] | join(", "))"' <<<"$moves"
echo "   HTTP requests during the day $requests, failed: $failures"
jq -r '.[] | "   #\(.id) \(.requested) \(.vm) \(.from) -> \(.to) \(.state): \(.reason)"' <<<"$moves" | tac
