#!/usr/bin/env bash
# A WAN link with real delay (relay.h): the lab's relay holds each frame for the link's one-way
# delay. Its accuracy (round trip within 1 ms of twice the delay), its throughput (the link's
# bandwidth over that round trip, with socket buffers sized to it), changing the delay live,
# cutting the link, and the talk's measurement over a 20 ms link.
source "$(dirname "$0")/lib.sh"
use_lab it-wan

lab_up --sites 2 --link-mbit 100 --link-delay-ms 20 >/dev/null
A="$GREENSHIFT_LAB-a"
B="$GREENSHIFT_LAB-b"
A_ADDR=198.19.255.1
B_ADDR=198.19.255.2

# rtt_ms: the median and minimum round trip (ms) of 40 pings from site a to site b, 25 ms apart,
# after one that resolves the neighbour.
rtt() {
  ip netns exec "$A" ping -c 1 -W 2 "$B_ADDR" >/dev/null || true
  ip netns exec "$A" ping -n -c 40 -i 0.025 -W 2 "$B_ADDR" |
    sed -n 's/.*time=\([0-9.]*\) ms/\1/p' | sort -n | awk '{ v[NR] = $1 } END {
      if (NR < 38) { print "lost " 40 - NR; exit }
      printf "%s %s\n", v[int((NR + 1) / 2)], v[1] }'
}
# check_rtt DELAY_MS: the median round trip is 2 x DELAY_MS, +0..1 ms; none is shorter.
check_rtt() {
  local want=$(($1 * 2)) got median min
  got=$(rtt)
  read -r median min <<<"$got"
  echo "round trip over a ${1} ms link: median $median ms, min $min ms"
  check "the round trip is not shorter than twice the delay (min $min >= $want)" \
    awk -v m="$min" -v w="$want" 'BEGIN { exit !(m >= w) }'
  check "the median round trip is within 1 ms of twice the delay ($median)" \
    awk -v m="$median" -v w="$want" 'BEGIN { exit !(m >= w && m <= w + 1) }'
}

# throughput_mbit: a 4 s TCP stream from site a to site b (iperf3), Mbit/s at the receiver.
throughput_mbit() {
  ip netns exec "$B" iperf3 -s -1 -B "$B_ADDR" -p 5301 >/dev/null 2>&1 &
  local server=$!
  sleep 0.5
  ip netns exec "$A" iperf3 -c "$B_ADDR" -B "$A_ADDR" -p 5301 -t 4 -J >"$TEST_TMP/iperf.json"
  wait "$server" || true
  jq '.end.sum_received.bits_per_second / 1e6 | floor' "$TEST_TMP/iperf.json"
}

relay_json() { "$G" lab status --json | jq -c '.links[0].relay'; }

# 1. Accuracy and throughput at 20 ms one way, 100 Mbit/s.
check "the link runs through a relay" test "$(relay_json | jq .pid)" -gt 0
check_rtt 20
mbit=$(throughput_mbit)
echo "TCP over 100 Mbit/s, 40 ms round trip: $mbit Mbit/s"
# 256 KiB of socket buffer (the undelayed lab's bound) would allow 52 Mbit/s at most here.
check "a TCP stream fills the link over its round trip ($mbit Mbit/s >= 85)" test "$mbit" -ge 85
check "and no faster than the link ($mbit <= 100)" test "$mbit" -le 100

# 2. The delay changed live (the relay re-reads it), then at 1 Gbit/s.
"$G" lab link a b --delay-ms 5
pid_before=$(relay_json | jq .pid)
check_rtt 5
"$G" lab link a b --bandwidth-mbit 1000
check "the same relay still runs" test "$(relay_json | jq .pid)" = "$pid_before"
mbit=$(throughput_mbit)
echo "TCP over 1 Gbit/s, 10 ms round trip: $mbit Mbit/s"
check "the relay carries a 1 Gbit/s link ($mbit Mbit/s >= 700)" test "$mbit" -ge 700
check_rtt 5

# 3. No delay: a plain veth again; then a delay again.
"$G" lab link a b --delay-ms 0 --bandwidth-mbit 100
check "an undelayed link has no relay" test "$(relay_json)" = null
median=$(rtt | cut -d' ' -f1)
check "an undelayed link answers within 1 ms ($median ms)" \
  awk -v m="$median" 'BEGIN { exit !(m < 1) }'
