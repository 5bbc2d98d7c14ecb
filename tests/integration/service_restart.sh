#!/usr/bin/env bash
# The service killed (SIGKILL) in the middle of a live migration, then started again: it must
# reconcile with what the driver finds (QEMU goes on migrating without it), mark the move with
# its real outcome, never run it again, and the VM must run in exactly one place and answer.
source "$(dirname "$0")/lib.sh"
use_lab it-rst

lab_up --sites 2
# A slow link, so the migration is still running when the service dies.
"$G" lab link a b --bandwidth-mbit 20
cd "$TEST_TMP"
write_replay "$TEST_TMP" 60
write_service_config "$TEST_TMP/greenshift.toml" 120
start_service "$TEST_TMP/greenshift.toml" "$TEST_TMP/serve1.log"
wait_http 198.18.128.10 90
wait_move running 120
# The destination's QEMU must be up before the kill (libvirt starts it a few seconds into the
# move the first time: it probes QEMU's capabilities then).
for _ in $(seq 60); do [[ $(qemu_count web b) == 1 ]] && break; sleep 0.5; done
sleep 1
move_id=$(curl -fsS "$SERVICE_URL/api/moves" | jq -r '.[0].id')
plan_id=$(curl -fsS "$SERVICE_URL/api/moves" | jq -r '.[0].plan')
kill -KILL "$SERVICE_PID"
wait "$SERVICE_PID" 2>/dev/null || true
copies=$(( $(qemu_count web a) + $(qemu_count web b) ))
echo "killed the service during move $move_id (plan $plan_id); QEMUs of web now: $copies"
check "the migration was in flight when the service died (two QEMUs)" test "$copies" = 2

start_service "$TEST_TMP/greenshift.toml" "$TEST_TMP/serve2.log"
cat "$TEST_TMP/serve2.log"
curl -fsS "$SERVICE_URL/api/moves" >"$TEST_TMP/moves.json"
jq -c '.[] | {id, plan, state, result}' "$TEST_TMP/moves.json"
state=$(jq -r --argjson id "$move_id" '.[] | select(.id == $id) | .state' "$TEST_TMP/moves.json")
site=$(curl -fsS "$SERVICE_URL/api/vms" | jq -r '.[0].site')
check "the move is settled, not left running (state $state)" \
  bash -c "[[ '$state' == completed || '$state' == interrupted ]]"
check "the move says it was reconciled" \
  test "$(jq -r --argjson id "$move_id" '.[] | select(.id == $id) | .result.reconciled' "$TEST_TMP/moves.json")" = true
if [[ $state == completed ]]; then
  check "completed: the VM is on b" test "$site" = b
else
  check "interrupted: the VM is back on a" test "$site" = a
fi
check "no move of that plan ran again" \
  test "$(jq --argjson p "$plan_id" '[.[] | select(.plan == $p)] | length' "$TEST_TMP/moves.json")" = 1
sleep 6  # a loop or two of the restarted service
check "still no second move from a to b" \
  test "$(curl -fsS "$SERVICE_URL/api/moves" | jq '[.[] | select(.from == "a" and .to == "b" and .state != "interrupted")] | length')" -le 1
check "exactly one QEMU of web runs" test $(( $(qemu_count web a) + $(qemu_count web b) )) = 1
check "the driver agrees on where it runs" test "$("$G" vm list --json | jq -r '.[0].copies | join(",")')" = "$site"
wait_http 198.18.128.10 30
echo "ok: the guest answers HTTP at its address"
kill -TERM "$SERVICE_PID"
wait "$SERVICE_PID"
check_guest_kernel_clean web "$site"
echo "PASS"
