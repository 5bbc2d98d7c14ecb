#!/usr/bin/env bash
# Migration of a VM with a disk on a link shaped to 100 Mbit/s: a 1 GiB disk with 256 MiB
# written, the guest writing on at 1 or 5 MB/s; the disk copied along (storage copy) or shared
# (nbd, iscsi, nfs: the lab's storage namespace, its links unshaped). Per setting, the median of
# RUNS fresh VMs: total time, guest-visible pause (STOP on a to RESUME on b), pings lost (every 10 ms),
# the guest's disk write throughput during the migration and in the 10 s after, and the total
# time against the ideal (disk data + the writes made meanwhile + RAM sent) / link rate.
# Side by side: greenshift's tuning (copy mode auto) and virsh-style defaults (libvirt's
# --copy-storage-all copies in the background, QEMU's migration parameters left at their
# defaults), both through the qemu driver; and the same VM without a disk for the pause.
# Not a test: about 29 minutes with RUNS=3. Needs root and a build (scripts/test.sh or
# scripts/demo.sh build it).
#
# usage: bench/storage.sh [RUNS]   (ROWS=REGEX runs only the settings whose label matches)
export GREENSHIFT_LAB=bstor
source "$(dirname "$0")/lib.sh"
RUNS=${1:-3}
LINK_MBIT=100

"$G" lab down >/dev/null 2>&1 || true
"$G" lab up --sites 2 --storage >/dev/null
"$G" lab link a b --bandwidth-mbit "$LINK_MBIT"

acked() {
  ip netns exec "$GREENSHIFT_LAB-client" curl -s --max-time 5 "http://$1/status" |
    sed -n 's/.*disk_acked=\([0-9]*\).*/\1/p' | sed 's/^0*//; s/^$/0/'
}

# one LABEL WRITE_MB_S STORAGE [migrate options...]: one fresh VM, one migration a -> b; appends
# a row.
one() {
  local label=$1 rate=$2 storage=$3
  [[ $label =~ ${ROWS:-.} ]] || return 0
  shift 3
  local disk_args=()
  [[ $rate != none ]] &&
    disk_args=(--disk-gib 1 --disk-fill-mib 256 --disk-mb-s "$rate" --storage "$storage")
  "$G" vm start s1 --site a "${disk_args[@]}" >/dev/null
  local ip
  ip=$("$G" vm list --json | jq -r '.[0].ip')
  if [[ $rate != none ]]; then
    # Until this VM's fill is on its disk: 256 MiB is 4096 records.
    for _ in $(seq 600); do (($(acked "$ip") >= 4096)) && break; sleep 0.2; done
  fi
  sleep 2
  "$G" probe ping "$ip" --interval-ms 10 --duration-s 600 --json >"$OUT/ping.json" &
  local ping_pid=$!
  sleep 1
  local a0=0 a1=0 a2=0 t0 t1
  [[ $rate != none ]] && a0=$(acked "$ip")
  t0=$(date +%s.%N)
  "$G" migrate s1 --to b --json --quiet "$@" >"$OUT/m.json" || true
  t1=$(date +%s.%N)
  [[ $rate != none ]] && a1=$(acked "$ip")
  sleep 10
  [[ $rate != none ]] && a2=$(acked "$ip")
  kill -TERM "$ping_pid"
  wait "$ping_pid" || true
  "$G" vm stop s1 >/dev/null
  jq -r --arg setting "$label" --argjson a0 "$a0" --argjson a1 "$a1" --argjson a2 "$a2" \
    --argjson t0 "$t0" --argjson t1 "$t1" --argjson bw "$((LINK_MBIT * 1000000 / 8))" \
    --slurpfile ping "$OUT/ping.json" '
    ((($a1 - $a0) * 65536)) as $written |
    (if .disk then 256 * 1048576 + $written else 0 end) as $disk |
    [$setting, .status, .total_ms / 1000, .paused_ms, $ping[0].lost,
     (if $t1 > $t0 then $written / ($t1 - $t0) / 1e6 else 0 end),
     (($a2 - $a1) * 65536 / 10 / 1e6),
     (($disk + .bytes) / $bw), (.total_ms / 1000) / (($disk + .bytes) / $bw)] | @tsv' \
    "$OUT/m.json" >>"$OUT/rows.tsv"
  tail -1 "$OUT/rows.tsv" >&2
}

for _ in $(seq "$RUNS"); do
  one "no disk (greenshift)" none -
  one "1 MB/s, greenshift (auto)" 1 copy
  one "1 MB/s, virsh-style defaults" 1 copy --copy-mode background --tuning qemu-defaults
  one "5 MB/s, greenshift (auto)" 5 copy
  one "5 MB/s, greenshift, post-copy" 5 copy --postcopy
  one "5 MB/s, virsh-style defaults" 5 copy --copy-mode background --tuning qemu-defaults
  one "5 MB/s, shared nbd" 5 nbd
  one "5 MB/s, shared nbd, post-copy" 5 nbd --postcopy
  one "5 MB/s, shared iscsi" 5 iscsi
  one "5 MB/s, shared nfs" 5 nfs
done

echo
echo "link ${LINK_MBIT} Mbit/s, 1 GiB disk with 256 MiB written, 256 MiB guest; medians of $RUNS"
printf '%-32s %9s %9s %6s %12s %11s %9s %6s\n' setting total_s paused_ms pings \
  "write_during" write_after ideal_s ratio
printf '%-32s %9s %9s %6s %12s %11s %9s %6s\n' "" "" "" lost "MB/s" "MB/s" "" ""
awk -F'\t' "$AWK_MEDIAN"'
  { key = $1; if (!(key in count)) order[++keys] = key; n = ++count[key]
    if ($2 != "completed") failed[key]++
    for (c = 3; c <= 9; c++) v[key, c, n] = $c }
  END {
    for (k = 1; k <= keys; k++) {
      key = order[k]
      for (c = 3; c <= 9; c++) { delete l; for (i = 1; i <= count[key]; i++) l[i] = v[key, c, i]
                                 m[c] = median(l, count[key]) }
      printf "%-32s %9.1f %9.1f %6d %12.2f %11.2f %9.1f %5.2fx%s\n", key, m[3], m[4], m[5], m[6],
             m[7], m[8], m[9], (failed[key] ? "  (" failed[key] " failed)" : "")
    }
  }' "$OUT/rows.tsv"
