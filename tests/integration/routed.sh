#!/usr/bin/env bash
# Routed sites 20 ms apart (lab up --network bgp|vxlan): each site its own subnet and router, the
# client on a routed WAN. A VM keeps its address across sites (routing.h), by one of:
#   bgp    the site where it runs announces its /32 by BGP;
#   vxlan  an overlay joins the sites' bridges, greenshift writing where each VM's MAC is.
# The talk's measurement on a live migration between them; the VM's traffic follows it, a failed
# migration leaves it, (bgp) a router that died comes back, a stopped VM leaves nothing behind.
# On qemu or libvirt hosts (lib.sh).
# Usage: routed.sh bgp|vxlan
source "$(dirname "$0")/lib.sh"
NETWORK=${1:?usage: routed.sh bgp|vxlan}  # also lib.sh's is_at, wait_at, where
use_lab "it-$NETWORK"

lab_up --sites 2 --network "$NETWORK" --link-mbit 100 --link-delay-ms 20 >/dev/null
CLIENT="$GREENSHIFT_LAB-client"
WAN="$GREENSHIFT_LAB-wan"
vm_field() { "$G" vm list --json | jq -r ".[] | select(.name == \"$1\") | .$2"; }
reaches() { ip netns exec "$CLIENT" curl -fsS -m 3 -o /dev/null "http://$1/status"; }

check "the client is on its own subnet (198.18.1.2/24), not the VMs'" \
  bash -c "ip -n $CLIENT -4 addr show c0 | grep -q '198.18.1.2/24'"
if [[ $NETWORK == bgp ]]; then
  check "the WAN router has a BGP session with every site" \
    test "$("$G" lab status --json | jq -c .routers.wan.bgp)" = \
    '{"site_a":"Established","site_b":"Established"}'
else
  check "the WAN sends the VMs' prefix to the home site a" \
    bash -c "ip -n $WAN route show 198.18.128.0/17 | grep -q 'dev w-a'"
  check "the overlay copies broadcasts from a to b" \
    bash -c "bridge -n $GREENSHIFT_LAB-a fdb show dev vx0 | grep -q '^00:00:00:00:00:00 dst 198.19.1.2'"
  check "site links carry a guest's full frame plus the overlay's headers (MTU 1550)" \
    bash -c "ip -n $GREENSHIFT_LAB-a link show l-b | grep -q 'mtu 1550'"
fi

# The service and the lab agree on how VMs keep their address between its sites: a config that
# leaves the link at its default (one segment) is refused, naming the fix; one that says so runs.
host_a='address = "a"' host_b='address = "b"'
if [[ $HV == libvirt ]]; then
  lab_json=$("$G" lab status --json)
  host_a=$(libvirt_host_keys a "$lab_json")
  host_b=$(libvirt_host_keys b "$lab_json")
fi
cat >"$TEST_TMP/g.toml" <<TOML
[service]
token = "integration-test-token-0123"
lab = "$GREENSHIFT_LAB"
[[sites]]
name = "a"
latitude = 50.1
longitude = 8.7
capacity_kw = 1
[[sites]]
name = "b"
latitude = 51.5
longitude = -0.1
capacity_kw = 1
[[hosts]]
name = "a1"
site = "a"
driver = "$HV"
$host_a
[[hosts]]
name = "b1"
site = "b"
driver = "$HV"
$host_b
TOML
"$G" serve --config "$TEST_TMP/g.toml" --check-hosts >"$TEST_TMP/refused.txt" 2>&1 &&
  refused_rc=0 || refused_rc=$?
check "a service that thinks the sites share a segment is refused: $(cat "$TEST_TMP/refused.txt")" \
  test "$refused_rc" -ne 0
check "naming both sides" grep -qF \
  "has network l2 (the default), but lab '$GREENSHIFT_LAB' has network $NETWORK" "$TEST_TMP/refused.txt"
printf '[[links]]\na = "a"\nb = "b"\nmbit = 100\nrtt_ms = 40\nnetwork = "%s"\n' "$NETWORK" \
  >>"$TEST_TMP/g.toml"
check "one whose link says $NETWORK reaches every host" \
  "$G" serve --config "$TEST_TMP/g.toml" --check-hosts

"$G" vm start web --site a --memory 256 >/dev/null
IP=$(vm_field web ip)
MAC=$(vm_field web mac)
check "the network sends the VM's traffic to site a, where it runs ($(where "$IP" "$MAC" b))" \
  wait_at "$IP" "$MAC" a
check "the client reaches the VM across the WAN" reaches "$IP"

