#!/usr/bin/env bash
# End to end: greenshift serve in auto mode over a two-site lab, with a replayed day in which the
# green power moves from site a to site b. The service must live-migrate the VM to b by itself
# while `ab` loads it: 0 failed requests; the move, its reason and its measured downtime are in
# the API and in /metrics; the VM runs once, on b. The VM has a disk that lives on its site
# (storage "copy") and that its guest writes checksummed records to at 5 MB/s: the service starts
# it with its disk, the move copies the disk along (under libvirt: libvirt's copy into b's pool),
# and every record the guest acknowledged is on the disk afterwards.
# With an argument (bgp or vxlan), the two sites are routed (routed.sh) and the service moves the
# VM's address along: its traffic goes to b afterwards, where it goes to a before.
# Usage: service_follows_green.sh [bgp|vxlan]
source "$(dirname "$0")/lib.sh"
NETWORK=${1:-l2}
if [[ $NETWORK == l2 ]]; then use_lab it-svc; else use_lab "it-s$NETWORK"; fi

lab_up --sites 2 --network "$NETWORK"
cd "$TEST_TMP"
# 10 min of replayed time every 5 s: the switch at 60 min comes ~30 s after the start.
write_replay "$TEST_TMP" 60
WEB_VM_KEYS=$'disk_gib = 1\ndisk_used_gib = 0.25\ndisk_write_mb_s = 5\nstorage = "copy"'
write_service_config "$TEST_TMP/greenshift.toml" 120
if [[ $NETWORK != l2 ]]; then
  printf '\n[[links]]\na = "a"\nb = "b"\nnetwork = "%s"\n' "$NETWORK" >>"$TEST_TMP/greenshift.toml"
fi
start_service "$TEST_TMP/greenshift.toml" "$TEST_TMP/serve.log"
wait_http 198.18.128.10 90
MAC=$("$G" vm list --json | jq -r '.[] | select(.name == "web") | .mac')
if [[ $NETWORK != l2 ]]; then
  check "the network sends web's traffic to a, where the service started it ($(where 198.18.128.10 "$MAC" b))" \
    wait_at 198.18.128.10 "$MAC" a
fi
check "no move while a is the green site" test "$(curl -fsS "$SERVICE_URL/api/moves" | jq length)" = 0

# HTTP load for at most 90 s (or 1,000,000 requests), covering the move.
ip netns exec "$GREENSHIFT_LAB-client" ab -c 5 -t 90 -n 1000000 -s 10 "http://198.18.128.10/" \
  >"$TEST_TMP/ab.txt" 2>&1 &
ab_pid=$!
wait_move running 90
echo "the service started the migration: $(curl -fsS "$SERVICE_URL/api/moves" | jq -c '.[0] | {vm, from, to, reason}')"
wait_move completed 120
sleep 2
kill -INT "$ab_pid" 2>/dev/null || true  # ab prints its figures when interrupted
wait "$ab_pid" || true
grep -E "Complete requests|Failed requests|Non-2xx|Time taken" "$TEST_TMP/ab.txt" || true

curl -fsS "$SERVICE_URL/api/moves" >"$TEST_TMP/moves.json"
curl -fsS "$SERVICE_URL/metrics" >"$TEST_TMP/metrics.txt"
jq -c '.[0] | {id, vm, from, to, state, reason, downtime_ms}' "$TEST_TMP/moves.json"
grep -E "^greenshift_(migrations_total|last_migration|site_load|green_share)" "$TEST_TMP/metrics.txt"

completed=$(sed -n 's/^Complete requests: *//p' "$TEST_TMP/ab.txt")
failed=$(sed -n 's/^Failed requests: *//p' "$TEST_TMP/ab.txt")
check "ab completed requests during the move ($completed)" test "${completed:-0}" -gt 500
check "ab saw 0 failed requests" test "$failed" = 0
check "no non-2xx answers" bash -c "! grep -q Non-2xx '$TEST_TMP/ab.txt'"
check "exactly one move" test "$(jq length "$TEST_TMP/moves.json")" = 1
check "it moved web from a to b" test "$(jq -r '.[0] | "\(.vm) \(.from) \(.to) \(.state)"' "$TEST_TMP/moves.json")" = "web a b completed"
check "its reason is recorded" test -n "$(jq -r '.[0].reason' "$TEST_TMP/moves.json")"
check "its measured downtime is in the API" float_gt "$(jq -r '.[0].downtime_ms' "$TEST_TMP/moves.json")" 0
check "QEMU's own figures are kept with it" float_gt "$(jq -r '.[0].result.bytes' "$TEST_TMP/moves.json")" 1000000
check "/metrics counts the completed migration" grep -q '^greenshift_migrations_total{result="completed"} 1$' "$TEST_TMP/metrics.txt"
check "/metrics has its downtime" grep -q '^greenshift_last_migration_downtime_seconds [0-9.e-]*$' "$TEST_TMP/metrics.txt"
check "/metrics puts the load on b now" grep -q '^greenshift_site_load_watts{site="b"} 100$' "$TEST_TMP/metrics.txt"
check "the API says web runs on b" test "$(curl -fsS "$SERVICE_URL/api/vms" | jq -r '.[0].site')" = b
if [[ $NETWORK != l2 ]]; then
  check "the network sends web's traffic to b now ($(where 198.18.128.10 "$MAC" a))" \
    wait_at 198.18.128.10 "$MAC" b
fi
check "exactly one copy of it runs, on b" test "$("$G" vm list --json | jq -c '.[0].copies')" = '["b"]'
check "no QEMU of it is left on a" test "$(qemu_count web a)" = 0
DISKS=$("$G" lab status --json | jq -r .disk_dir)
check "the move copied the disk along" \
  float_gt "$(jq -r '.[0].result.disk.bytes' "$TEST_TMP/moves.json")" $((16 * 1024 * 1024))
check "the disk is on b, not on a" test -f "$DISKS/b/web.qcow2" -a ! -e "$DISKS/a/web.qcow2"
check "the guest writes its disk on b" float_gt "$(disk_acked 198.18.128.10)" 100
check_disk_clean web
kill -TERM "$SERVICE_PID"
wait "$SERVICE_PID"
check "the service stopped cleanly" grep -q "stopping" "$TEST_TMP/serve.log"
check_guest_kernel_clean web b
echo "PASS"
