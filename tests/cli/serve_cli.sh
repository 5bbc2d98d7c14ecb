#!/bin/bash
# The command line of the service as an operator meets it: --version, usage errors,
# serve --check-config on good and bad configs, live feeds from a local HTTP server. No root,
# loopback only.
set -euo pipefail
G=${GREENSHIFT:?path to the greenshift binary}
SRC=${GREENSHIFT_SOURCE_DIR:?}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$G" --version | grep -Eq '^greenshift [0-9]+\.[0-9]+\.[0-9]+$' || fail "--version"

# A usage error fails with 1 and says so the way every error does.
set +e
"$G" serve --no-such-flag >/dev/null 2>"$OUT/err"
code=$?
set -e
[[ $code -eq 1 ]] || fail "usage error exited $code, not 1"
grep -q '^greenshift: error: .*(see greenshift --help)$' "$OUT/err" ||
  fail "usage error says: $(cat "$OUT/err")"
"$G" --help >/dev/null || fail "--help fails"

# --check-config reads the example and every file it names.
GREENSHIFT_TOKEN=5e0c7a1d9b3f42e68a17c0d4 "$G" serve --config "$SRC/config/greenshift.example.toml" \
  --check-config >"$OUT/ok"
grep -q 'greenshift.example.toml: ok (3 sites, 3 hosts, 2 VMs, mode dry-run, policy greedy-forecast, token from GREENSHIFT_TOKEN)' \
  "$OUT/ok" || fail "check-config says: $(cat "$OUT/ok")"

grep -q warning "$OUT/ok" && fail "the example warns: $(cat "$OUT/ok")"
# A site south of the equator whose array is set to face south (the pole): kept, and said.
sed 's/latitude = 50.11/latitude = -33.9\npv_azimuth = 180/' "$SRC/config/greenshift.example.toml" \
  >"$OUT/south.toml"
sed -i "s|\.\./data|$SRC/data|g; s|\.\./greenshift.db|$OUT/south.db|" "$OUT/south.toml"
GREENSHIFT_TOKEN=5e0c7a1d9b3f42e68a17c0d4 "$G" serve --config "$OUT/south.toml" --check-config \
  >"$OUT/south" || fail "a pole-facing array refused"
grep -q "warning: sites\[0\].pv_azimuth: 180 faces the pole at latitude -33.9 (the equator is at 0)" \
  "$OUT/south" || fail "no warning: $(cat "$OUT/south")"

# A placeholder token, a missing file: refused with what and where.
expect_error() {
  local want=$1
  shift
  if "$@" >/dev/null 2>"$OUT/err"; then fail "succeeded: $*"; fi
  grep -q "$want" "$OUT/err" || fail "'$want' not in: $(cat "$OUT/err")"
}
expect_error "looks like a placeholder" env GREENSHIFT_TOKEN=change-me-to-a-long-random-secret \
  "$G" serve --config "$SRC/config/greenshift.example.toml" --check-config
sed 's|openmeteo_GB_2022.json|openmeteo_GB_2099.json|' "$SRC/config/greenshift.example.toml" \
  >"$OUT/g.toml"
sed -i "s|\.\./data|$SRC/data|g; s|\.\./greenshift.db|$OUT/g.db|" "$OUT/g.toml"
expect_error "site 'london'.*openmeteo_GB_2099.json" env GREENSHIFT_TOKEN=5e0c7a1d9b3f42e68a17c0d4 \
  "$G" serve --config "$OUT/g.toml" --check-config
[[ ! -e "$OUT/g.db" ]] || fail "--check-config opened the store"
# --check-hosts asks every host through the driver what runs there, and exits.
sed "s|\.\./data|$SRC/data|g; s|\.\./greenshift.db|$OUT/s.db|; s|driver = \"qemu\"|driver = \"sim\"|" \
  "$SRC/config/greenshift.example.toml" >"$OUT/sim.toml"
GREENSHIFT_TOKEN=5e0c7a1d9b3f42e68a17c0d4 "$G" serve --config "$OUT/sim.toml" --check-hosts \
  >"$OUT/hosts"
grep -q '^host lon1 (site london): ok; no VMs$' "$OUT/hosts" || fail "check-hosts: $(cat "$OUT/hosts")"
grep -q '^VM web2 runs on no host$' "$OUT/hosts" || fail "check-hosts: $(cat "$OUT/hosts")"
[[ ! -e "$OUT/s.db" ]] || fail "--check-hosts opened the store"
# A libvirt host that does not answer is named, with libvirt's reason.
sed "s|driver = \"qemu\"|driver = \"libvirt\"|; s|^address = \"a\" .*|address = \"qemu+unix:///system?socket=$OUT/none\"|; s|^address = \"b\"|address = \"qemu+unix:///system?socket=$OUT/b\"|; s|^address = \"c\"|address = \"qemu+unix:///system?socket=$OUT/c\"|" \
  "$OUT/g.toml" | sed "s|openmeteo_GB_2099|openmeteo_GB_2022|" >"$OUT/lv.toml"
