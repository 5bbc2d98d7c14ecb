#!/usr/bin/env bash
# Three VMs, one per protocol a disk may be shared over (the lab's storage namespace: NBD from
# qemu-storage-daemon, iSCSI from tgtd, NFS from nfs-ganesha), each writing checksummed records
# at 1 MB/s, live-migrate from a to b while HTTP is served: each migration completes without
# copying a disk (the domain's network disk stays where it is), every acknowledged record is on
# the disk afterwards, no request fails, each VM runs once, on b, and neither site holds an image
# of it. Each storage server killed during its VM's migration: it fails, the VM stays (over
# iSCSI and NFS its source QEMU waits for its disk, and libvirt with it: the driver gives up on
# it); the server back, the VM writes again. Back to a, then stopped: the shared image goes with
# the VM.
# Run as libvirt.storage_shared (the sites' libvirt daemons, the VMs' disks as <disk
# type='network'>); the qemu driver's shared storage has a test per protocol with timing
# (storage_shared.sh). This one runs beside another test, so it checks no timing.
source "$(dirname "$0")/lib.sh"
use_lab it-shall

lab_up --sites 2 --storage
DISKS=$("$G" lab status --json | jq -r .disk_dir)
MODES=(nbd iscsi nfs)
for mode in "${MODES[@]}"; do
  check "the $mode server runs" float_gt "$(storage_server_pid "$mode")" 0
  "$G" vm start "w$mode" --site a --disk-gib 1 --storage "$mode" --disk-mb-s 1 --disk-fill-mib 32
done
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
  wait_acked_past "$IP" $((acked_before + 100))
  check "$vm: the guest went on writing its disk on b" \
    test "$(disk_acked "$IP")" -gt $((acked_before + 100))
  check_disk_clean "$vm"
  check "$vm runs once, on b" test "$(site_of "$vm")" = '["b"]'
  check "no QEMU of $vm is left on a" test "$(qemu_count "$vm" a)" = 0
  check "no image of $vm on either site" test ! -e "$DISKS/a/$vm.qcow2" -a ! -e "$DISKS/b/$vm.qcow2"
done

# Each storage server killed while its VM's memory is copied b -> a: the migration fails and the
# VM stays on b. Over NBD QEMU's client fails the disk's requests at once, so the switchover's
# flush fails and the migration with it. Over iSCSI and NFS the source QEMU waits for its disk
# at the switchover, and libvirt waits for QEMU (its job answers no question): the driver gives
# up on the silent source after 10 s, destroys the incoming copy on a, and returns; the guest
# stays paused on b until its disk answers. `lab up` brings the server back; the guest runs
# and writes again, no acknowledged record lost.
for mode in "${MODES[@]}"; do
  check_storage_server_killed "w$mode" b a "$mode"
done

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
