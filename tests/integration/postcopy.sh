#!/usr/bin/env bash
# A hot guest (256 MiB, rewriting 96 MiB at 50 MB/s) over a 100 Mbit/s link cannot converge by
# pre-copy: every pass has its 96 MiB to send again. With --postcopy greenshift sees that pre-copy
# is stuck and switches to post-copy: the migration completes, under `ab -c 5 -n 10000` (started as
# the switch nears and stopped 2 s after the migration, so it spans it) and 10 ms pings, with 0
# failed requests, the pause and the vCPUs' blocktime reported. Then, back, the link is cut for 4 s
# during post-copy: the migration pauses, resumes over a new connection once the link works, and
# completes; the guest did not reboot, its kernel is clean, it serves HTTP. A migration whose caller
# is SIGKILLed in post-copy is seen through by `vm recover` on the destination (the source is never
# resumed). Without --postcopy the same guest fails by the timeout and stays on its source.
# Under libvirt (GREENSHIFT_HYPERVISOR=libvirt) the same, except that a cut link is ridden out by
# the migration's own connection rather than paused and resumed (a stall of its push, recovered
# from when it moves again; libvirt reports no blocktime), and more: a cut longer than the
# daemons' keepalive (their connection closes, libvirt's call fails) still ends with the VM
# moved, greenshift following it. Under both, a cancel in post-copy is refused.
source "$(dirname "$0")/lib.sh"
use_lab it-pc

lab_up --sites 2
"$G" lab link a b --bandwidth-mbit 100
"$G" vm start hot --site a --memory 256 --dirty-mb-s 50 --dirty-size-mib 96
IP=$("$G" vm list --json | jq -r '.[0].ip')
read -r uptime_before _ < <(guest_status "$IP")

# 1. Pre-copy only: stuck, it gives up at its timeout and the VM stays on a. (Through libvirt it
# is given 40 s: beside another test in CI its third pass once began just before 25 s, too late
# to have sent anything again.)
stuck_s=25
[[ $HV == libvirt ]] && stuck_s=40
"$G" migrate hot --to b --live --timeout-s $stuck_s --json --quiet >"$TEST_TMP/stuck.json" || true
jq -c 'del(.events)' "$TEST_TMP/stuck.json"
check "pre-copy alone does not move the hot guest" test "$(jqr "$TEST_TMP/stuck.json" .status)" = failed
check "it stays on a" test "$("$G" vm list --json | jq -c '.[0] | [.site, .state]')" = '["a","running"]'
# The pages it sent again from the third pass on (XBZRLE: the guest changes one word a page),
# which the cost model learns from, said by a failed move too.
check "a failed pre-copy says what its pages sent again cost ($(jqr "$TEST_TMP/stuck.json" \
  '"\(.resent_wire_bytes) of \(.resent_page_bytes) bytes"'))" \
  test "$(jqr "$TEST_TMP/stuck.json" '.resent_page_bytes > 0 and .resent_wire_bytes > 0 and
    .resent_wire_bytes < .resent_page_bytes and .resent_wire_bytes <= .bytes')" = true

# 2. With post-copy, under load.
"$G" probe ping "$IP" --interval-ms 10 --duration-s 120 --json >"$TEST_TMP/ping.json" &
ping_pid=$!
"$G" migrate hot --to b --live --postcopy --json >"$TEST_TMP/pc.json" 2>"$TEST_TMP/pc.err" &
migrate_pid=$!
wait_for_line "$TEST_TMP/pc.err" "pass 3" 120
load_start "$IP"
wait "$migrate_pid" || fail "the post-copy migration failed: $(tail -3 "$TEST_TMP/pc.err")"
jq -c 'del(.events)' "$TEST_TMP/pc.json"
load_end 2  # 0 failed requests, ab answered until 2 s after the migration
kill -TERM "$ping_pid"
wait "$ping_pid" || true
jq -c . "$TEST_TMP/ping.json"
check "the migration completed" test "$(jqr "$TEST_TMP/pc.json" .status)" = completed
check "it switched to post-copy ($(jqr "$TEST_TMP/pc.json" .postcopy.reason))" \
  test "$(jqr "$TEST_TMP/pc.json" '.postcopy != null')" = true
if [[ $HV == qemu ]]; then  # libvirt does not report it
  check "the vCPUs' blocktime is reported ($(jqr "$TEST_TMP/pc.json" .postcopy.blocktime_ms) ms)" \
    float_gt "$(jqr "$TEST_TMP/pc.json" '.postcopy.blocktime_ms // -1')" 0
fi
check "the guest's pause is reported ($(jqr "$TEST_TMP/pc.json" .paused_ms) ms)" \
  float_gt "$(jqr "$TEST_TMP/pc.json" '.paused_ms // -1')" 0