"$G" lab link a b --delay-ms 20
check_rtt 20

# 4. Hostile input: a delay the relay refuses, a delay file it cannot read.
check "a negative delay is refused" bash -c '! "$0" lab link a b --delay-ms -5 2>/dev/null' "$G"
out=$("$G" lab link a b --delay-ms 20000 2>&1) && fail "a 20 s delay was accepted"
check "a delay above 10 s is refused, naming it ($out)" grep -q "delay" <<<"$out"
echo "twenty" >"$GREENSHIFT_RUN_DIR/$GREENSHIFT_LAB/relays/a-b.delay"
kill -HUP "$(relay_json | jq .pid)"
sleep 1.2
check "a relay given a bad delay file keeps its delay" test "$(relay_json | jq .stats.delay_ms)" = 20
check "and says so in its log" grep -q "keeping the delay" "$GREENSHIFT_RUN_DIR/$GREENSHIFT_LAB/relays/a-b.log"

# 5. Cut and restored: nothing passes while down, all again after.
"$G" lab link a b --down
check "nothing crosses a cut link" bash -c "! ip netns exec $A ping -c 3 -i 0.2 -W 1 $B_ADDR >/dev/null"
"$G" lab link a b --up
check_rtt 20

# 6. A relay that died is started again by lab up.
kill -KILL "$(relay_json | jq .pid)"
sleep 0.2
check "a killed relay shows as not running" test "$(relay_json | jq .pid)" = 0
"$G" lab up --sites 2 >/dev/null
check "lab up starts it again" test "$(relay_json | jq .pid)" -gt 0
check_rtt 20

# 7. The talk's measurement, over the 20 ms link: the VM keeps its address, 0 failed requests.
"$G" vm start web --site a --memory 256 >/dev/null
IP=$("$G" vm list --json | jq -r '.[] | select(.name == "web") | .ip')
# The migration stream is greenshift's socket, its data not yet sent capped at 32 KiB (Linux
# lets it hold megabytes): sampled from site a while the VM moves, every TCP connection there is
# the stream. At most the cap and what one write adds past it (a 64 KiB segment).
(
  for _ in $(seq 1500); do
    [[ -e $TEST_TMP/stop-sampling ]] && break
    ip netns exec "$A" ss -tinH state established 2>/dev/null | grep -o 'notsent:[0-9]*' || true
    sleep 0.01
  done >"$TEST_TMP/notsent.txt"
) &
sampler=$!
# The guest stays paused while the last of its memory crosses the link: the 20 ms one way and
# the link's queue (53-74 ms paused measured with the socket's standing queue of up to 256 KiB
# before the cap, 5-7 pings lost at 10 ms; 10 allowed), where an undelayed, unlimited link
# allows 3.
migrate_under_load "$IP" web b 10 2
touch "$TEST_TMP/stop-sampling"
wait "$sampler"
samples=$(grep -c notsent "$TEST_TMP/notsent.txt" || true)
most=$(cut -d: -f2 "$TEST_TMP/notsent.txt" | sort -n | tail -1)
echo "the stream's data not yet sent: $samples samples with some, at most ${most:-0} bytes"
check "the stream held data not yet sent while it ran (sampled $samples times)" test "$samples" -ge 5
check "never more than the cap and one segment (${most:-0} <= 98304 bytes)" test "${most:-0}" -le 98304
paused=$(jqr "$TEST_TMP/migration.json" .paused_ms)
check "the pause spans the last data's crossing (paused $paused ms >= 20)" float_gt "$paused" 20
# QEMU's figure for the whole move: 93 Mbit/s before the qemu driver capped the stream's unsent
# data and sent pages as differences, 79-87 since (the pause that buys is worth it). What this
# guards against is a stream held back by its window over the 40 ms round trip: buffers bounded
# at the undelayed lab's 256 KiB carry at most 52 Mbit/s (above).
check "the migration streamed near the link's rate ($(jqr "$TEST_TMP/migration.json" .mbps) Mbit/s)" \
  float_gt "$(jqr "$TEST_TMP/migration.json" .mbps)" 70
stats=$(relay_json | jq -c .stats)
echo "relay: $stats"
check "the relay dropped no frame" \
  test "$(jq '.a_to_b.dropped_queue + .b_to_a.dropped_queue' <<<"$stats")" = 0
check_guest_kernel_clean web b
echo "PASS"
