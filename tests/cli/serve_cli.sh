#!/bin/bash
# The command line of the service as an operator meets it: --version, usage errors,
# serve --check-config on good and bad configs. No root, no network.
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
echo "serve_cli: ok"
