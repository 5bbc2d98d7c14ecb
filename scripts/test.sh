#!/usr/bin/env bash
# Installs what greenshift needs, builds it, and runs every test:
#   1. the unit tests under AddressSanitizer and UBSan, built with clang in the fuzz build
#      (build-fuzz/, no guest image: one sanitizer build serves both, its libraries instrumented
#      for the fuzzers' coverage as well),
#   2. the service's threaded tests (engine, executor, API server, same-engine, MQTT, feeds) under
#      ThreadSanitizer (build-tsan/),
#   3. the libFuzzer targets, 10 s each (scripts/fuzz.sh, in the same build; longer runs:
#      scripts/fuzz.sh 600),
#   4. the full build (warnings are errors): unit tests, then the integration tests, which start
#      real QEMU guests in network namespaces (root needed), two at a time, each on its own lab,
#      but those that measure guest-visible timing alone (tests/CMakeLists.txt), and the service
#      as a process under attack.
# Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each phase says how long it took, and the end lists them (where CI's time goes).
timings=()
phase_name=""
phase_start=$SECONDS
phase() {  # phase [NAME]: ends the phase before and begins NAME
  if [[ -n $phase_name ]]; then
    timings+=("$(printf '%5d s  %s' $((SECONDS - phase_start)) "$phase_name")")
  fi
  phase_name=${1:-}
  phase_start=$SECONDS
  if [[ -n $phase_name ]]; then echo "== $phase_name ($(date -u +%H:%M:%S))"; fi
}
# The list is printed at the end, a failed run's too (up to the phase that failed).
report() {
  phase
  echo "== time per phase ($((SECONDS / 60)) min $((SECONDS % 60)) s in all)"
  printf '%s\n' "${timings[@]}"
}
trap report EXIT

phase "setup (scripts/setup.sh)"
scripts/setup.sh

phase "format check (.clang-format)"
unformatted=$(git ls-files '*.cc' '*.h' | xargs clang-format --dry-run 2>&1 | grep -c "warning:" || true)
if [[ $unformatted -ne 0 ]]; then
  git ls-files '*.cc' '*.h' | xargs clang-format --dry-run 2>&1 | head -20
  echo "test.sh: $unformatted formatting differences: run clang-format -i on the files above" >&2
  exit 1
fi

phase "unit tests under AddressSanitizer + UBSan (clang, the fuzz build)"
# One sanitized build for both, with clang (one build instead of two: GCC's ASan build of the
# unit tests and clang's of the fuzzers); GCC still compiles everything in the full build below,
# so both compilers' warnings stay errors. Debug (-O0): clang compiled everything with ASan and
# coverage in 9.5 min of CPU at -O0, 22 min at -O2, whose faster tests (133 s instead of
# 265 s) do not make up for it; 10 s of each fuzzer is a bounded check either way.
export GREENSHIFT_FUZZ_BUILD_TYPE=Debug
scripts/fuzz.sh configure
ninja -C build-fuzz unit_tests greenshift driver_conformance_tests
ctest --test-dir build-fuzz -L unit --output-on-failure -j2

phase "the service's threaded tests under ThreadSanitizer"
# Line tables only (-g1): TSan's reports name functions, files and lines; full debug info (-g)
# made GCC take a third longer (the threaded tests' biggest unity batch: 83 s, 63 s with -g1).
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGREENSHIFT_WERROR=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
  -DGREENSHIFT_TSAN=ON -DGREENSHIFT_BUILD_GUEST=OFF -DCMAKE_UNITY_BUILD=ON >/dev/null
ninja -C build-tsan threaded_tests energy_integration_tests
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
build-tsan/tests/threaded_tests --gtest_brief=1
build-tsan/tests/energy_integration_tests --gtest_brief=1 \
  --gtest_filter='MqttIntegrationTest.TheServiceReadsMqttSensors:MqttIntegrationTest.ItSubscribesAgainAfterTheBrokerRestarts'
unset TSAN_OPTIONS

phase "fuzzing (libFuzzer, ASan + UBSan), bounded"
scripts/fuzz.sh 10

phase "full build (warnings are errors)"
scripts/build.sh
phase "unit tests"
ctest --test-dir build -L unit --output-on-failure -j2
phase "integration tests"
ctest --test-dir build -L integration --output-on-failure -j2