# 1. The talk's measurement: pings every 10 ms, ab -c 5 -n 10000 (stopped 2 s after the
# migration: all it asks of the load is that it spans the move), live migration a -> b over the
# 100 Mbit/s, 20 ms link. During the pause the source sends the VM's packets on to b, where the
# waiting guest's queue holds them: they arrive late rather than never, and what already waited
# in the source's tap is handed to the destination's (tap_handover.h). At most 3 pings lost
# (qemu: 0-2 measured). Under libvirt the guest pauses longer under this load (90-128 ms against
# 53-95 ms: libvirt's Finish is a call over the 20 ms link in the pause), so more pings meet the
# pause: 1 lost in each of 5 runs (2026-12-05) since the lab hands over the tap of libvirt's
# QEMU too; 3-5 before (5 once in a clean-clone CI run beside a busy core), which this bound
# would catch coming back.
migrate_under_load "$IP" web b 3 2
M="$TEST_TMP/migration.json"
check "the migration completed" test "$(jqr "$M" .status)" = completed
check "the network sends the VM's traffic to site b now" wait_at "$IP" "$MAC" b
if [[ $NETWORK == bgp ]]; then
  check "only b announces it: one route, through b" test "$(wan_route "$IP" | wc -l)" = 1
  check "site a forwards what still reaches it to b, unannounced" \
    bash -c "ip -n $GREENSHIFT_LAB-a route show $IP/32 | grep -q 'via .* dev l-b proto static'"
else
  check "site a's bridge sends the VM's MAC into the overlay" \
    bash -c "bridge -n $GREENSHIFT_LAB-a fdb show br br0 | grep -qi '^$MAC dev vx0 master br0 static'"
  check "lab status shows where site a's overlay sends the VM: b's end of the link" \
    test "$("$G" lab status --json | jq -r ".overlay.a[\"$MAC\"][0]")" = 198.19.1.2
  check "a 1500-byte packet crosses the overlay whole (no fragments: DF set)" \
    ip netns exec "$CLIENT" ping -c 2 -i 0.2 -W 2 -s 1472 -M do "$IP"
fi
check "the VM kept its address: the client reaches it at $IP" reaches "$IP"
check_guest_kernel_clean web b

# 2. A migration that fails (the destination QEMU killed) leaves the VM's traffic where it runs.
"$G" vm start hot --site b --memory 256 --dirty-mb-s 20 --dirty-size-mib 64 >/dev/null
HOT=$(vm_field hot ip)
HOT_MAC=$(vm_field hot mac)
wait_console hot b "gs-dirty: 64 MiB filled"
check "the network sends the second VM's traffic to b" wait_at "$HOT" "$HOT_MAC" b
migrate_killing_destination hot a "$TEST_TMP/killed.json"
check "the migration failed" test "$(jqr "$TEST_TMP/killed.json" .status)" = failed
check "the VM still runs on b" test "$(jqr "$TEST_TMP/killed.json" .running_on)" = b
check "the network still sends it to b ($(where "$HOT" "$HOT_MAC" a))" \
  wait_at "$HOT" "$HOT_MAC" b
check "and the client reaches it" reaches "$HOT"

# 3. bgp: a router that died; its routes are withdrawn; lab up starts it again and they come back.
if [[ $NETWORK == bgp ]]; then
  kill -KILL "$("$G" lab status --json | jq .routers.b.pid)"
  check "a dead router shows as not running" \
    test "$("$G" lab status --json | jq .routers.b.pid)" = 0
  lab_up --sites 2 --network bgp >/dev/null
  check "lab up starts it again and the WAN learns the VM's route anew" wait_at "$IP" "$MAC" b
  check "the client reaches the VM again" reaches "$IP"
fi

# 4. Back to a, then stopped: nothing of either VM is left in the network.
"$G" migrate web --to a --live --json --quiet >"$TEST_TMP/back.json"
check "it migrates back to a" test "$(jqr "$TEST_TMP/back.json" .status)" = completed
check "the network sends it to a again" wait_at "$IP" "$MAC" a
check "the client reaches it at a" reaches "$IP"
"$G" vm stop web
"$G" vm stop hot
if [[ $NETWORK == bgp ]]; then
  for _ in $(seq 100); do
    [[ -z $(wan_route "$IP") ]] && break
    sleep 0.05
  done
  check "a stopped VM's route is withdrawn" test -z "$(wan_route "$IP")"
fi
for site in a b; do
  check "site $site keeps no route to the stopped VM" \
    test -z "$(ip -n "$GREENSHIFT_LAB-$site" route show "$IP/32")"
  check "site $site keeps no neighbour entry for it" \
    test -z "$(ip -n "$GREENSHIFT_LAB-$site" neigh show "$IP" dev br0)"
  check "site $site's overlay keeps no entry for either VM" \
    test -z "$(bridge -n "$GREENSHIFT_LAB-$site" fdb show 2>/dev/null | grep -i -e "$MAC" -e "$HOT_MAC")"
done
echo "PASS"
