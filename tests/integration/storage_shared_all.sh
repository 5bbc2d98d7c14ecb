#!/usr/bin/env bash
# Three VMs, one per protocol a disk may be shared over (the lab's storage namespace: NBD from
# qemu-storage-daemon, iSCSI from tgtd, NFS from nfs-ganesha), each writing checksummed records
# at 1 MB/s, live-migrate from a to b while HTTP is served: each migration completes without
# copying a disk (the domain's network disk stays where it is), every acknowledged record is on
# the disk afterwards, no request fails, each VM runs once, on b, and neither site holds an image
# of it. The NBD server killed during a migration: it fails, the VM stays; the server back, it
# writes again. Back to a, then stopped: the shared image goes with the VM.
# Run as libvirt.storage_shared (the sites' libvirt daemons, the VMs' disks as <disk
# type='network'>); the qemu driver's shared storage has a test per protocol with timing
# (storage_shared.sh). This one runs beside another test, so it checks no timing.
source "$(dirname "$0")/lib.sh"
use_lab it-shall

lab_up --sites 2 --storage
DISKS=$("$G" lab status --json | jq -r .disk_dir)
MODES=(nbd iscsi nfs)
for mode in "${MODES[@]}"; do
  check "the $mode server runs" float_gt "$("$G" lab status --json | jq -r ".storage.servers.$mode.pid")" 0
  "$G" vm start "w$mode" --site a --disk-gib 1 --storage "$mode" --disk-mb-s 1 --disk-fill-mib 32
done
ip_of() { "$G" vm list --json | jq -r --arg n "$1" '.[] | select(.name == $n) | .ip'; }
site_of() { "$G" vm list --json | jq -c --arg n "$1" '.[] | select(.name == $n) | .copies'; }
image_of() { echo "$DISKS/storage/$1/w$1.$([[ $1 == iscsi ]] && echo img || echo qcow2)"; }
for mode in "${MODES[@]}"; do
  wait_console "w$mode" a "gs-disk: 32 MiB filled" 120
  check "the disk of w$mode is on the shared storage" test -f "$(image_of "$mode")"
  check "no image of w$mode on site a" test ! -e "$DISKS/a/w$mode.qcow2"
done

for mode in "${MODES[@]}"; do
  vm=w$mode
  IP=$(ip_of "$vm")
  acked_before=$(disk_acked "$IP")
  "$G" probe http "http://$IP/" -c 2 -n 1000000 --json >"$TEST_TMP/http-$mode.json" &
  http_pid=$!
  sleep 1
  M="$TEST_TMP/migration-$mode.json"
  "$G" migrate "$vm" --to b --live --json --quiet >"$M" || true
  sleep 1
  kill -TERM "$http_pid"
  wait "$http_pid" || true
  jq -c 'del(.events)' "$M"
  jq -c . "$TEST_TMP/http-$mode.json"
  check "$vm: the migration completed" test "$(jqr "$M" .status)" = completed
  check "$vm: no disk was copied (the disk is shared over $mode)" test "$(jqr "$M" .disk)" = null
  check "$vm: HTTP requests were served through the move" \
    float_gt "$(jqr "$TEST_TMP/http-$mode.json" .completed)" 50
  check "$vm: no HTTP request failed" test "$(jqr "$TEST_TMP/http-$mode.json" .failed)" = 0
  for _ in $(seq 100); do
    (($(disk_acked "$IP") > acked_before + 100)) && break
    sleep 0.2
  done
  check "$vm: the guest went on writing its disk on b" \
    test "$(disk_acked "$IP")" -gt $((acked_before + 100))
  check_disk_clean "$vm"
  check "$vm runs once, on b" test "$(site_of "$vm")" = '["b"]'
  check "no QEMU of $vm is left on a" test "$(qemu_count "$vm" a)" = 0
  check "no image of $vm on either site" test ! -e "$DISKS/a/$vm.qcow2" -a ! -e "$DISKS/b/$vm.qcow2"
done

# The NBD server killed while wnbd's memory is copied (100 Mbit/s: seconds of copy): QEMU's NBD
# client fails the disk's requests at once, so the switchover's flush fails and the migration
# with it; the VM runs on, on b. (Over iSCSI and NFS the source waits for its disk instead, and
# libvirt's job with it: the qemu driver's storage_shared.sh covers those.) `lab up` brings the
# server back and the guest writes again, no acknowledged record lost.
server_pid() { "$G" lab status --json | jq -r .storage.servers.nbd.pid; }
IP=$(ip_of wnbd)
"$G" lab link a b --bandwidth-mbit 100
"$G" migrate wnbd --to a --live --json >"$TEST_TMP/killed.json" 2>"$TEST_TMP/killed.err" &
migrate_pid=$!
wait_for_line "$TEST_TMP/killed.err" " copying "
sleep 1
kill -KILL "$(server_pid)"
rc=0
wait "$migrate_pid" || rc=$?
jq -c 'del(.events)' "$TEST_TMP/killed.json"
check "migrate fails" test "$rc" -ne 0
check "the result says wnbd stays on b" test "$(jqr "$TEST_TMP/killed.json" .running_on)" = b
check "wnbd runs once, on b" test "$(site_of wnbd)" = '["b"]'
check "no QEMU of wnbd is left on a" test "$(qemu_count wnbd a)" = 0
lab_up --sites 2 --storage
check "lab up started the NBD server again" float_gt "$(server_pid)" 0
acked_down=$(disk_acked "$IP")
for _ in $(seq 100); do
  (($(disk_acked "$IP") > acked_down + 20)) && break
  sleep 0.2
done
check "wnbd writes its disk again once the server is back" \
  test "$(disk_acked "$IP")" -gt $((acked_down + 20))
check_disk_clean wnbd
"$G" lab link a b --bandwidth-mbit 0

for mode in "${MODES[@]}"; do
  vm=w$mode
  "$G" migrate "$vm" --to a --live --json --quiet >"$TEST_TMP/back-$mode.json"
  check "$vm: the migration back completed" test "$(jqr "$TEST_TMP/back-$mode.json" .status)" = completed
  check "$vm runs once, on a" test "$(site_of "$vm")" = '["a"]'
  check_disk_clean "$vm"
  check_guest_kernel_clean "$vm" a
  check_guest_kernel_clean "$vm" b
  "$G" vm stop "$vm"
  check "$vm's shared image went with it" test ! -e "$(image_of "$mode")"
done
echo "PASS"