check "the VM runs once, on b" test "$("$G" vm list --json | jq -c '.[0].copies')" = '["b"]'
# Its source QEMU had sent pages again in the failed try: QEMU counts on across migrations, the
# driver counts this one's from its third pass (to the switch, moments later: far less than the
# failed try's passes 3 and 4).
pc_resent=$(jqr "$TEST_TMP/pc.json" '.resent_page_bytes // -1')
check "the pages sent again are this migration's ($pc_resent bytes, the failed try's \
$(jqr "$TEST_TMP/stuck.json" .resent_page_bytes))" \
  test "$(jq -n --argjson pc "$pc_resent" --slurpfile stuck "$TEST_TMP/stuck.json" \
    '$pc >= 0 and $pc < $stuck[0].resent_page_bytes')" = true

# cut_in_postcopy TO SECONDS NAME [check-cancel]: moves the guest to TO with post-copy allowed and
# cuts the link for SECONDS once post-copy runs (check-cancel: first checks that a cancel then is
# refused); checks that the move completed after recovering from the broken link, the VM once on
# TO, the guest serving HTTP without a reboot since $uptime_after (then updated).
cut_in_postcopy() {
  local to=$1 seconds=$2 name=$3 pid uptime cancel_out
  "$G" migrate hot --to "$to" --live --postcopy --json >"$TEST_TMP/$name.json" \
    2>"$TEST_TMP/$name.err" &
  pid=$!
  wait_for_line "$TEST_TMP/$name.err" "post-copy" 120
  if [[ ${4:-} == check-cancel ]]; then
    # There is no way back: the driver says so (rather than asking libvirt, or sending QEMU a
    # migrate_cancel that would race the switch).
    cancel_out=$("$G" migrate hot --cancel 2>&1) && fail "a cancel in post-copy was accepted"
    check "a cancel in post-copy is refused ($cancel_out)" grep -q "is in post-copy" <<<"$cancel_out"
  fi
  sleep 1
  "$G" lab link a b --down
  sleep "$seconds"
  "$G" lab link a b --up
  wait "$pid" || fail "the post-copy migration over a $seconds s cut failed: $(tail -3 "$TEST_TMP/$name.err")"
  jq -c 'del(.events)' "$TEST_TMP/$name.json"
  check "over a $seconds s cut it completed" test "$(jqr "$TEST_TMP/$name.json" .status)" = completed
  check "after recovering from the broken link" \
    test "$(jqr "$TEST_TMP/$name.json" '.postcopy.recoveries')" -ge 1
  check "the VM runs once, on $to" test "$("$G" vm list --json | jq -c '.[0].copies')" = "[\"$to\"]"
  read -r uptime _ < <(guest_status "$IP")
  check "the guest serves HTTP and did not reboot (uptime $uptime_after -> $uptime s)" \
    float_gt "$uptime" "$uptime_after"
  uptime_after=$uptime
}

# 3. Back to a, the link cut for 4 s once post-copy runs (the qemu driver pauses and resumes the
# migration, libvirt's rides the cut out).
uptime_after=$uptime_before
cut_in_postcopy a 4 cut check-cancel
# 3b. Under libvirt, to b, the link cut for 40 s: longer than libvirt's keepalive between the
# daemons (5 s x 5), whose connection closes; libvirt's call fails and marks the source
# "post-copy failed", but QEMU's own connection carries on when the link returns, and the driver
# follows the destination (measured 2026-12-04: the call failed 25 s into the cut, the move
# completed 86 s after it began).
[[ $HV == libvirt ]] && cut_in_postcopy b 40 long

# 4. The caller SIGKILLed in post-copy: `vm recover` sees it through on the destination (b, or
# under libvirt a: 3b left the VM on b).
to=b
[[ $HV == libvirt ]] && to=a
"$G" migrate hot --to $to --live --postcopy --json >/dev/null 2>"$TEST_TMP/killed.err" &
migrate_pid=$!
wait_for_line "$TEST_TMP/killed.err" "post-copy" 120
kill -KILL "$migrate_pid"
wait "$migrate_pid" 2>/dev/null || true
"$G" vm recover hot
check "recover kept the destination, $to" \
  test "$("$G" vm list --json | jq -c '.[0] | [.site, .state, .copies]')" = "[\"$to\",\"running\",[\"$to\"]]"
read -r uptime_end _ < <(guest_status "$IP")
check "the guest still did not reboot (uptime $uptime_end s)" float_gt "$uptime_end" "$uptime_after"
# The 40 s freeze of 3b may make the guest's watchdog report a soft lockup once it runs again.
allow=""
[[ $HV == libvirt ]] && allow=allow-soft-lockup
check_guest_kernel_clean hot a $allow
check_guest_kernel_clean hot b $allow
echo "PASS"
