#!/usr/bin/env bash
# Routed sites 20 ms apart (lab up --network bgp): each site its own subnet and router, the client
# on a routed WAN. A VM keeps its address across sites because the site where it runs announces
# its /32 by BGP (routing.h). The talk's measurement on a live migration between them; the route
# follows the VM, a failed migration leaves it, a router that died comes back, a stopped VM's
# route is gone.
source "$(dirname "$0")/lib.sh"
use_lab it-bgp

lab_up --sites 2 --network bgp --link-mbit 100 --link-delay-ms 20 >/dev/null
CLIENT="$GREENSHIFT_LAB-client"
WAN="$GREENSHIFT_LAB-wan"

# wan_route IP: the WAN router's route to IP ("via ADDRESS dev w-SITE ..."), empty when none.
wan_route() { ip -n "$WAN" route show "$1/32"; }
# wait_wan_route IP SITE: until the WAN routes IP to SITE (its uplink is w-SITE), 5 s at most.
wait_wan_route() {
  for _ in $(seq 100); do
    wan_route "$1" | grep -q "dev w-$2 " && return 0
    sleep 0.05
  done
  return 1
}
routes() { "$G" lab status --json | jq -c ".routers.$1.bgp"; }

check "the client is on its own subnet (198.18.1.2/24), not the VMs'" \
  bash -c "ip -n $CLIENT -4 addr show c0 | grep -q '198.18.1.2/24'"
check "the WAN router has a BGP session with every site" \
  test "$(routes wan)" = '{"site_a":"Established","site_b":"Established"}'

"$G" vm start web --site a --memory 256 >/dev/null
IP=$("$G" vm list --json | jq -r '.[] | select(.name == "web") | .ip')
check "the WAN routes the VM's address to site a, where it runs ($(wan_route "$IP"))" \
  wait_wan_route "$IP" a
check "the client reaches the VM across the WAN" \
  ip netns exec "$CLIENT" curl -fsS -m 3 -o /dev/null "http://$IP/status"

# 1. The talk's measurement: pings every 10 ms, ab -c 5 -n 10000, live migration a -> b over the
# 100 Mbit/s, 20 ms link. During the pause the source forwards the VM's packets to b, where the
# waiting guest's queue holds them: they arrive late rather than never.
migrate_under_load "$IP" web b 3
M="$TEST_TMP/migration.json"
check "the migration completed" test "$(jqr "$M" .status)" = completed
check "the WAN routes the VM to site b now ($(wan_route "$IP"))" wait_wan_route "$IP" b
check "only b announces it: one route, through b" test "$(wan_route "$IP" | wc -l)" = 1
check "site a forwards what still reaches it to b, unannounced" \
  bash -c "ip -n $GREENSHIFT_LAB-a route show $IP/32 | grep -q 'via .* dev l-b proto static'"
check "the VM kept its address: the client reaches it at $IP" \
  ip netns exec "$CLIENT" curl -fsS -m 3 -o /dev/null "http://$IP/status"
check_guest_kernel_clean web b

# 2. A migration that fails (the destination QEMU killed) leaves the route where the VM runs.
"$G" vm start hot --site b --memory 256 --dirty-mb-s 20 --dirty-size-mib 64 >/dev/null
HOT=$("$G" vm list --json | jq -r '.[] | select(.name == "hot") | .ip')
wait_console hot b "gs-dirty: 64 MiB filled"
check "the WAN routes the second VM to b" wait_wan_route "$HOT" b
migrate_killing_destination hot a "$TEST_TMP/killed.json"
check "the migration failed" test "$(jqr "$TEST_TMP/killed.json" .status)" = failed
check "the VM still runs on b" test "$(jqr "$TEST_TMP/killed.json" .running_on)" = b
check "the WAN still routes it to b ($(wan_route "$HOT"))" wait_wan_route "$HOT" b
check "and the client reaches it" \
  ip netns exec "$CLIENT" curl -fsS -m 3 -o /dev/null "http://$HOT/status"

# 3. A router that died: its routes are withdrawn; lab up starts it again and they come back.
kill -KILL "$("$G" lab status --json | jq .routers.b.pid)"
check "a dead router shows as not running" \
  test "$("$G" lab status --json | jq .routers.b.pid)" = 0
"$G" lab up --sites 2 --network bgp >/dev/null
check "lab up starts it again and the WAN learns the VM's route anew" wait_wan_route "$IP" b
check "the client reaches the VM again" \
  ip netns exec "$CLIENT" curl -fsS -m 3 -o /dev/null "http://$IP/status"

# 4. Back to a, then stopped: no route is left anywhere.
"$G" migrate web --to a --live --json --quiet >"$TEST_TMP/back.json"
check "it migrates back to a" test "$(jqr "$TEST_TMP/back.json" .status)" = completed
check "the WAN routes it to a again" wait_wan_route "$IP" a
"$G" vm stop web
"$G" vm stop hot
for _ in $(seq 100); do
  [[ -z $(wan_route "$IP") ]] && break
  sleep 0.05
done
check "a stopped VM's route is withdrawn" test -z "$(wan_route "$IP")"
for site in a b; do
  check "site $site keeps no route to the stopped VM" \
    test -z "$(ip -n "$GREENSHIFT_LAB-$site" route show "$IP/32")"
done
echo "PASS"
