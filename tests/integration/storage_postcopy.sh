#!/usr/bin/env bash
# A VM whose disk moves with it (storage "copy") and whose guest writes it at 5 MB/s and rewrites
# 32 MiB of its memory at 50 MB/s, over a 100 Mbit/s link: pre-copy cannot converge (the 32 MiB
# take 2.7 s to send and are rewritten in 0.7 s), so with --postcopy greenshift switches to
# post-copy once the disk has caught up, ending the disk's mirror at the pause before the switch.
# Under `ab -c 5` (stopped 2 s after the migration) and 10 ms pings: the migration completes by
# post-copy, 0 HTTP failures, the guest paused under 80 ms, stopping it (QEMU's flush of
# the disks) under 20 ms as the destination's image was kept synced, every record the
# guest acknowledged on its disk afterwards (0 missing, 0 torn), nothing left on the source, no
# NBD export open, the disk's copy measuring the link's rate. Back (untimed; the disk over
# 300 Mbit/s, the memory over 100), the images of source and destination compare identical at
# the switch. Then the caller is killed at the pause before the switch: `vm recover` keeps the
# VM on its source, its disk whole, and a later migration completes.
# Under libvirt (libvirt.storage_postcopy) libvirt copies the disk and ends its mirror at the
# pause before the switch: the guest writing 1 MB/s, the same moves there and back by
# post-copy, every acknowledged record on the disk, the images moved; under HTTP load without
# timing it (this test runs beside another one), no comparison of the images (the qemu
# driver's). Then the caller is killed in post-copy: `vm recover` waits for the VM to have all
# of its memory on b and removes its image on a.
source "$(dirname "$0")/lib.sh"
use_lab it-pcd

lab_up --sites 2
"$G" lab link a b --bandwidth-mbit 100
# Under libvirt the guest writes its disk at 1 MB/s: its memory alone keeps pre-copy from
# converging, and at 5 MB/s the disk it fills made the three copies take 12, 44 and 92 s.
disk_mb_s=5
[[ $HV == libvirt ]] && disk_mb_s=1
"$G" vm start web --site a --disk-gib 1 --disk-mb-s "$disk_mb_s" --disk-fill-mib 64 \
  --dirty-mb-s 50 --dirty-size-mib 32
IP=$("$G" vm list --json | jq -r '.[0].ip')
wait_console web a "gs-disk: 64 MiB filled"
DISKS=$("$G" lab status --json | jq -r .disk_dir)
acked_before=$(disk_acked "$IP")

