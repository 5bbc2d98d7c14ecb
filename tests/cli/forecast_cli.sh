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

# The clock check. The real file's clock agrees with the sun (within minutes).
jq -e '.clock_check | test("no stretch of days is an hour apart")' "$OUT/eval.json" >/dev/null ||
  fail "the real file's clock was doubted: $(jq -r .clock_check "$OUT/eval.json")"
# The same measurements as a logger on Denver's clock writes them, daylight saving and all,
# under one fixed offset (-07:00) all year: refused with the evidence; read with --tz they
# score as the real file does; forced through as labelled they score twice as badly.
awk -F, 'NR > 1 && NF == 2 { print $1 }' "$DATA/pv/serf_east_15min_ac_power.csv" >"$OUT/times.txt"
awk -F, 'NR > 1 && NF == 2 { print $2 }' "$DATA/pv/serf_east_15min_ac_power.csv" >"$OUT/values.txt"
TZ=America/Denver date -f "$OUT/times.txt" '+%Y-%m-%d %H:%M:%S-07:00' >"$OUT/local_times.txt"
{ echo "measured_on,ac_power"; paste -d, "$OUT/local_times.txt" "$OUT/values.txt"; } >"$OUT/local.csv"
if "$G" forecast evaluate "${SERF[@]}" --measured "$OUT/local.csv" 2>"$OUT/err" >/dev/null; then
  fail "a file an hour off all along was accepted"
fi
grep -q "later than the model's on all [0-9]* usable days" "$OUT/err" &&
  grep -q -- "--tz <its IANA zone>" "$OUT/err" || fail "no evidence: $(cat "$OUT/err")"
"$G" forecast evaluate "${SERF[@]}" --measured "$OUT/local.csv" --tz America/Denver --json \
  >"$OUT/eval_tz.json" || fail "--tz America/Denver refused the local file"
"$G" forecast evaluate "${SERF[@]}" --measured "$OUT/local.csv" --no-clock-check --json \
  >"$OUT/eval_forced.json" || fail "--no-clock-check refused the local file"
nmae='.methods[] | select(.method == "calibrated") | .nmae'
jq -e --slurpfile full "$OUT/eval.json" --slurpfile forced "$OUT/eval_forced.json" \
  "($nmae) as \$tz | (\$full[0] | $nmae) as \$real | (\$forced[0] | $nmae) as \$off |
   (\$tz - \$real | fabs) < 0.0005 and \$off > 2 * \$real" "$OUT/eval_tz.json" >/dev/null ||
  fail "calibrated nMAE: real $(jq "$nmae" "$OUT/eval.json"), --tz $(jq "$nmae" "$OUT/eval_tz.json"), as labelled $(jq "$nmae" "$OUT/eval_forced.json")"
# An hour off for five weeks only (relabelled -08:00 from 15 August to 20 September, the
# repeated hour at its end dropped): refused, naming the stretch.
awk -F, 'BEGIN { OFS = "," } NR > 1 && NF == 2 { d = substr($1, 1, 10)
           if (d >= "2016-08-15" && d <= "2016-09-20") sub(/-07:00$/, "-08:00", $1)
           if (d == "2016-09-21" && substr($1, 12, 2) == "00") next } { print }' \
  "$DATA/pv/serf_east_15min_ac_power.csv" >"$OUT/step.csv"
if "$G" forecast "${SERF[@]}" --sensor "$OUT/step.csv" --start "2016-09-25 10:00:00-06:00" \
  --calibrate-days 28 2>"$OUT/err" >/dev/null; then
  fail "a file an hour off for five weeks was accepted"
fi
grep -q "from 2016-08-15 to 2016-09-20 (median of [0-9]* usable days)" "$OUT/err" ||
  fail "the stretch is not named: $(cat "$OUT/err")"
if "$G" forecast evaluate "${SERF[@]}" --measured "$OUT/local.csv" --tz Europe/Atlantis 2>"$OUT/err"; then
  fail "an unknown zone was accepted"
fi
grep -q "time zone 'Europe/Atlantis' is not in the IANA database" "$OUT/err" || fail "$(cat "$OUT/err")"

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
