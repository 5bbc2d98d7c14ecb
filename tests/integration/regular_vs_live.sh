#!/usr/bin/env bash
# Regular migration (stop, copy, start) works, and pauses the VM measurably longer than live
# migration of the same VM over the same link. The guest holds 128 MiB of non-zero memory (its
# dirty workload's buffer, written once), which live migration copies while the VM runs and
# regular migration copies while it is stopped.
source "$(dirname "$0")/lib.sh"
use_lab it-reg

"$G" lab up --sites 2
"$G" vm start web --site a --memory 384 --dirty-size-mib 128
IP=$("$G" vm list --json | jq -r '.[0].ip')
wait_console web a "gs-dirty: 128 MiB filled"
read -r uptime0 _ < <(guest_status "$IP")

"$G" migrate web --to b --live --json --quiet >"$TEST_TMP/live.json"
read -r uptime1 _ < <(guest_status "$IP")
"$G" migrate web --to a --offline --json --quiet >"$TEST_TMP/offline.json"
read -r uptime2 _ < <(guest_status "$IP")
jq -c 'del(.events)' "$TEST_TMP/live.json" "$TEST_TMP/offline.json"

check "live migration completed" test "$(jqr "$TEST_TMP/live.json" .status)" = completed
check "regular migration completed" test "$(jqr "$TEST_TMP/offline.json" .status)" = completed
check "regular migration reports mode offline" test "$(jqr "$TEST_TMP/offline.json" .mode)" = offline
live=$(jqr "$TEST_TMP/live.json" .paused_ms)
offline=$(jqr "$TEST_TMP/offline.json" .paused_ms)
check "regular migration copied the guest's memory (bytes)" \
  float_gt "$(jqr "$TEST_TMP/offline.json" .bytes)" $((128 * 1024 * 1024))
check "regular migration paused the VM longer: $offline ms vs $live ms live" \
  awk -v o="$offline" -v l="$live" 'BEGIN { exit !(o > 2 * l && o - l > 30) }'
check "the VM is back on a" test "$("$G" vm list --json | jq -r '.[0].site')" = a
check "only one copy runs" test "$("$G" vm list --json | jq -c '.[0].copies')" = '["a"]'
check "no QEMU of it is left on b" test "$(qemu_count web b)" = 0
check "the same guest kept running through both (uptime $uptime0 -> $uptime1 -> $uptime2)" \
  awk -v a="$uptime0" -v b="$uptime1" -v c="$uptime2" 'BEGIN { exit !(a < b && b < c) }'
check_guest_kernel_clean web a
echo "PASS"
