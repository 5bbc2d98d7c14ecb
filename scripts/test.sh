#!/usr/bin/env bash
# Installs what greenshift needs, builds it, and runs every test:
#   1. the unit tests under AddressSanitizer and UBSan (build-asan/, no guest image),
#   2. the parsers' libFuzzer targets, 10 s each (scripts/fuzz.sh; longer runs: scripts/fuzz.sh 600),
#   3. the full build (warnings are errors): unit tests, then the integration tests, which start
#      real QEMU guests in network namespaces (root needed), and the format check.
# Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

echo "== format check (.clang-format)"
unformatted=$(git ls-files '*.cc' '*.h' | xargs clang-format --dry-run 2>&1 | grep -c "warning:" || true)
if [[ $unformatted -ne 0 ]]; then
  git ls-files '*.cc' '*.h' | xargs clang-format --dry-run 2>&1 | head -20
  echo "test.sh: $unformatted formatting differences: run clang-format -i on the files above" >&2
  exit 1
fi

echo "== unit tests under AddressSanitizer + UBSan"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DGREENSHIFT_WERROR=ON \
  -DGREENSHIFT_SANITIZE=ON -DGREENSHIFT_BUILD_GUEST=OFF >/dev/null
ninja -C build-asan unit_tests greenshift
ctest --test-dir build-asan -L unit --output-on-failure -j2

echo "== parser fuzzing (libFuzzer, ASan + UBSan), bounded"
scripts/fuzz.sh 10

echo "== full build, unit and integration tests"
scripts/build.sh
ctest --test-dir build -L unit --output-on-failure -j2
ctest --test-dir build -L integration --output-on-failure
