#!/usr/bin/env bash
# Model I/O benchmark on an 8B-shaped (Llama-3-8B) sharded BF16 checkpoint layout, written
# sparse (only the embedding and head hold data):
#   1. `hyplora info` on it (headers only): median wall time, peak RSS;
#   2. reading its 128256 x 4096 embedding to float32 through the library: median time of
#      the read, peak RSS, bytes actually read (strace), against numpy doing the same read
#      from a memory map in the same run (its natural Python peer).
# Targets: peak RSS under 1.2x the float32 size of the embedding; nothing but the embedding
# read. Prints ratios; exits 1 when a target is missed.
#   tests/bench/bench_model_io.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
[ -x "$build/cli/hyplora" ] || build=$(scripts/setup release)
ninja -C "$build" >/dev/null
command -v strace >/dev/null && [ -x /usr/bin/time ] || apt-get install -y -qq strace time >/dev/null
hyplora=$build/cli/hyplora
reader=$build/tests/bench/read_embedding
work=${BENCH_DIR:-.cache/bench}
model=$work/llama3-8b-layout
mkdir -p "$work"
if [ ! -f "$model/model.safetensors.index.json" ]; then
    echo "writing the sparse 8B layout to $model (2 GB of real data)..." >&2
    "$hyplora" --quiet make-model -o "$model" --hidden 4096 --intermediate 14336 --layers 32 \
        --heads 32 --kv-heads 8 --vocab 128256 --shards 4 --sparse --no-tokenizer
fi

peer=$(mktemp --suffix=.py)
trap 'rm -f "$peer"' EXIT
cat >"$peer" <<'PY'
import json, mmap, resource, struct, sys, time
import numpy as np
t0 = time.monotonic()
d = sys.argv[1]
index = json.load(open(d + "/model.safetensors.index.json"))
f = open(d + "/" + index["weight_map"]["model.embed_tokens.weight"], "rb")
m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
(n,) = struct.unpack("<Q", m[:8])
e = json.loads(m[8:8 + n])["model.embed_tokens.weight"]
b, end = e["data_offsets"]
bits = np.frombuffer(m, dtype="<u2", count=(end - b) // 2, offset=8 + n + b)
x = (bits.astype(np.uint32) << 16).view(np.float32).reshape(e["shape"])
secs = time.monotonic() - t0
print("%.3f %d %.10e" % (secs, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, x.sum(dtype=np.float64)))
PY

median() { sort -n | sed -n "$(( ($1 + 1) / 2 ))p"; }
runs=5
declare -a th tp
rh=0 rp=0
for i in $(seq $runs); do
    read -r t r sum_h < <("$reader" "$model")
    th+=("$t"); [ "$r" -gt "$rh" ] && rh=$r
    read -r t r sum_p < <(/usr/bin/python3 "$peer" "$model")
    tp+=("$t"); [ "$r" -gt "$rp" ] && rp=$r
done
t_h=$(printf '%s\n' "${th[@]}" | median $runs)
t_p=$(printf '%s\n' "${tp[@]}" | median $runs)

ti=()
for i in $(seq $runs); do
    /usr/bin/time -f "%e %M" -o "$work/time.txt" "$hyplora" info "$model" >/dev/null
    read -r t ri <"$work/time.txt"; ti+=("$t")
done
t_i=$(printf '%s\n' "${ti[@]}" | median $runs)

strace -f -e trace=pread64,read -o "$work/strace.txt" "$reader" "$model" >/dev/null
read_b=$(awk -F'= ' '/p?read(64)?\(/ && $NF ~ /^[0-9]+$/ {s += $NF} END {print s + 0}' "$work/strace.txt")

/usr/bin/python3 - "$t_h" "$t_p" "$rh" "$rp" "$read_b" "$sum_h" "$sum_p" "$t_i" "$((ri / 1024))" <<'PY'
import sys
th, tp, rh, rp, rd, sh, sp, ti, ri = map(float, sys.argv[1:])
f32_mb = 128256 * 4096 * 4 / 2**20
emb_b = 128256 * 4096 * 2
print("8B layout (Llama-3-8B shapes, 4 BF16 shards, sparse)")
print(f"  hyplora info:                  {ti:.3f} s median, {ri:.0f} MB peak RSS")
print(f"  embedding -> float32, hyplora: {th:.3f} s median, {rh:.0f} MB peak RSS")
print(f"  embedding -> float32, numpy:   {tp:.3f} s median, {rp:.0f} MB peak RSS")
print(f"  time ratio hyplora/numpy:      {th / tp:.2f}")
print(f"  RSS ratio hyplora/numpy:       {rh / rp:.2f}")
print(f"  RSS / float32 embedding:       {rh / f32_mb:.3f}  (target < 1.2)")
print(f"  bytes read / embedding bytes:  {rd / emb_b:.4f}  (target: 1, nothing else read)")
same = abs(sh - sp) <= 1e-9 * max(1.0, abs(sp))
print(f"  checksums agree:               {'yes' if same else 'NO'} ({sh:.10e} vs {sp:.10e})")
sys.exit(0 if same and rh / f32_mb < 1.2 and rd / emb_b < 1.01 else 1)
PY
