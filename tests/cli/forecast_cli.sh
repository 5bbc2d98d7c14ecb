#!/bin/bash
# greenshift forecast and forecast evaluate, run as a user would, on the real SERF East data.
set -euo pipefail
G=${GREENSHIFT:?path to the greenshift binary}
DATA=${GREENSHIFT_SOURCE_DIR:?}/data
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
SERF=(--weather "$DATA/pv/serf_east_psm3_data.csv" --lat 39.742 --lon -105.179 --pv-kw 5.4
      --inverter-kw 5.4 --tilt 45 --azimuth 158)
fail() { echo "FAIL: $*" >&2; exit 1; }

# evaluate --json: every method on the same slots; the calibrated model beats both baselines.
"$G" forecast evaluate "${SERF[@]}" --measured "$DATA/pv/serf_east_15min_ac_power.csv" --json \
  > "$OUT/eval.json"
jq -e '.methods | length == 5' "$OUT/eval.json" >/dev/null || fail "not 5 methods"
jq -e '[.methods[].slots] | unique | length == 1 and .[0] > 1000' "$OUT/eval.json" >/dev/null ||
  fail "methods scored on different slots"
jq -e '(.methods | map({(.method): .nmae}) | add) as $m |
       $m.calibrated < $m["talk-formula"] and $m.calibrated < $m.persistence and
       $m.calibrated < 0.06' "$OUT/eval.json" >/dev/null || fail "calibrated model does not win"

# A monitoring export with gaps (every 7th value blank, and a whole day on 2016-09-10 as NaN):
# read, the gaps counted as missing (not rejections), their slots left out of the scores.
awk -F, 'BEGIN { OFS = "," } NR > 1 && NF == 2 && (NR % 7 == 0) { $2 = "" }
         NR > 1 && index($1, "2016-09-10 ") == 1 { $2 = "NaN" } { print }' \
  "$DATA/pv/serf_east_15min_ac_power.csv" >"$OUT/gaps.csv"
blanks=$(awk -F, 'NR > 1 && NF == 2 && ($2 == "" || $2 == "NaN")' "$OUT/gaps.csv" | wc -l)
rows=$(awk -F, 'NR > 1 && NF == 2' "$OUT/gaps.csv" | wc -l)
[[ $blanks -gt 1500 ]] || fail "the gap file has only $blanks gaps"
"$G" forecast evaluate "${SERF[@]}" --measured "$OUT/gaps.csv" --json >"$OUT/eval_gaps.json" ||
  fail "a file with gaps was refused"
jq -e --argjson n "$blanks" '.readings_missing == $n and .readings_rejected == 0 and
       .readings_accepted + .readings_missing == '"$rows" "$OUT/eval_gaps.json" >/dev/null ||
  fail "gaps not counted as missing: $(jq -c '{readings_accepted, readings_rejected, readings_missing}' "$OUT/eval_gaps.json")"
jq -e --slurpfile full "$OUT/eval.json" '
  (.methods | map({(.method): .}) | add) as $g |
  ($full[0].methods | map({(.method): .}) | add) as $f |
  $g.calibrated.slots < $f.calibrated.slots and
  ($g.calibrated.nmae - $f.calibrated.nmae | fabs) < 0.005' "$OUT/eval_gaps.json" >/dev/null ||
  fail "the day of gaps was scored, or the scores moved: $(jq -c '.methods[2]' "$OUT/eval_gaps.json")"
"$G" forecast evaluate "${SERF[@]}" --measured "$OUT/gaps.csv" | grep -q "missing (gaps" ||
  fail "the table does not say how many values were missing"

# forecast: 48 hourly slots from the given start, sensor-corrected, calibrated, with an SVG.
"$G" forecast "${SERF[@]}" --sensor "$DATA/pv/serf_east_15min_ac_power.csv" \
  --start "2016-08-20 10:00:00-06:00" --calibrate-days 28 --svg "$OUT/f.svg" --json > "$OUT/f.json"
jq -e '.slots | length == 48' "$OUT/f.json" >/dev/null || fail "not 48 slots"
jq -e '.start == "2016-08-20T16:00Z" and .sensor_slots == 3 and .calibration_slots > 1000' \
  "$OUT/f.json" >/dev/null || fail "start, sensor correction or calibration missing"
jq -e '[.slots[].green_w] | max > 3000 and max <= 5400 and min >= 0' "$OUT/f.json" >/dev/null ||
  fail "forecast outside 0..capacity"
grep -q '<svg' "$OUT/f.svg" && grep -q 'class="series"' "$OUT/f.svg" || fail "no chart"

# Table output names the slots.
"$G" forecast "${SERF[@]}" --start "2016-08-20 10:00:00-06:00" --hours 6 > "$OUT/table.txt"
grep -q '^2016-08-20T16:00Z' "$OUT/table.txt" || fail "table has no slot rows"

# Bad input: clear errors that name what was wrong, and a failing exit code.
expect_error() {
  local want=$1
  shift
  if "$G" "$@" > "$OUT/out" 2> "$OUT/err"; then fail "succeeded: $*"; fi
  grep -q -- "$want" "$OUT/err" || { cat "$OUT/err" >&2; fail "error does not say '$want'"; }
}
expect_error "does not say where it is" forecast --weather "$DATA/pv/serf_east_psm3_data.csv" --pv-kw 5
expect_error "no installation" forecast --weather "$DATA/weather/openmeteo_GB_2022.json"
expect_error "does not cover the slot at 2023-01-01T00:00Z" forecast \
  --weather "$DATA/weather/openmeteo_GB_2022.json" --pv-kw 5 --start 2023-01-01T00:00:00Z
expect_error "no column 'power'" forecast evaluate "${SERF[@]}" \
  --measured "$DATA/pv/serf_east_15min_ac_power.csv" --column power
expect_error "shorter than 120 training days" forecast evaluate "${SERF[@]}" \
  --measured "$DATA/pv/serf_east_15min_ac_power.csv" --train-days 120
expect_error "needs --curves" forecast --weather "$DATA/weather/openmeteo_GB_2022.json" \
  --turbine E-126/4200
echo "forecast CLI: ok"
