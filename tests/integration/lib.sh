# Shared helpers of the integration tests. Each test sources this file, names its own lab (so its
# namespaces cannot collide with another lab's) and gets the lab torn down when it exits.
# Needs: GREENSHIFT (the binary), root, QEMU, the guest image (GREENSHIFT_GUEST_DIR).
# GREENSHIFT_HYPERVISOR=libvirt runs the same test on a lab of libvirt daemons (lab_up), with the
# service's hosts on the libvirt driver (write_service_config); its lab is named lv-* for it-*.
set -euo pipefail

: "${GREENSHIFT:?GREENSHIFT must name the greenshift binary}"
G="$GREENSHIFT"
HV=${GREENSHIFT_HYPERVISOR:-qemu}

if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: integration tests need root (network namespaces, taps)" >&2
  exit 77
fi

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

check() {  # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then
    echo "ok: $what"
  else
    fail "$what"
  fi
}

# use_lab NAME: every greenshift command of this test works on lab NAME, removed on exit.
use_lab() {
  export GREENSHIFT_LAB=$1
  [[ $HV == libvirt ]] && GREENSHIFT_LAB=lv-${1#it-}
  export GREENSHIFT_RUN_DIR=${GREENSHIFT_TEST_RUN_DIR:-/run/greenshift-test}
  TEST_TMP=$(mktemp -d)
  trap 'on_exit' EXIT
  trap 'exit 143' TERM INT  # a timeout or Ctrl-C still tears the lab down (through EXIT)
  "$G" lab down >/dev/null 2>&1 || true
}

on_exit() {
  local rc=$?
  jobs -p | xargs -r kill 2>/dev/null || true
  wait 2>/dev/null || true
  if [[ $rc -ne 0 && -n "${GREENSHIFT_LAB:-}" ]]; then
    echo "--- lab state at failure ---" >&2
    "$G" lab status --json >&2 2>/dev/null || true
    for console in "$GREENSHIFT_RUN_DIR/$GREENSHIFT_LAB"/qemu/*.console; do
      [[ -f $console ]] && { echo "--- $console (tail) ---" >&2; tail -20 "$console" >&2; }
    done
  fi
  "$G" lab down >/dev/null 2>&1 || true
  rm -rf "$TEST_TMP"
  exit $rc
}

# lab_up ARGS...: the lab, under the test's hypervisor.
lab_up() {
  "$G" lab up --hypervisor "$HV" "$@"
}

# The console log of VM $1 on site $2.
console_of() {
  if [[ $HV == libvirt ]]; then
    echo "$GREENSHIFT_RUN_DIR/$GREENSHIFT_LAB/libvirt/$2/log/$1.console"
  else
    echo "$GREENSHIFT_RUN_DIR/$GREENSHIFT_LAB/qemu/$1@$2.console"
  fi
}

# The guest's status line (GET /status from the client namespace).
status_line() {  # status_line IP
  ip netns exec "$GREENSHIFT_LAB-client" bash -c "exec 3<>/dev/tcp/$1/80; printf 'GET /status HTTP/1.0\r\n\r\n' >&3; cat <&3" | tail -1
}

# The figures of the guest's status line: name= uptime_s= requests=
guest_status() {  # guest_status IP -> "uptime requests"
  local line
  line=$(status_line "$1")
  local uptime requests
  uptime=$(sed -n 's/.*uptime_s=\([0-9.]*\).*/\1/p' <<<"$line")
  requests=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$line")
  [[ -n $uptime && -n $requests ]] || fail "guest at $1 gave no status line: '$line'"
  echo "$uptime $((10#$requests))"
}

# The talk's load: load_start IP runs `ab -c 5 -n 10000` against IP from the lab's client
# namespace, in the background (its report in $TEST_TMP/ab.txt). load_end [SECONDS] waits for it
# and checks 0 failed requests: all 10000 done unless SECONDS is given; with SECONDS, ab still
# running that long after the call is stopped (SIGINT: ab reports the requests done so far) and
# the check is that it was answering until then. Why stop it: 10000 requests take 20-50 s of a TCG
# guest, most of them long after a migration of under a second, and a test that asks of the load
# only that it spans the migration need not wait for them.
# Seconds since START (an $EPOCHREALTIME), to a tenth.
seconds_since() { awk -v a="$EPOCHREALTIME" -v b="$1" 'BEGIN { printf "%.1f", a - b }'; }

load_start() {
  LOAD_START=$EPOCHREALTIME
  ip netns exec "$GREENSHIFT_LAB-client" ab -c 5 -n 10000 "http://$1/" >"$TEST_TMP/ab.txt" 2>&1 &
  LOAD_PID=$!
}
load_end() {
  local after_s=${1:-} stopped=0 rc=0 since=0 until_s done taken
  if [[ -n $after_s ]]; then
    since=$(seconds_since "$LOAD_START")
    sleep "$after_s"
    until_s=$(awk -v a="$since" -v b="$after_s" 'BEGIN { printf "%.1f", a + b }')
    if kill -0 "$LOAD_PID" 2>/dev/null; then
      stopped=1
      kill -INT "$LOAD_PID"
    fi
  fi
  wait "$LOAD_PID" || rc=$?
  # Stopped, ab exits 1 after its report; any other error has no report.
  if { ((rc != 0)) && ! ((stopped)); } || ! grep -q "^Complete requests:" "$TEST_TMP/ab.txt"; then
    fail "ab exited with an error: $(tail -5 "$TEST_TMP/ab.txt")"
  fi
  grep -E "Complete requests|Failed requests|Time taken|  99%|100%" "$TEST_TMP/ab.txt"
  done=$(sed -n 's/^Complete requests: *//p' "$TEST_TMP/ab.txt")
  taken=$(sed -n 's/^Time taken for tests: *\([0-9.]*\).*/\1/p' "$TEST_TMP/ab.txt")
  if ((stopped)); then
    # ab's own clock starts a little after LOAD_START (ip netns exec, its start): 1 s of margin.
    check "ab ran past the migration's end ($done requests in $taken s, the migration ended at $since s, ab stopped at $until_s s)" \
      float_gt "$taken" "$(awk -v a="$since" -v b="$after_s" 'BEGIN { print a + b - 1 }')"
    check "ab completed more than 100 requests" test "$done" -gt 100
  else
    check "ab completed 10000 requests" test "$done" = 10000
  fi
  check "ab saw 0 failed requests" test "$(sed -n 's/^Failed requests: *//p' "$TEST_TMP/ab.txt")" = 0
}

# migrate_under_load IP VM TO [MAX_LOST] [AFTER_S]: the talk's measurement. Pings IP every 10 ms
# and runs the talk's load against it while VM live-migrates to TO; leaves
# $TEST_TMP/migration.json, ab.txt and ping.json, prints their figures, and checks the load
# (load_end AFTER_S: all 10000 requests unless AFTER_S is given) and at most MAX_LOST pings lost
# (3 unless given). The array MIGRATE_OPTIONS adds options to `migrate` (none unless set).
MIGRATE_OPTIONS=()
migrate_under_load() {
  local ip=$1 vm=$2 to=$3 max_lost=${4:-3} after_s=${5:-}
  "$G" probe ping "$ip" --interval-ms 10 --duration-s 90 --json >"$TEST_TMP/ping.json" &
  local ping_pid=$! ping_start=$EPOCHREALTIME
  load_start "$ip"
  sleep 1.5
  "$G" migrate "$vm" --to "$to" --live "${MIGRATE_OPTIONS[@]}" --json --quiet \
    >"$TEST_TMP/migration.json"
  jq -c 'del(.events)' "$TEST_TMP/migration.json"
  load_end $after_s
  sleep 1
  kill -TERM "$ping_pid"
  wait "$ping_pid"
  jq -c . "$TEST_TMP/ping.json"
  local sent lost expected
  sent=$(jqr "$TEST_TMP/ping.json" .sent)
  lost=$(jqr "$TEST_TMP/ping.json" .lost)
  # Every 10 ms from its start to its end, less 1.5 s for the probe's own start and a fifth for
  # its timers on a busy machine (measured: 81-98 % of the slots from launch to end).
  expected=$(awk -v a="$EPOCHREALTIME" -v b="$ping_start" \
    'BEGIN { printf "%d", (a - b - 1.5) * 100 * 0.8 }')
  check "pinged every 10 ms throughout (sent $sent, $expected expected at least)" \
    float_gt "$sent" "$expected"
  if ((lost > max_lost)); then  # when the switchover was, as each host saw it
    echo "the migration's events but its passes (ms from its start):"
    jq -c '.events[] | select(.event != "pass") | [.at_ms, .host, .event, .detail]' \
      "$TEST_TMP/migration.json"
  fi
  check "at most $max_lost pings lost (lost $lost)" test "$lost" -le "$max_lost"
}

# migrate_killing_destination VM TO OUT: live-migrates VM to TO (result JSON in OUT) and kills the
# destination QEMU 1.5 s after it started (its memory copy under way). Sets MIGRATE_RC to the
# migrate command's exit code.
migrate_killing_destination() {
  local vm=$1 to=$2 out=$3
  "$G" migrate "$vm" --to "$to" --live --json --quiet >"$out" &
  local migrate_pid=$!
  for _ in $(seq 100); do
    [[ $(qemu_count "$vm" "$to") == 1 ]] && break
    sleep 0.05
  done
  sleep 1.5
  kill_qemu "$vm" "$to"
  MIGRATE_RC=0
  wait "$migrate_pid" || MIGRATE_RC=$?
}

# wait_for_line FILE PATTERN [SECONDS]: until FILE (a command's output) has a line matching it.
wait_for_line() {
  local deadline=$((SECONDS + ${3:-60}))
  until grep -q -- "$2" "$1" 2>/dev/null; do
    ((SECONDS < deadline)) || fail "'$2' never showed in $1"
    sleep 0.05
  done
}

# The last disk record the guest at $1 acknowledged (its status line's disk_acked).
disk_acked() {
  local line
  line=$(status_line "$1")
  local acked
  acked=$(sed -n 's/.*disk_acked=\([0-9]*\).*/\1/p' <<<"$line")
  [[ -n $acked ]] || fail "guest at $1 gave no disk_acked in its status line: '$line'"
  echo $((10#$acked))
}

# The pid of the lab's storage server for protocol $1 (nbd, iscsi, nfs); 0 when it is down.
storage_server_pid() { "$G" lab status --json | jq -r ".storage.servers.$1.pid"; }

# The address of VM $1.
ip_of() { "$G" vm list --json | jq -r --arg n "$1" '.[] | select(.name == $n) | .ip'; }

# wait_acked_past IP RECORDS [SECONDS]: waits (20 s unless told) until the guest at IP has
# acknowledged more than RECORDS disk records; the caller checks what it needs afterwards.
wait_acked_past() {
  local deadline=$((SECONDS + ${3:-20}))
  until (($(disk_acked "$1") > $2)) || ((SECONDS >= deadline)); do sleep 0.2; done
}

# check_storage_server_killed VM FROM TO MODE: the lab's MODE storage server (nbd, iscsi, nfs) is
# killed while VM's memory is copied from FROM to TO (100 Mbit/s: seconds of copy). The migration
# fails and VM stays on FROM: over NBD its disk fails requests and it runs on; over iSCSI and NFS
# its QEMU waits, paused, for its disk at the switchover, and the error says so. Nothing of VM is
# left on TO. `lab up` brings the server back: VM runs on FROM and writes its disk again, no
# acknowledged record lost. The link is unshaped again afterwards.
check_storage_server_killed() {
  local vm=$1 from=$2 to=$3 mode=$4 ip rc=0 acked
  local out="$TEST_TMP/killed-$vm.json" err="$TEST_TMP/killed-$vm.err"
  ip=$(ip_of "$vm")
  "$G" lab link "$from" "$to" --bandwidth-mbit 100
  "$G" migrate "$vm" --to "$to" --live --json >"$out" 2>"$err" &
  local migrate_pid=$!
  wait_for_line "$err" " copying "
  sleep 1
  kill -KILL "$(storage_server_pid "$mode")"
  wait "$migrate_pid" || rc=$?
  jq -c 'del(.events)' "$out"
  check "$vm: migrate fails when its $mode server dies" test "$rc" -ne 0
  if [[ $mode != nbd ]]; then
    check "$vm: the error says the source waits for its $mode disk" \
      grep -q "waiting for its disk (.* over $mode from" "$err"
  fi
  check "$vm: the result says it stays on $from" test "$(jqr "$out" .running_on)" = "$from"
  # Listing VMs does not wait for a source that waits for its disk (libvirt: 2 s a question, where
  # it took 30 s, libvirt's own wait for the domain's job lock).
  local listed_at=$EPOCHREALTIME listed took
  listed=$("$G" vm list --json | jq -c --arg n "$vm" '.[] | select(.name == $n) | [.copies, .unanswered]')
  took=$(seconds_since "$listed_at")
  check "$vm: vm list answered in $took s (at most 8)" awk -v t="$took" 'BEGIN { exit !(t <= 8) }'
  check "$vm: vm list lists it on $from: $listed" test "$(jq -c '.[0]' <<<"$listed")" = "[\"$from\"]"
  check "$vm: no QEMU of it is left on $to" test "$(qemu_count "$vm" "$to")" = 0
  check "the $mode server is down" test "$(storage_server_pid "$mode")" = 0
  lab_up --sites 2 --storage
  check "lab up started the $mode server again" float_gt "$(storage_server_pid "$mode")" 0
  local where
  for _ in $(seq 150); do
    where=$("$G" vm list --json | jq -c --arg n "$vm" '.[] | select(.name == $n) | [.copies, .state]')
    [[ $where == "[[\"$from\"],\"running\"]" ]] && break
    sleep 0.2
  done
  check "$vm runs once, on $from" test "$where" = "[[\"$from\"],\"running\"]"
  acked=$(disk_acked "$ip")
  wait_acked_past "$ip" $((acked + 20))
  check "$vm writes its disk again once the server is back" \
    test "$(disk_acked "$ip")" -gt $((acked + 20))
  check_disk_clean "$vm"
  "$G" lab link "$from" "$to" --bandwidth-mbit 0
}

# check_disk_clean VM: every record its guest acknowledged is on its disk, whole.
check_disk_clean() {
  local report="$TEST_TMP/verify-$1.json"
  "$G" vm verify-disk "$1" --json >"$report" || true
  jq -c '{checked, present, missing, torn, highest}' "$report" || fail "no disk report for $1"
  check "the disk of $1 holds all $(jqr "$report" .checked) acknowledged records, none torn" \
    test "$(jqr "$report" '"\(.missing) \(.torn) \(.clean)"')" = "0 0 true"
  check "records were checked on $1's disk" float_gt "$(jqr "$report" .checked)" 100
}

# check_migrates_again VM TO: a live migration of VM to TO completes and leaves it running once,
# on TO (the result in $TEST_TMP/after.json).
check_migrates_again() {
  "$G" migrate "$1" --to "$2" --live --json --quiet >"$TEST_TMP/after.json"
  check "a later migration completes" test "$(jqr "$TEST_TMP/after.json" .status)" = completed
  check "the VM runs once, on $2" test "$("$G" vm list --json | jq -c '.[0].copies')" = "[\"$2\"]"
}

# check_moved_writing IP VM FROM TO ACKED_BEFORE: after VM (its guest at IP) moved from FROM to
# TO, its guest went on writing its disk (100 records past ACKED_BEFORE), every record it
# acknowledged is there, and it runs once, on TO, nothing of it left on FROM.
check_moved_writing() {
  local ip=$1 vm=$2 from=$3 to=$4 acked_before=$5 acked_after
  acked_after=$(disk_acked "$ip")
  check "the guest went on writing through the migration ($acked_before -> $acked_after records)" \
    test "$acked_after" -gt $((acked_before + 100))
  check_disk_clean "$vm"
  check "the VM runs once, on $to" test "$("$G" vm list --json | jq -c '.[0].copies')" = "[\"$to\"]"
  check "no QEMU of it is left on $from" test "$(qemu_count "$vm" "$from")" = 0
}

# Succeeds when no NBD server (a disk copy's destination end) listens on site $1: the qemu
# driver's exports (108xx), libvirt's (its migration ports, 49152-49215).
no_nbd_listening() {
  local ports=':108[0-9][0-9] '
  [[ $HV == libvirt ]] && ports=':49(1[5-9][0-9]|2[01][0-9]) '
  ! ip netns exec "$GREENSHIFT_LAB-$1" ss -ltnH | grep -Eq "$ports"
}

# Kills the QEMU of VM $1 on site $2 (SIGKILL); fails when there is none.
kill_qemu() {
  if [[ $HV == libvirt ]]; then
    local pid
    pid=$(cat "$GREENSHIFT_RUN_DIR/$GREENSHIFT_LAB/libvirt/$2/run/qemu/$1.pid" 2>/dev/null || true)
    [[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null || fail "no QEMU of $1 on $2 to kill"
    return
  fi
  pkill -KILL -f -- "-name $1,.*$GREENSHIFT_LAB/qemu/$1@$2\.pid" || fail "no QEMU of $1 on $2 to kill"
}

# Number of QEMU processes of VM $1 on site $2 (the pid file name carries vm@site; under
# libvirt, the pid file is the site daemon's).
qemu_count() {
  if [[ $HV == libvirt ]]; then
    local pid
    pid=$(cat "$GREENSHIFT_RUN_DIR/$GREENSHIFT_LAB/libvirt/$2/run/qemu/$1.pid" 2>/dev/null || true)
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then echo 1; else echo 0; fi
    return
  fi
  pgrep -f -c -- "-name $1,.*$GREENSHIFT_LAB/qemu/$1@$2\.pid" || true
}

# Routed labs of two sites a and b, in network $NETWORK (bgp or vxlan): where the network sends
# a VM's traffic. Each site's address on the a-b link: where the other sends what is for a VM
# there.
declare -A LINK_ADDRESS=([a]=198.19.1.1 [b]=198.19.1.2)
declare -A OTHER=([a]=b [b]=a)
# wan_route IP: the WAN router's route to IP ("via ADDRESS dev w-SITE ..."), empty when none.
wan_route() { ip -n "$GREENSHIFT_LAB-wan" route show "$1/32"; }
# overlay_entry SITE MAC: SITE's overlay entry for MAC ("MAC dst ADDRESS self permanent").
overlay_entry() { bridge -n "$GREENSHIFT_LAB-$1" fdb show dev vx0 | grep -i "^$2 dst" || true; }
# is_at IP MAC SITE: the network sends the VM's traffic to SITE. bgp: the WAN routes it there
# (its uplink is w-SITE). vxlan: the other site's overlay sends its MAC to SITE, which sends it
# nowhere (its bridge learns the guest's tap).
is_at() {
  if [[ $NETWORK == bgp ]]; then
    wan_route "$1" | grep -q "dev w-$3 "
  else
    overlay_entry "${OTHER[$3]}" "$2" | grep -q "dst ${LINK_ADDRESS[$3]} " &&
      [[ -z $(overlay_entry "$3" "$2") ]]
  fi
}
# wait_at IP MAC SITE: until is_at, 5 s at most.
wait_at() {
  for _ in $(seq 100); do
    is_at "$@" && return 0
    sleep 0.05
  done
  return 1
}
# where IP MAC SITE: what is_at reads, for a check's message.
where() { if [[ $NETWORK == bgp ]]; then wan_route "$1"; else overlay_entry "$3" "$2"; fi; }

# jq helper: jqr FILE FILTER
jqr() { jq -r "$2" "$1"; }

float_gt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }

# Fails if the guest kernel of VM $1 on site $2 reported a panic, an oops or a BUG: a migration
# that loses memory writes shows up here first. With a third argument `allow-soft-lockup`, the
# watchdog's "BUG: soft lockup" is not counted: a guest frozen for longer than 20 s (post-copy
# over a link cut that long, its vCPU waiting for a page) reports one when it runs again; it was
# stopped, not broken.
check_guest_kernel_clean() {
  local console bad="Kernel panic|Oops|BUG:|general protection|list_add corruption"
  console=$(console_of "$1" "$2")
  [[ -f $console ]] || fail "no console log $console"
  local lines
  lines=$(grep -E "$bad" "$console" || true)
  [[ ${3:-} == allow-soft-lockup ]] && lines=$(grep -v "BUG: soft lockup" <<<"$lines" || true)
  if [[ -n $lines ]]; then
    head -5 <<<"$lines" >&2
    fail "the guest kernel of $1 on $2 crashed (see its console above)"
  fi
  echo "ok: the guest kernel of $1 on $2 reported no panic, oops or BUG${3:+ (a soft lockup allowed)}"
}

# wait_console VM SITE PATTERN [SECONDS]: waits until the VM's console shows PATTERN.
wait_console() {
  wait_for_line "$(console_of "$1" "$2")" "$3" "${4:-60}"
}

# write_replay DIR SWITCH_MINUTE: replayed PV of sites a and b (a.csv, b.csv) on 2022-06-21,
# every 10 min for 4 h: a makes 4 kW until SWITCH_MINUTE, then b does.
write_replay() {
  local dir=$1 switch=$2 m t
  echo "time,power_w" >"$dir/a.csv"
  echo "time,power_w" >"$dir/b.csv"
  for ((m = 0; m <= 240; m += 10)); do
    t=$(printf '2022-06-21T%02d:%02d:00Z' $((m / 60)) $((m % 60)))
    if ((m < switch)); then
      echo "$t,4000" >>"$dir/a.csv"
      echo "$t,0" >>"$dir/b.csv"
    else
      echo "$t,0" >>"$dir/a.csv"
      echo "$t,4000" >>"$dir/b.csv"
    fi
  done
}

# write_service_head FILE SPEED [DWELL_HOURS]: the service's [service] and [policy] on lab
# $GREENSHIFT_LAB and sites a and b with the replayed PV of write_replay: auto mode, a loop every
# 10 min of replayed time, played SPEED times as fast, a minimum dwell of DWELL_HOURS (1). Hosts
# and VMs are the caller's to append.
write_service_head() {
  cat >"$1" <<TOML
[service]
port = 0
token = "integration-test-token-0123"
database = "greenshift.db"
mode = "auto"
period_s = 600
lab = "${GREENSHIFT_LAB:-}"
replay_start = "2022-06-21T00:00:00Z"
replay_speed = $2

[policy]
name = "greedy-forecast"
min_dwell_hours = ${3:-1}
horizon_hours = 1

[[sites]]
name = "a"
latitude = 50.1
longitude = 8.7
capacity_kw = 1
[[sites.sensors]]
name = "pv"
kind = "replay"
address = "a.csv"
capacity_kw = 5

[[sites]]
name = "b"
latitude = 51.5
longitude = -0.1
capacity_kw = 1
[[sites.sensors]]
name = "pv"
kind = "replay"
address = "b.csv"
capacity_kw = 5

TOML
}

# write_service_config FILE SPEED [DRIVER]: write_service_head, then hosts a1 and b1 on the lab's
# sites a and b (driver qemu, or libvirt under GREENSHIFT_HYPERVISOR=libvirt: the default) or
# without hypervisor (sim), and VM web (256 MiB) starting on a1, with the keys in $WEB_VM_KEYS
# added to it (its disk, say).
write_service_config() {
  local driver=${3:-$HV}
  local host_a='address = "a"' host_b='address = "b"'
  if [[ $driver == libvirt ]]; then
    # The sites' libvirt daemons, as `lab status --json` names them.
    local lab_json
    lab_json=$("$G" lab status --json)
    host_a=$(libvirt_host_keys a "$lab_json")
    host_b=$(libvirt_host_keys b "$lab_json")
  fi
  write_service_head "$1" "$2"
  cat >>"$1" <<TOML
[[hosts]]
name = "a1"
site = "a"
driver = "$driver"
$host_a

[[hosts]]
name = "b1"
site = "b"
driver = "$driver"
$host_b

[[vms]]
name = "web"
host = "a1"
memory_mib = 256
peak_w = 200
power_w = 100
downtime_budget_ms = 500
address = "198.18.128.10/16"
${WEB_VM_KEYS:-}
TOML
}

# libvirt_host_keys SITE LAB_JSON: a [[hosts]] entry's address, peer_uri and migration_uri.
libvirt_host_keys() {
  jq -r --arg s "$1" '.sites[] | select(.name == $s) | .libvirt |
    "address = \"\(.uri)\"\npeer_uri = \"\(.peer_uri)\"\nmigration_uri = \"\(.migration_uri)\""' <<<"$2"
}

# start_service CONFIG LOG: runs greenshift serve in the background (pid in SERVICE_PID) and
# waits until it listens (its URL in SERVICE_URL).
start_service() {
  # The log exists before the service starts: a loaded machine may not have forked it when the
  # loop below first reads it (a sed on a missing file ended the test under set -e).
  : >"$2"
  "$G" serve --config "$1" >>"$2" 2>&1 &
  SERVICE_PID=$!
  local deadline=$((SECONDS + 120))
  SERVICE_URL=""
  until [[ -n $SERVICE_URL ]]; do
    kill -0 "$SERVICE_PID" 2>/dev/null || { cat "$2" >&2; fail "greenshift serve exited"; }
    ((SECONDS < deadline)) || { cat "$2" >&2; fail "greenshift serve never listened"; }
    SERVICE_URL=$(sed -n 's|^dashboard at \(http://[0-9.:]*\)/.*|\1|p' "$2")
    sleep 0.2
  done
  echo "service at $SERVICE_URL (pid $SERVICE_PID)"
}

# wait_move STATE SECONDS: waits until the newest move of the service is in STATE.
wait_move() {
  local deadline=$((SECONDS + $2)) state=""
  until [[ $state == "$1" ]]; do
    ((SECONDS < deadline)) || fail "no move reached state '$1' (last: '$state')"
    state=$(curl -fsS "$SERVICE_URL/api/moves" | jq -r '.[0].state // ""')
    sleep 0.2
  done
}

# wait_http IP SECONDS: waits until the guest at IP answers HTTP from the lab's client.
wait_http() {
  local deadline=$((SECONDS + $2))
  until ip netns exec "$GREENSHIFT_LAB-client" curl -fsS -m 2 "http://$1/status" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "the guest at $1 never answered HTTP"
    sleep 0.5
  done
}
