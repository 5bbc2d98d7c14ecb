#!/bin/bash
# greenshift plan, run as a user would: times in any RFC 3339 shape, the time it prints taken back
# as it is, an impossible date refused saying why.
set -euo pipefail
G=${GREENSHIFT:?path to the greenshift binary}
SCENARIO=${GREENSHIFT_SOURCE_DIR:?}/data/scenarios/three-sites-2022.json
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# The same instant written three ways gives the same plan.
for at in "2022-06-21T10:00:00.500+02:00" "2022-06-21 08:00Z" "2022-06-21T09:00:00+0100"; do
  "$G" plan --scenario "$SCENARIO" --at "$at" --json >"$OUT/plan.json" || fail "--at '$at' refused"
  [[ $(jq -r .at "$OUT/plan.json") == "2022-06-21T08:00Z" ]] || fail "--at '$at' read as $(jq -r .at "$OUT/plan.json")"
done
# What plan prints, it takes back: its decision time and every move's time.
printed=$(jq -r .at "$OUT/plan.json")
"$G" plan --scenario "$SCENARIO" --at "$printed" --json >"$OUT/again.json" ||
  fail "plan refuses the time it printed: $printed"
cmp -s "$OUT/plan.json" "$OUT/again.json" || fail "the printed time gave another plan"
for when in $(jq -r '.moves[].when' "$OUT/plan.json" | sort -u); do
  "$G" plan --scenario "$SCENARIO" --at "$when" --json >/dev/null || fail "plan refuses its move time $when"
done
# Impossible or zoneless times: refused, saying why.
if "$G" plan --scenario "$SCENARIO" --at "2022-02-30T10:00Z" 2>"$OUT/err"; then fail "31 February accepted"; fi
grep -q "names day 30 of February 2022, which has 28 days" "$OUT/err" || fail "$(cat "$OUT/err")"
if "$G" plan --scenario "$SCENARIO" --at "2022-06-21T10:00" 2>"$OUT/err"; then fail "zoneless time accepted"; fi
grep -q "has no UTC offset" "$OUT/err" || fail "$(cat "$OUT/err")"
echo PASS