if [[ $HV == libvirt ]]; then
  M="$TEST_TMP/migration.json"
  "$G" probe http "http://$IP/" -c 2 -n 1000000 --json >"$TEST_TMP/http.json" &
  http_pid=$!
  sleep 1
  "$G" migrate web --to b --live --postcopy --json --quiet >"$M"
  sleep 1
  kill -TERM "$http_pid"
  wait "$http_pid" || true
  jq -c 'del(.events)' "$M"
  jq -c . "$TEST_TMP/http.json"
  check "the migration completed" test "$(jqr "$M" .status)" = completed
  check "it switched to post-copy ($(jqr "$M" .postcopy.reason))" \
    test "$(jqr "$M" '.postcopy != null')" = true
  check "the disk was copied first (64 MiB at least)" \
    float_gt "$(jqr "$M" .disk.bytes)" $((64 * 1024 * 1024))
  check "the disk had caught up before the memory's copy began" \
    float_gt "$(jqr "$M" .disk.copy_ms)" 0
  check "HTTP requests were served through the move" \
    float_gt "$(jqr "$TEST_TMP/http.json" .completed)" 50
  check "no HTTP request failed" test "$(jqr "$TEST_TMP/http.json" .failed)" = 0
  check "nothing of the disk was left behind" test -z "$(jqr "$M" '.disk.left_behind // ""')"
  check_moved_writing "$IP" web a b "$acked_before"
  check "its image on a is gone (the disk moved)" test ! -e "$DISKS/a/web.qcow2"
  check "its image is on b" test -f "$DISKS/b/web.qcow2"
  check "no NBD export is left listening on b" no_nbd_listening b

  "$G" migrate web --to a --live --postcopy --json --quiet >"$TEST_TMP/back.json"
  jq -c 'del(.events)' "$TEST_TMP/back.json"
  check "the migration back completed" test "$(jqr "$TEST_TMP/back.json" .status)" = completed
  check "by post-copy" test "$(jqr "$TEST_TMP/back.json" '.postcopy != null')" = true
  check "its image on b is gone" test ! -e "$DISKS/b/web.qcow2"
  check_disk_clean web

  # The caller killed in post-copy: the guest runs on b, part of its memory still on a, and
  # nothing can go back. `vm recover` waits for the rest, then removes the image on a (the VM's
  # disk-copy mark says which host's copy is stale).
  "$G" migrate web --to b --live --postcopy --json >/dev/null 2>"$TEST_TMP/killed.err" &
  migrate_pid=$!
  wait_for_line "$TEST_TMP/killed.err" " post-copy " 180
  kill -KILL "$migrate_pid"
  wait "$migrate_pid" 2>/dev/null || true
  check "the killed caller left the VM migrating" \
    test "$("$G" vm list --json | jq -r '.[0].state')" = migrating
  "$G" vm recover web --timeout-s 120
  check "recover saw it through to b" \
    test "$("$G" vm list --json | jq -c '.[0] | [.site, .state, .copies]')" = '["b","running",["b"]]'
  check "no QEMU of it is left on a" test "$(qemu_count web a)" = 0
  check "its image on a is gone" test ! -e "$DISKS/a/web.qcow2"
  check "its image is on b" test -f "$DISKS/b/web.qcow2"
  acked=$(disk_acked "$IP")
  wait_acked_past "$IP" $((acked + 20))
  check "it writes its disk on b" test "$(disk_acked "$IP")" -gt $((acked + 20))
  check_disk_clean web
  check_guest_kernel_clean web a
  check_guest_kernel_clean web b
  echo "PASS"
  exit 0
fi

RECORDS="$GREENSHIFT_RUN_DIR/$GREENSHIFT_LAB/vms"  # the qemu driver's records of its VMs

M="$TEST_TMP/migration.json"
MIGRATE_OPTIONS=(--postcopy)
migrate_under_load "$IP" web b 8 2
check "the migration completed" test "$(jqr "$M" .status)" = completed
check "it switched to post-copy ($(jqr "$M" .postcopy.reason))" \
  test "$(jqr "$M" '.postcopy != null')" = true
check "the disk was copied first (64 MiB at least)" \
  float_gt "$(jqr "$M" .disk.bytes)" $((64 * 1024 * 1024))
# What the disk's copy measured of the link, which greenshift tells QEMU the switchover will
# have: 100 Mbit/s (12.5 MB/s, 12.0 of it the copy's data, measured), not the 9.0 MB/s read
# when it was the median of each 100 ms reading (one 1 MiB request, or two, in each).
rate=$(jqr "$M" '.disk.rate_bytes_s // -1')
check "the disk's copy measured the link's 12.5 MB/s to within 20 % ($rate bytes/s)" \
  awk -v r="$rate" 'BEGIN { exit !(r > 0.8 * 12.5e6 && r < 1.2 * 12.5e6) }'
paused=$(jqr "$M" '.paused_ms // -1')
check "the guest paused under 80 ms ($paused ms)" \
  awk -v p="$paused" 'BEGIN { exit !(p >= 0 && p < 80) }'
# How the pause was spent on a, from the migration's events: stopping the guest (QEMU drains
# and flushes its disks as it stops it, the destination's image among them, which greenshift
# keeps synced during the copy: 7-11 ms measured, 27-34 ms when it was not), then ending the
# disk's copy, then the switch to post-copy and the start on b.
on_a() { jq "[.events[] | select(.host == \"a\")] | map(select($1)) | first.at_ms" "$M"; }
stopped=$(on_a '.event == "paused"')
switchover=$(on_a '.event == "phase" and .detail == "switchover"')
disk_switched=$(on_a '.event == "disk-switched"')
stopping=$(awk -v a="$stopped" -v b="$switchover" 'BEGIN { printf "%.1f", b - a }')
ending=$(awk -v a="$switchover" -v b="$disk_switched" 'BEGIN { printf "%.1f", b - a }')
check "stopping the guest took under 20 ms ($stopping ms; ending the disk's copy $ending ms)" \
  awk -v a="$stopped" -v b="$switchover" -v c="$disk_switched" \
  'BEGIN { exit !(a != "null" && b != "null" && c != "null" && b >= a && b - a < 20 && c >= b) }'
