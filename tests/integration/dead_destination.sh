#!/usr/bin/env bash
# A migration whose destination dies (QEMU killed mid-copy), or whose link goes down, fails
# cleanly: the result says why, the VM keeps running and serving on a throughout, nothing of it is
# left on b, and a later migration works.
source "$(dirname "$0")/lib.sh"
use_lab it-dead

"$G" lab up --sites 2
# A guest rewriting memory over a slow link takes seconds to migrate: time to kill the destination.
"$G" vm start web --site a --dirty-mb-s 20 --dirty-size-mib 64
IP=$("$G" vm list --json | jq -r '.[0].ip')
wait_console web a "gs-dirty: 64 MiB filled"
"$G" lab link a b --bandwidth-mbit 100

# HTTP load and pings throughout both failed attempts.
"$G" probe http "http://$IP/" -c 2 -n 1000000 --json >"$TEST_TMP/http.json" &
http_pid=$!
"$G" probe ping "$IP" --interval-ms 10 --duration-s 120 --json >"$TEST_TMP/ping.json" &
ping_pid=$!
sleep 1

# 1. The destination QEMU is killed while the memory is being copied.
migrate_killing_destination web b "$TEST_TMP/killed.json"
rc=$MIGRATE_RC
jq -c 'del(.events)' "$TEST_TMP/killed.json"
check "migrate exits non-zero when the migration failed" test "$rc" -ne 0
check "the result says failed" test "$(jqr "$TEST_TMP/killed.json" .status)" = failed
check "the error names the dead destination" \
  grep -q "destination QEMU on site b exited" <(jqr "$TEST_TMP/killed.json" .error)
check "the result says the VM still runs on a" test "$(jqr "$TEST_TMP/killed.json" .running_on)" = a
check "the VM is on a" test "$("$G" vm list --json | jq -r '.[0].site')" = a
check "it runs on a" test "$("$G" vm list --json | jq -r '.[0].state')" = running
check "no QEMU of it is left on b" test "$(qemu_count web b)" = 0
check "its tap on b is gone" bash -c "! ip netns exec $GREENSHIFT_LAB-b ip link show t-web 2>/dev/null"

# 2. The link goes down mid-copy: the migration times out and is cancelled.
"$G" migrate web --to b --live --json --quiet --timeout-s 6 >"$TEST_TMP/linkdown.json" &
migrate_pid=$!
sleep 1.5
"$G" lab link a b --down
rc=0
wait "$migrate_pid" || rc=$?
"$G" lab link a b --up
jq -c 'del(.events)' "$TEST_TMP/linkdown.json"
check "migrate exits non-zero after the link went down" test "$rc" -ne 0
check "the result says failed" test "$(jqr "$TEST_TMP/linkdown.json" .status)" = failed
check "the error says it did not finish in time" \
  grep -q "did not finish within" <(jqr "$TEST_TMP/linkdown.json" .error)
check "the VM still runs on a" test "$("$G" vm list --json | jq -c '.[0] | [.site, .state]')" = '["a","running"]'
check "no QEMU of it is left on b" test "$(qemu_count web b)" = 0

kill -TERM "$http_pid" "$ping_pid"
wait "$http_pid" || true
wait "$ping_pid" || true
jq -c . "$TEST_TMP/http.json" "$TEST_TMP/ping.json"
check "HTTP requests were served throughout" float_gt "$(jqr "$TEST_TMP/http.json" .completed)" 200
check "no HTTP request failed while the migrations failed" test "$(jqr "$TEST_TMP/http.json" .failed)" = 0
check "at most 3 pings lost throughout" test "$(jqr "$TEST_TMP/ping.json" .lost)" -le 3

# 3. Afterwards the VM migrates normally.
"$G" lab link a b --bandwidth-mbit 0
check_migrates_again web b
check_guest_kernel_clean web a
check_guest_kernel_clean web b
echo "PASS"