expect_error "host fra1 (qemu+unix:///system?socket=$OUT/none) does not answer: Failed to connect socket" \
  env GREENSHIFT_TOKEN=5e0c7a1d9b3f42e68a17c0d4 "$G" serve --config "$OUT/lv.toml" --check-hosts

# Live feeds, from a real HTTP server on loopback (busybox httpd) serving the project's
# response files: --check-feeds fetches each once; the service fetches them, says so on its
# health page and caches them.
PORT=""
for p in $(seq 18180 18230); do
  busybox httpd -f -p "127.0.0.1:$p" -h "$SRC/tests/data/feeds" 2>/dev/null &
  HTTPD=$!
  sleep 0.2
  if kill -0 "$HTTPD" 2>/dev/null; then PORT=$p; break; fi
done
[[ -n $PORT ]] || fail "no free port for busybox httpd"
SERVE=""
trap 'kill "$HTTPD" 2>/dev/null; [[ -n $SERVE ]] && kill "$SERVE" 2>/dev/null; rm -rf "$OUT"' EXIT
feeds_toml() {  # $1: the weather file the feed asks for
  cat <<EOF
[service]
database = "$OUT/feeds.db"
mode = "dry-run"
period_s = 600
[feeds]
retries = 0
timeout_s = 5
[[sites]]
name = "berlin"
latitude = 52.52
longitude = 13.41
capacity_kw = 1
pv_kwp = 5
[sites.weather_feed]
url = "http://127.0.0.1:$PORT/$1?latitude=52.52&longitude=13.41&timeformat=unixtime"
[sites.carbon_feed]
kind = "csv"
url = "http://127.0.0.1:$PORT/electricitymaps_export.csv"
[[hosts]]
name = "h1"
site = "berlin"
driver = "sim"
[[vms]]
name = "web"
host = "h1"
memory_mib = 256
peak_w = 100
EOF
}
export GREENSHIFT_TOKEN=5e0c7a1d9b3f42e68a17c0d4
feeds_toml openmeteo_minutely15_unixtime.json >"$OUT/feeds.toml"
"$G" serve --config "$OUT/feeds.toml" --check-feeds >"$OUT/check" || fail "check-feeds: $(cat "$OUT/check")"
grep -q "^site berlin weather (open-meteo http://127.0.0.1:$PORT/openmeteo_minutely15_unixtime.json): ok, 12 steps from 2026-06-21T10:00Z to 2026-06-21T13:00Z$" \
  "$OUT/check" || fail "check-feeds says: $(cat "$OUT/check")"
grep -q "^site berlin carbon (csv http://127.0.0.1:$PORT/electricitymaps_export.csv): ok, 6 values" \
  "$OUT/check" || fail "check-feeds says: $(cat "$OUT/check")"
[[ ! -e "$OUT/feeds.db" ]] || fail "--check-feeds opened the store"
feeds_toml no_such_file.json >"$OUT/missing.toml"
expect_error "a feed failed" "$G" serve --config "$OUT/missing.toml" --check-feeds
"$G" serve --config "$OUT/missing.toml" --check-feeds >"$OUT/check" 2>/dev/null || true
grep -q "failed: GET http://127.0.0.1:$PORT/no_such_file.json: HTTP 404" "$OUT/check" ||
  fail "a 404 not named: $(cat "$OUT/check")"

"$G" serve --config "$OUT/feeds.toml" --port 0 >"$OUT/serve.log" 2>&1 &
SERVE=$!
URL=""
for _ in $(seq 100); do
  URL=$(grep -o 'http://127.0.0.1:[0-9]*' "$OUT/serve.log" | head -1 || true)
  [[ -n $URL ]] && break
  sleep 0.1
done
[[ -n $URL ]] || fail "serve did not start: $(cat "$OUT/serve.log")"
for _ in $(seq 100); do
  [[ $(curl -fsS "$URL/api/health" | jq '[.feeds[] | select(.stale == false)] | length') == 2 ]] && break
  sleep 0.1
done
curl -fsS "$URL/api/health" >"$OUT/health"
jq -e '[.feeds[] | select(.stale == false and .fetches == 1 and .last_error == null)] | length == 2' \
  "$OUT/health" >/dev/null || fail "feeds not fetched: $(cat "$OUT/health")"
jq -e '.feeds[0].data_until == "2026-06-21T13:00:00Z"' "$OUT/health" >/dev/null ||
  fail "weather feed: $(jq -c '.feeds[0]' "$OUT/health")"
curl -fsS "$URL/metrics" | grep -q '^greenshift_feed_stale{site="berlin",feed="carbon"} 0$' ||
  fail "no feed metrics"
[[ -s "$OUT/feeds.db.feeds/berlin.weather.body" && -s "$OUT/feeds.db.feeds/berlin.carbon.body" ]] ||
  fail "not cached"
kill -TERM "$SERVE"
wait "$SERVE" || fail "serve exited $?"
SERVE=""
echo "serve_cli: ok"
