#!/usr/bin/env bash
# Installs what greenshift needs, builds it, and runs the demo: a lab with two sites, one VM
# serving HTTP, one live migration while a client pings it every 10 ms and runs
# ab -c 5 -n 10000 against it; the measurements are printed. Extra arguments go to
# `greenshift demo` (see `greenshift demo --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
exec build/src/cli/greenshift demo "$@"
