#!/usr/bin/env bash
# The dashboard in a real browser (Debian's headless Chromium): the service runs a replayed
# morning with the sim driver; the page must load Chart.js, draw both charts, fill the VM table
# and the migration history, and a screenshot is saved (GREENSHIFT_ARTIFACT_DIR/dashboard.png).
set -euo pipefail
: "${GREENSHIFT:?GREENSHIFT must name the greenshift binary}"
G=$GREENSHIFT
source "$(dirname "$0")/lib.sh" 2>/dev/null || true  # for check/fail (root-only parts unused)
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$TMP"' EXIT
ARTIFACTS=${GREENSHIFT_ARTIFACT_DIR:-$TMP}
mkdir -p "$ARTIFACTS"
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[[ -n $CHROMIUM ]] || { echo "FAIL: chromium is not installed (scripts/setup.sh installs it)" >&2; exit 1; }

write_replay "$TMP" 60
write_service_config "$TMP/greenshift.toml" 1200 sim
cat >>"$TMP/greenshift.toml" <<TOML

[[vms]]
name = "db"
host = "b1"
memory_mib = 2048
peak_w = 200
power_w = 150
TOML
cd "$TMP"
start_service "$TMP/greenshift.toml" "$TMP/serve.log"
# 10 min of replayed time every 0.5 s: the green power moves to b after ~3 s, and web with it.
deadline=$((SECONDS + 60))
until [[ $(curl -fsS "$SERVICE_URL/api/vms" | jq -r '.[] | select(.name == "web") | "\(.site) \(.moving)"') == "b false" ]]; do
  ((SECONDS < deadline)) || fail "web never moved to b: $(curl -fsS "$SERVICE_URL/api/moves")"
  sleep 0.2
done

run_chromium() {
  timeout 90 "$CHROMIUM" --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --no-first-run --hide-scrollbars --window-size=1400,1200 --virtual-time-budget=8000 "$@" \
    2>>"$TMP/chromium.log"
}
run_chromium --dump-dom "$SERVICE_URL/" >"$TMP/dom.html" || { tail "$TMP/chromium.log" >&2; fail "chromium failed"; }
run_chromium --screenshot="$ARTIFACTS/dashboard.png" "$SERVICE_URL/" >/dev/null ||
  { tail "$TMP/chromium.log" >&2; fail "chromium could not take a screenshot"; }

check "the page's script ran to the end" grep -q 'data-ready="yes"' "$TMP/dom.html"
check "Chart.js drew both charts" grep -q 'data-charts="2"' "$TMP/dom.html"
check "the VM table lists web and db" bash -c "grep -q '<td>web</td>' '$TMP/dom.html' && grep -q '<td>db</td>' '$TMP/dom.html'"
check "web is shown on site b, host b1" grep -q '<td>web</td><td><b>b</b></td><td>b1</td>' "$TMP/dom.html"
check "the migration history shows the completed move" grep -q 'class="completed">completed' "$TMP/dom.html"
check "no error on the page" bash -c "! grep -q '<div id=\"error\">[^<]' '$TMP/dom.html'"
size=$(stat -c %s "$ARTIFACTS/dashboard.png")
check "a screenshot was saved ($ARTIFACTS/dashboard.png, $size bytes)" test "$size" -gt 20000
echo "PASS"
