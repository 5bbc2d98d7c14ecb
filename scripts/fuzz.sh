#!/usr/bin/env bash
# Builds the parsers' libFuzzer targets with clang (ASan + UBSan) into build-fuzz/ and runs each
# for a bounded time, one per core at a time, seeded with the real files in data/. Exits non-zero
# if any target found a crash, leak or sanitizer report (reproducers in build-fuzz/crashes/).
# usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 30)
#        scripts/fuzz.sh configure              (only configures build-fuzz/; scripts/test.sh
#                                                builds and runs the unit tests there first)
# GREENSHIFT_FUZZ_BUILD_TYPE (default RelWithDebInfo, the fastest fuzzers): scripts/test.sh
# builds Debug, which compiles its whole sanitized build (unit tests too) in half the time.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}

cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE="${GREENSHIFT_FUZZ_BUILD_TYPE:-RelWithDebInfo}" \
  -DGREENSHIFT_WERROR=ON \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
  -DGREENSHIFT_FUZZ=ON -DGREENSHIFT_SANITIZE=ON -DGREENSHIFT_BUILD_GUEST=OFF -DCMAKE_UNITY_BUILD=ON >/dev/null
[[ $seconds == configure ]] && exit 0
ninja -C build-fuzz $(ninja -C build-fuzz -t targets all | sed -n 's/^\(fuzz_[a-z_0-9]*\): .*/\1/p' | sort -u)

seed() {  # seed TARGET DIR FILES...: a corpus of real inputs, cut to 64 KiB each
  local dir=build-fuzz/corpus/$1
  mkdir -p "$dir"
  shift
  for f in "$@"; do head -c 65536 "$f" >"$dir/$(basename "$f")"; done
  echo "$dir"
}
declare -A corpus=(
  [power_curves]=$(seed power_curves data/wind/power_curves.csv)
  [windpowerlib_weather]=$(seed windpowerlib_weather data/wind/windpowerlib_weather_2010.csv)
  [timeseries_csv]=$(seed timeseries_csv data/pv/serf_east_15min_ac_power.csv data/pv/serf_east_psm3_data.csv)
  [openmeteo_json]=$(seed openmeteo_json data/weather/openmeteo_GB_2022.json tests/data/feeds/openmeteo_*.json)
  [epw]=$(seed epw data/weather/NLD_Amsterdam062400_IWEC.epw)
  [tmy3]=$(seed tmy3 data/weather/723170TYA.CSV)
  [pvgis_tmy]=$(seed pvgis_tmy data/weather/tmy_45.000_8.000_2005_2023.csv)
  [nsrdb_psm3]=$(seed nsrdb_psm3 data/weather/test_psm3_2017.csv)
  [reading_payload]=$(seed reading_payload /dev/null)
  [carbon_csv]=$(seed carbon_csv data/carbon/GB_2022_hourly.csv tests/data/feeds/electricitymaps_* \
    tests/data/feeds/watttime_*.json)
  [weather_table]=$(seed weather_table data/pv/serf_east_psm3_data.csv)
  [config_toml]=$(seed config_toml config/greenshift.example.toml)
  [api_request]=$(seed api_request /dev/null)
  [domain_xml]=$(seed domain_xml tests/data/libvirt/domain_db.xml)
)
printf '{"time":"2023-11-14T22:13:20+00:00","power_w":800}' >"${corpus[reading_payload]}/json"
printf '1234.5' >"${corpus[reading_payload]}/number"
printf '{"zone":"FR","history":[{"zone":"FR","carbonIntensity":40,"datetime":"2024-05-21T00:00:00.000Z"},{"zone":"FR","carbonIntensity":null,"datetime":"2024-05-21T01:00:00.000Z"}]}' \
  >"${corpus[carbon_csv]}/api.json"
printf '[{"latitude":50.1,"longitude":8.7,"minutely_15":{"time":[1654084800,1654085700],"shortwave_radiation":[700,null]}},{"latitude":51,"longitude":0,"hourly":{"time":["2022-06-01T12:00"]}}]' \
  >"${corpus[openmeteo_json]}/shapes.json"
printf '[service]\ntoken = "0123456789abcdef0"\n[feeds]\nretries = 1\n[[sites]]\nname = "a"\nlatitude = 1\nlongitude = 2\ncapacity_kw = 1\npv_kwp = 2\n[sites.weather_feed]\nurl = "https://x/v1/forecast?a=1"\n[sites.carbon_feed]\nkind = "csv"\nurl = "http://y/z.csv"\nevery_s = 60\n' \
  >"${corpus[config_toml]}/feeds.toml"
printf 'POST /api/readings\n[{"site":"a","sensor":"pv","time":"2022-07-01T11:59:00Z","power_w":500}]' \
  >"${corpus[api_request]}/readings"
printf 'POST /api/moves\n{"vm":"web","to":"b"}' >"${corpus[api_request]}/move"
printf 'POST /api/plans/1/approve\n' >"${corpus[api_request]}/approve"
printf 'GET /api/readings?site=a&since_utc_ms=0&limit=10\n' >"${corpus[api_request]}/query"
printf 'GET /metrics\n' >"${corpus[api_request]}/metrics"
printf 'GET /emissions/bylocations?location=a&location=b&time=2022-07-01T10:00Z&toTime=2022-07-01T12:00Z\n' \
  >"${corpus[api_request]}/emissions"
printf 'GET /emissions/forecasts/current?location=a&windowSize=120\n' >"${corpus[api_request]}/forecast"
printf 'GET /api/best-site?vm=web&hours=2\n' >"${corpus[api_request]}/best_site"

rm -rf build-fuzz/crashes build-fuzz/logs  # an earlier run's reproducers must not fail this one
mkdir -p build-fuzz/crashes build-fuzz/logs
# One target per core at a time (each fuzzer is one process on one core); each one's lines are
# printed when it ends, so the output reads target by target.
fuzz_one() {  # fuzz_one TARGET: runs it, its summary lines in build-fuzz/logs/TARGET.txt
  ASAN_OPTIONS=detect_leaks=1 build-fuzz/fuzz/fuzz_"$1" -max_total_time="$seconds" \
    -max_len=70000 -timeout=10 -rss_limit_mb=2048 -artifact_prefix=build-fuzz/crashes/"$1"- \
    -print_final_stats=0 "${corpus[$1]}" 2>&1 |
    grep -E "^Done [0-9]+ runs|ERROR|SUMMARY|Test unit written" >build-fuzz/logs/"$1".txt || true
}
lanes=$(nproc)
for target in "${!corpus[@]}"; do
  while (($(jobs -rp | wc -l) >= lanes)); do wait -n || true; done
  fuzz_one "$target" &
done
wait
failed=0
for target in "${!corpus[@]}"; do
  echo "== fuzz_$target for ${seconds}s"
  cat build-fuzz/logs/"$target".txt
  if ls build-fuzz/crashes/"$target"-* >/dev/null 2>&1; then
    echo "fuzz.sh: fuzz_$target found a failing input: $(ls build-fuzz/crashes/"$target"-*)" >&2
    failed=1
  fi
done
((failed == 0)) || exit 1
echo "fuzz.sh: no crash in ${#corpus[@]} targets x ${seconds}s"
