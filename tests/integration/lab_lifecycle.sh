#!/usr/bin/env bash
# The lab: `up` twice is harmless, `status --json` tells sites, namespaces, links and VMs,
# `down` removes what the lab created and nothing else, bad input gets a clear error, and
# without root the lab refuses with a clear message.
source "$(dirname "$0")/lib.sh"
use_lab it-lab

# A namespace of someone else, named like ours would be: it must survive our lab.
ip netns add it-lab-other
trap 'ip netns del it-lab-other 2>/dev/null || true; on_exit' EXIT

"$G" lab up --sites 3 --link-mbit 200
"$G" lab up --sites 3 --link-mbit 200 >"$TEST_TMP/second-up.txt"
check "a second up says the lab is up" grep -q "already up" "$TEST_TMP/second-up.txt"
"$G" lab status --json >"$TEST_TMP/status.json"
S="$TEST_TMP/status.json"
check "status lists 3 sites" test "$(jqr "$S" '.sites | length')" = 3
check "status lists the 3 links of a full mesh" test "$(jqr "$S" '.links | length')" = 3
check "links carry their bandwidth" test "$(jqr "$S" '[.links[].bandwidth_mbit] | unique | .[0]')" = 200
check "status lists the namespaces it created" \
  test "$(jqr "$S" '.created_namespaces | sort | join(",")')" = "it-lab-a,it-lab-b,it-lab-c,it-lab-client,it-lab-wan"
for ns in it-lab-a it-lab-b it-lab-c it-lab-client it-lab-wan; do
  check "namespace $ns exists" test -e "/run/netns/$ns"
done
check "every address is in 198.18.0.0/15" \
  bash -c "jq -r '.. | strings' '$S' | grep -E '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$' | grep -vE '^198\.(18|19)\.' | wc -l | grep -qx 0"

"$G" vm start web --site b
check "status lists the VM with its IP and site" \
  test "$("$G" lab status --json | jq -c '.vms[0] | [.name, .ip, .site]')" = '["web","198.18.128.10","b"]'
check "vm list --json agrees" test "$("$G" vm list --json | jq -r '.[0].site')" = b

# Bad input: a clear error naming what was wrong, and nothing changes.
expect_error() {  # expect_error PATTERN COMMAND...
  local pattern=$1 out rc=0
  shift
  out=$("$@" 2>&1) || rc=$?
  [[ $rc -ne 0 ]] || fail "'$*' succeeded but should have failed"
  grep -q -- "$pattern" <<<"$out" || fail "'$*' said '$out', expected it to mention '$pattern'"
  echo "ok: '$*' fails with: $out"
}
expect_error "no host is named 'x'" "$G" migrate web --to x
expect_error "already runs on site b" "$G" migrate web --to b
expect_error "no VM is named 'nope'" "$G" migrate nope --to a
expect_error "Bad_Name" "$G" vm start Bad_Name --site a
expect_error "already exists\|already" "$G" vm start web --site a
expect_error "no host is named 'zz'" "$G" vm start other --site zz
expect_error "does not fit" "$G" vm start big --site a --memory 128 --dirty-size-mib 100
expect_error "say what to change" "$G" lab link a b
check "the VM is still where it was" test "$("$G" vm list --json | jq -c '[.[].name, .[0].site]')" = '["web","b"]'

# Without root: a clear refusal, and the lab is untouched.
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$G" lab up --sites 2 2>&1) && fail "lab up as nobody succeeded"
check "non-root lab up is refused with a clear message ($out)" grep -q "needs root" <<<"$out"

# A QEMU whose record is gone (a command killed half-way) is still the lab's: down stops it too.
"$G" vm start orphan --site c --no-wait
rm "$GREENSHIFT_RUN_DIR/it-lab/vms/orphan.json"
check "the orphan's QEMU runs" test "$(qemu_count orphan c)" = 1

"$G" lab down
check "lab down stopped the orphan" test "$(qemu_count orphan c)" = 0
for ns in it-lab-a it-lab-b it-lab-c it-lab-client it-lab-wan; do
  check "namespace $ns is gone" test ! -e "/run/netns/$ns"
done
check "no QEMU of the lab is left" test "$(pgrep -c -f -- "$GREENSHIFT_RUN_DIR/it-lab/" || true)" = 0
check "the other namespace survived" test -e /run/netns/it-lab-other
"$G" lab down >/dev/null
check "down twice is harmless" true
echo "PASS"
