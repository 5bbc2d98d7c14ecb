#!/usr/bin/env bash
# The talk's experiment: a VM serving HTTP live-migrates from site a to site b while the client
# pings it every 10 ms and runs the real `ab -c 5 -n 10000` against it.
# Must hold: 0 failed requests, at most 3 pings lost, the VM answers from b afterwards (same
# uptime, same request counter going on), and no QEMU of it is left on a.
source "$(dirname "$0")/lib.sh"
use_lab it-live

lab_up --sites 2
"$G" vm start web --site a --memory 256
IP=$("$G" vm list --json | jq -r '.[] | select(.name == "web") | .ip')
read -r uptime_before requests_before < <(guest_status "$IP")

# Pings every 10 ms and `ab`, checked there: 10000 requests, 0 failed, at most 3 pings lost.
migrate_under_load "$IP" web b
M="$TEST_TMP/migration.json"
check "migration completed" test "$(jqr "$M" .status)" = completed
check "the result says the VM runs on b" test "$(jqr "$M" .running_on)" = b
check "result names vm, from, to, mode" \
  test "$(jqr "$M" '"\(.vm) \(.from) \(.to) \(.mode)"')" = "web a b live"
check "QEMU reported a downtime" float_gt "$(jqr "$M" .downtime_ms)" 0
check "paused time measured from STOP/RESUME events" float_gt "$(jqr "$M" .paused_ms)" 0
check "bytes were sent" float_gt "$(jqr "$M" .bytes)" 1000000
check "at least one pass" float_gt "$(jqr "$M" .passes)" 0
# The neutral timeline: the guest paused on a and resumed on b, the migration's phases in order.
timeline=$(jqr "$M" '[.events[] | select(.event == "paused" or .event == "resumed")
                          | "\(.event)@\(.host)"] | join(" ")')
echo "timeline: $timeline"
check "the timeline shows the guest paused on a" grep -q "paused@a" <<<"$timeline"
check "the timeline shows the guest resumed on b" grep -q "resumed@b" <<<"$timeline"
check "the phases end in completed" \
  test "$(jqr "$M" '[.events[] | select(.event == "phase") | .detail] | last')" = completed
check "the hypervisor's own status is kept" test "$(jqr "$M" .hypervisor_status)" = completed

check "the VM is on b" test "$("$G" vm list --json | jq -r '.[0].site')" = b
check "exactly one copy of it runs" test "$("$G" vm list --json | jq -c '.[0].copies')" = '["b"]'
check "no QEMU of it is left on a" test "$(qemu_count web a)" = 0
check "one QEMU of it runs on b" test "$(qemu_count web b)" = 1

read -r uptime_after requests_after < <(guest_status "$IP")
check "the same guest answers from b (uptime $uptime_before -> $uptime_after)" \
  float_gt "$uptime_after" "$uptime_before"
check "its request counter went on ($requests_before -> $requests_after)" \
  test "$requests_after" -ge $((requests_before + 10000))
check_guest_kernel_clean web b
echo "PASS"