check "nothing of the disk was left behind" test -z "$(jqr "$M" '.disk.left_behind // ""')"
check_moved_writing "$IP" web a b "$acked_before"
check "its image on a is gone (the disk moved)" test ! -e "$DISKS/a/web.qcow2"
check "its image is on b" test -f "$DISKS/b/web.qcow2"
check "no NBD export is left listening on b" no_nbd_listening b

# The moves that follow are not timed. Their disk, by now written all over (its records fill it
# round), copies over 300 Mbit/s in a third of the time it took at 100 (the last copy took 100 s
# there). Their memory goes over 100, where pre-copy cannot converge and the switch to post-copy
# is sure: over 300 the 32 MiB rewritten at 50 MB/s nearly converge (pass 3 began with 85 % of
# what pass 2 began with in one run, and the switch comes at 80 %), and once in CI a pass sent
# compressed caught up and the pause came with no switch asked for.
"$G" lab link a b --bandwidth-mbit 300
# Narrows the link to 100 Mbit/s once the caller's progress lines (file $1) show the memory's
# copy begun.
memory_over_100_mbit() {
  wait_for_line "$1" " copying " 300
  "$G" lab link a b --bandwidth-mbit 100
}

# Back to a, still writing: the images compared at the pause before the switch.
"$G" migrate web --to a --live --postcopy --compare-disks --json >"$TEST_TMP/back.json" \
  2>"$TEST_TMP/back.err" &
back_pid=$!
memory_over_100_mbit "$TEST_TMP/back.err"
wait "$back_pid" || true
"$G" lab link a b --bandwidth-mbit 300
jq -c 'del(.events)' "$TEST_TMP/back.json"
check "the migration back completed" test "$(jqr "$TEST_TMP/back.json" .status)" = completed
check "by post-copy" test "$(jqr "$TEST_TMP/back.json" '.postcopy != null')" = true
check "source and destination disks were identical at the switch" \
  test "$(jqr "$TEST_TMP/back.json" .disk.compare_at_switchover)" = identical
check "its image on b is gone" test ! -e "$DISKS/b/web.qcow2"
check_disk_clean web

# The caller killed at the pause before the switch (the switch asked for, the mirror ended, the
# images being compared): the guest never ran on b, so `vm recover` keeps it on a, whole.
"$G" migrate web --to b --live --postcopy --compare-disks --json >/dev/null \
  2>"$TEST_TMP/killed.err" &
migrate_pid=$!
memory_over_100_mbit "$TEST_TMP/killed.err"
for _ in $(seq 12000); do
  pgrep -f "qemu-img compare -U $DISKS/" >/dev/null && break
  sleep 0.01
done
pgrep -f "qemu-img compare -U $DISKS/" >/dev/null || fail "the images were never compared"
kill -KILL "$migrate_pid"
wait "$migrate_pid" 2>/dev/null || true
check "the switch to post-copy had been asked for (the VM's record says so)" \
  test "$(jq -r .postcopy "$RECORDS/web.json")" = true
"$G" vm recover web --timeout-s 5
check "recover kept the source, a" \
  test "$("$G" vm list --json | jq -c '.[0] | [.site, .state, .copies]')" = '["a","running",["a"]]'
check "no QEMU of it is left on b" test "$(qemu_count web b)" = 0
check "its image on b is gone" test ! -e "$DISKS/b/web.qcow2"
acked=$(disk_acked "$IP")
wait_acked_past "$IP" $((acked + 20))
check "it writes its disk on a" test "$(disk_acked "$IP")" -gt $((acked + 20))
check_disk_clean web
"$G" lab link a b --bandwidth-mbit 0  # the disk has grown by the writes: the last copy unshaped
check_migrates_again web b
check_guest_kernel_clean web a
check_guest_kernel_clean web b
echo "PASS"
