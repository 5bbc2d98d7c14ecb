#!/usr/bin/env bash
# A site with two hosts, on real libvirt daemons: the service's energy site b has hosts b1 (the
# lab's site b daemon, 1024 MiB) and b2 (the lab's site c daemon, 2048 MiB); site a has a1. Web
# starts on a1, db on b1. While a is green both go to a; when b turns green both come back: the
# first to b1 (both empty: the first host), the second to b2 (0 of 2048 MiB taken beats 256 of
# 1024), so they spread over b's hosts. Each runs once, on the host the service says.
source "$(dirname "$0")/lib.sh"
[[ $HV == libvirt ]] || { echo "SKIP: hosts per site are tested on libvirt daemons"; exit 77; }
use_lab it-fleet

lab_up --sites 3
cd "$TEST_TMP"
write_replay "$TEST_TMP" 60
lab_json=$("$G" lab status --json)
write_service_head "$TEST_TMP/greenshift.toml" 120 0.5
cat >>"$TEST_TMP/greenshift.toml" <<TOML
[[hosts]]
name = "a1"
site = "a"
driver = "libvirt"
$(libvirt_host_keys a "$lab_json")

[[hosts]]
name = "b1"
site = "b"
driver = "libvirt"
memory_mib = 1024
$(libvirt_host_keys b "$lab_json")

[[hosts]]
name = "b2"
site = "b"
driver = "libvirt"
memory_mib = 2048
$(libvirt_host_keys c "$lab_json")

[[vms]]
name = "web"
host = "a1"
memory_mib = 256
peak_w = 200
power_w = 100
address = "198.18.128.10/16"

[[vms]]
name = "db"
host = "b1"
memory_mib = 256
peak_w = 200
power_w = 100
address = "198.18.128.11/16"
TOML
"$G" serve --config "$TEST_TMP/greenshift.toml" --check-hosts | tee "$TEST_TMP/hosts.txt"
check "--check-hosts reaches all three daemons" test "$(grep -c ': ok;' "$TEST_TMP/hosts.txt")" = 3
start_service "$TEST_TMP/greenshift.toml" "$TEST_TMP/serve.log"
wait_http 198.18.128.10 90
wait_http 198.18.128.11 90

# Until both VMs run at b again (the switch is ~30 s in; three migrations in all).
deadline=$((SECONDS + 200))
until [[ $(curl -fsS "$SERVICE_URL/api/vms" | jq -r '[.[] | select(.site == "b" and .moving == false)] | length') == 2 &&
         $(curl -fsS "$SERVICE_URL/api/moves" | jq '[.[] | select(.state == "completed" and .to == "b")] | length') -ge 2 ]]; do
  ((SECONDS < deadline)) || { curl -fsS "$SERVICE_URL/api/moves" | jq -c '.[] | {vm, from, to, state}'; fail "the VMs did not both come back to b"; }
  sleep 1
done
curl -fsS "$SERVICE_URL/api/moves" | jq -c '.[] | {id, vm, from, to, state}'
curl -fsS "$SERVICE_URL/api/vms" >"$TEST_TMP/vms.json"
curl -fsS "$SERVICE_URL/api/hosts" >"$TEST_TMP/hosts.json"
jq -c '.[] | {name, site, host}' "$TEST_TMP/vms.json"
jq -c '.[] | {name, site, memory_mib, memory_used_mib}' "$TEST_TMP/hosts.json"
first=$(curl -fsS "$SERVICE_URL/api/moves" | jq -r '[.[] | select(.to == "b" and .state == "completed")] | sort_by(.id) | .[0].vm')
second=$(curl -fsS "$SERVICE_URL/api/moves" | jq -r '[.[] | select(.to == "b" and .state == "completed")] | sort_by(.id) | .[1].vm')
check "the first VM back at b ($first) is on b1" test "$(jq -r --arg v "$first" '.[] | select(.name == $v) | .host' "$TEST_TMP/vms.json")" = b1
check "the second ($second) is on b2, the less loaded host" test "$(jq -r --arg v "$second" '.[] | select(.name == $v) | .host' "$TEST_TMP/vms.json")" = b2
check "/api/hosts: b1 and b2 hold 256 MiB each, a1 none" test "$(jq -c '[.[] | .memory_used_mib]' "$TEST_TMP/hosts.json")" = "[0,256,256]"
# The daemons agree: b1 is the lab's site b, b2 its site c.
check "libvirt runs $first on the site b daemon only" test "$(qemu_count "$first" b)$(qemu_count "$first" c)$(qemu_count "$first" a)" = 100
check "libvirt runs $second on the site c daemon only" test "$(qemu_count "$second" c)$(qemu_count "$second" b)$(qemu_count "$second" a)" = 100
wait_http 198.18.128.10 30
wait_http 198.18.128.11 30
echo "ok: both guests answer HTTP at their addresses"
kill -TERM "$SERVICE_PID"
wait "$SERVICE_PID"
check_guest_kernel_clean "$first" b
check_guest_kernel_clean "$second" c
echo "PASS"
