#!/usr/bin/env bash
# Configures and builds greenshift into build/ (warnings are errors), with the guest image.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGREENSHIFT_WERROR=ON >/dev/null
ninja -C build
