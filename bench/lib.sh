# Shared by the lab benchmarks (bench/wan.sh, bench/storage.sh); each sets GREENSHIFT_LAB, then
# sources this: strict mode, the repository as working directory, the greenshift binary ($G) and
# guest image of the build, a scratch directory ($OUT) removed with the bench's lab on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
G=${GREENSHIFT:-build/src/cli/greenshift}
export GREENSHIFT_GUEST_DIR=${GREENSHIFT_GUEST_DIR:-build/guest}
OUT=$(mktemp -d)
trap '"$G" lab down >/dev/null 2>&1 || true; rm -rf "$OUT"' EXIT

# An awk function for the summary tables: median(list, n), the median of list[1..n].
# shellcheck disable=SC2034  # used by the scripts that source this
AWK_MEDIAN='
  function median(list, n,   sorted, i, j, t) {
    for (i = 1; i <= n; i++) sorted[i] = list[i]
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
      if (sorted[j] < sorted[i]) { t = sorted[i]; sorted[i] = sorted[j]; sorted[j] = t }
    return n % 2 ? sorted[(n + 1) / 2] : (sorted[n / 2] + sorted[n / 2 + 1]) / 2
  }'
