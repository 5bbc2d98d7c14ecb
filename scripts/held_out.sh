#!/usr/bin/env bash
# Decisions on data they were not tuned on (docs/placement.md, "Held-out months"): the
# greedy-forecast's parameters (horizon, hysteresis in kg, green margin) are chosen on one half
# of the scenario's year and reported on the other, both ways, against static, the clairvoyant
# plan and the oracle's bound, with migrations per VM per day. The choice is the least CO2 among
# the settings that moved each VM at most once a day on average on the tuning half (an
# operator's move budget: a setting over it is not a candidate). 14 to 20 minutes on 2 cores
# (the clairvoyant and optimal runs are half of it). No root.
# usage: scripts/held_out.sh [SCENARIO] [SPLIT] [BUDGET]   (default: the shipped 2022 scenario,
#        split on 2022-07-01T08:00:00Z, 181 days after its start; at most 1 move/VM/day)
set -euo pipefail
cd "$(dirname "$0")/.."
G=${GREENSHIFT:-build/src/cli/greenshift}
S=${1:-data/scenarios/three-sites-2022.json}
SPLIT=${2:-2022-07-01T08:00:00Z}
BUDGET=${3:-1}
start=$(jq -r .start "$S")
first_days=$(( ($(date -d "$SPLIT" +%s) - $(date -d "$start" +%s)) / 86400 ))
OUT=$(mktemp -d)
dir=$(dirname "$S")
trap 'rm -rf "$OUT"; rm -f "$dir"/.held_out_*.json' EXIT
half_args() { if [[ $1 == first ]]; then echo "--days $first_days"; else echo "--from $SPLIT"; fi; }

# HELD_OUT_FROM=DIR: the tables again from a kept run's lines (HELD_OUT_KEEP), without running.
if [[ -n ${HELD_OUT_FROM:-} ]]; then
  cp "$HELD_OUT_FROM/grid.jsonl" "$HELD_OUT_FROM/refs.jsonl" "$OUT/"
else
# The grid, each half: a copy of the scenario beside it (its data paths are relative to it).
for h in 4 5 6; do for k in 0.02 0.03 0.04; do for m in 0 0.1; do
  name="h${h}_kg${k}_m${m}"
  jq ".policy.horizon_hours = $h | .policy.hysteresis_kg = $k | .policy.green_margin_fraction = $m" \
    "$S" >"$dir/.held_out_$name.json"
  for half in first second; do
    # shellcheck disable=SC2046
    "$G" simulate --scenario "$dir/.held_out_$name.json" $(half_args $half) \
      --policies greedy-forecast --json --quiet |
      jq -c --arg n "$name" --arg half $half \
        '.policies[1] | {n: $n, half: $half, co2: .co2_kg, m: .migrations_per_vm_day,
           m30: .busiest_30_days_migrations_per_vm_day, m91: .busiest_91_days_migrations_per_vm_day}'
  done
  rm -f "$dir/.held_out_$name.json"
done; done; done >"$OUT/grid.jsonl"
# The references and the other policies at the scenario's own parameters, each half.
for half in first second; do
  # shellcheck disable=SC2046
  "$G" simulate --scenario "$S" $(half_args $half) --policies follow-sensor,greedy-forecast,optimal \
    --clairvoyant --json --quiet | jq -c --arg half $half '{half: $half, policies}'
done >"$OUT/refs.jsonl"
fi

report() {  # the tables, from the runs' lines
  jq -r -n --slurpfile grid "$1" --slurpfile refs "$2" --argjson budget "$BUDGET" '
    def ref($half; $p): ($refs[] | select(.half == $half) | .policies[] | select(.policy == $p));
    def closed($co2; $half; $to): (ref($half; "static").co2_kg - $co2)
        / (ref($half; "static").co2_kg - ref($half; $to).co2_kg) * 100;
    # . with $d decimals, as printf %.*f writes a figure >= 0.
    def fixed($d): pow(10; $d) as $p | (. * $p | round) as $t | ($t % $p | tostring) as $f
        | "\($t / $p | floor).\([range($d - ($f | length))] | map("0") | add // "")\($f)";
    def pct: fixed(1) + " %";
    def pct2: fixed(2) + " %";
    def two: fixed(2);
    def three: fixed(3);
    "| tuned on | reported on | chosen (horizon h, hysteresis kg, green margin) | kg CO2 | of static -> clairvoyant | of static -> oracle | migrations/VM/day |",
    "|---|---|---|---|---|---|---|",
    ((["first", "second"], ["second", "first"]) as [$fit, $rep]
     | [$grid[] | select(.half == $fit and .m <= $budget)] as $candidates
     | if ($candidates | length) == 0 then
         "| \($fit) half | \($rep) half | no setting moved VMs at most \($budget) times a day | - | - | - | - |"
       else
         ($candidates | min_by(.co2)) as $best
         | ($grid[] | select(.half == $rep and .n == $best.n)) as $r
         | "| \($fit) half | \($rep) half | greedy-forecast \($best.n) | \($r.co2 | round) | \(closed($r.co2; $rep; "clairvoyant") | pct2) | \(closed($r.co2; $rep; "oracle") | pct) | \($r.m | three) |"
       end),
    "",
    "| half | policy | kg CO2 | of static -> clairvoyant | of static -> oracle | migrations/VM/day |",
    "|---|---|---|---|---|---|",
    ($refs[] | .half as $half | .policies[]
     | "| \($half) | \(.policy) | \(.co2_kg | round) | \((.gap_closed_clairvoyant // 0) * 100 | pct) | \((.gap_closed // 0) * 100 | pct) | \(.migrations_per_vm_day | two) |"),
    "",
    "Every setting (of static -> clairvoyant, migrations/VM/day):",
    "",
    "| setting | first half | second half |",
    "|---|---|---|",
    ($grid | group_by(.n)[] | .[0].n as $n
     | (map(select(.half == "first"))[0]) as $a | (map(select(.half == "second"))[0]) as $b
     | "| \($n) | \(closed($a.co2; "first"; "clairvoyant") | pct2), \($a.m | three) | \(closed($b.co2; "second"; "clairvoyant") | pct2), \($b.m | three) |")'
}
# HELD_OUT_KEEP=DIR keeps the runs' lines there (to report them again without running).
if [[ -n ${HELD_OUT_KEEP:-} ]]; then cp "$OUT/grid.jsonl" "$OUT/refs.jsonl" "$HELD_OUT_KEEP/"; fi
report "$OUT/grid.jsonl" "$OUT/refs.jsonl"
