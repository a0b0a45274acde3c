#!/usr/bin/env bash
# Data-parallel benchmark (docs/distributed.md): on this machine's cores, 2 ranks x 1 thread
# (mpirun -np 2) against 1 rank x 2 threads (no mpirun), for
#   pretrain  every weight of the demo model's shape (6 layers, 128 hidden, vocabulary
#             32000; 5.3M parameters, 21.2 MB of gradient a step), batch 16 = 2
#             micro-batches of 8 x 256, on the vendored MAWPS training text;
#   lora      LoRA r 32 on q, k, v, up, down of the model that run made, batch 16 = 2
#             micro-batches of 8 MAWPS training items.
# BENCH_STEPS (8) optimiser steps each; the step time is the median over the steps after
# the first (from the training log: tokens / tokens per second). The ranks' time in MPI per
# step (waiting at a barrier for the slower rank, then summing) and the bandwidth their
# allreduce achieved (bytes summed / seconds summing) come from the run's "mpi:" line;
# beside it, a plain MPI_Allreduce of the same size (allreduce_peer, median of 20) in the
# same run.
# Then the commands that share out items, on the model the pretraining run made, wall time
# (median of BENCH_REPEATS, 3) of the same two sides:
#   delta     per prompt, the embeddings and every layer, the 1319 GSM8K test questions;
#   eval      greedy, the 238 MAWPS test items, 48 new tokens each.
# Prints the tables and the ratios (no target: the issue asks for the measurement).
#   tests/bench/bench_mpi.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
[ -x "$build/cli/hyplora" ] || build=$(scripts/setup release)
ninja -C "$build" >/dev/null
hyplora=$build/cli/hyplora
peer=$build/tests/bench/allreduce_peer
if [ ! -x "$peer" ] || ! command -v mpirun >/dev/null; then
    echo "bench_mpi.sh: $build has no MPI build (install libopenmpi-dev openmpi-bin, then reconfigure)" >&2
    exit 1
fi
/usr/bin/python3 -c 'import h5py, numpy' 2>/dev/null || apt-get install -y -qq python3-h5py python3-numpy >/dev/null
work=${BENCH_DIR:-.cache/bench}
mkdir -p "$work"
steps=${BENCH_STEPS:-8}
. tests/bench/lib.sh
mpirun=(mpirun -np 2)
[ "$(id -u)" -eq 0 ] && mpirun+=(--allow-run-as-root)

common=(--batch 16 --micro-batch 8 --steps "$steps" --warmup 1 --eval-every 0 --checkpoint-every 0)
pretrain=(pretrain --tokenizer notebooks-data/tokenizers/llama2 --hidden 128 --layers 6 --heads 4 --context 256
    --val-size 2 --field text notebooks-data/datasets/mawps/train-text.jsonl "${common[@]}")
lora=(train "$tmp/pre-1x2" notebooks-data/datasets/mawps/train.json --method lora "${common[@]}")

# median step seconds after the first, from a training log
median_step() {
    /usr/bin/python3 - "$1/train_log.h5" <<'PY'
import sys, h5py, numpy as np
g = h5py.File(sys.argv[1], "r")["train"]
print("%.4f" % np.median(g["tokens"][1:] / g["tokens_per_s"][1:]))
PY
}

# row WORKLOAD SIDE OUT PARAMS: prints the table row of the run in OUT (its output in OUT.log)
row() {
    local workload=$1 side=$2 out=$3 params=$4
    local step mpi_s gbs plain
    step=$(median_step "$out")
    if grep -q '^mpi:' "$out.log"; then
        mpi_s=$(sed -n 's/^mpi: .* \([0-9.]*\) s waiting .* \([0-9.]*\) s in collectives.*/\1 + \2/p' "$out.log")
        gbs=$(sed -n 's/.* at \([0-9.]*\) GB\/s$/\1/p' "$out.log")
        plain=$("${mpirun[@]}" "$peer" "$params" 20 | sed -n 's/^gb_per_s //p')
    else
        mpi_s=-; gbs=-; plain=-
    fi
    printf '| %s | %s | %s | %s | %s | %s |\n' "$workload" "$side" "$step" "$mpi_s" "$gbs" "$plain"
    echo "$step" >"$out.step"
}

echo "| workload | side | step s (median) | MPI s per step: waiting + summing | allreduce GB/s | plain MPI_Allreduce GB/s |"
echo "|---|---|---|---|---|---|"
for w in pretrain lora; do
    if [ $w = pretrain ]; then args=("${pretrain[@]}"); else args=("${lora[@]}"); fi
    run "${w:0:3}-1x2.log" "$hyplora" --threads 2 "${args[@]}" -o "$tmp/${w:0:3}-1x2"
    run "${w:0:3}-2x1.log" "${mpirun[@]}" "$hyplora" --threads 1 "${args[@]}" -o "$tmp/${w:0:3}-2x1"
    if [ $w = pretrain ]; then
        params=$(sed -n 's/^model: \([0-9]*\) parameters.*/\1/p' "$tmp/pre-1x2.log")
    else
        params=$(sed -n 's/.* rank 32, \([0-9]*\) trainable parameters$/\1/p' "$tmp/lor-1x2.log")
    fi
    row $w "1 rank x 2 threads" "$tmp/${w:0:3}-1x2" "$params"
    row $w "2 ranks x 1 thread" "$tmp/${w:0:3}-2x1" "$params"
done
for w in pretrain lora; do
    /usr/bin/python3 -c 'import sys; a, b = (float(open(p).read()) for p in sys.argv[2:]); print("%s: 2 ranks x 1 thread take %.2fx the step time of 1 rank x 2 threads" % (sys.argv[1], b / a))' \
        "$w" "$tmp/${w:0:3}-1x2.step" "$tmp/${w:0:3}-2x1.step"
done

# The commands that share out items: wall seconds, median of BENCH_REPEATS runs.
repeats=${BENCH_REPEATS:-3}
delta=(delta "$tmp/pre-1x2" --data notebooks-data/datasets/gsm8k/test.json --layers all)
eval_=(eval "$tmp/pre-1x2" notebooks-data/datasets/mawps/test.json --max-new 48)

# wall SIDE ARGS...: median seconds of the command, SIDE 1x2 (one process) or 2x1 (mpirun)
wall() {
    local side=$1
    shift
    for _ in $(seq "$repeats"); do
        local t0 t1
        rm -f "$tmp/out.h5" "$tmp/out.json"
        t0=$(date +%s.%N)
        if [ "$side" = 1x2 ]; then
            run wall.log "$hyplora" --quiet --threads 2 "$@"
        else
            run wall.log "${mpirun[@]}" "$hyplora" --quiet --threads 1 "$@"
        fi
        t1=$(date +%s.%N)
        /usr/bin/python3 -c "print($t1 - $t0)"
    done | sort -n | sed -n "$(((repeats + 1) / 2))p"
}

echo
echo "| command | 1 rank x 2 threads s | 2 ranks x 1 thread s | ratio |"
echo "|---|---|---|---|"
for w in delta eval; do
    if [ $w = delta ]; then args=("${delta[@]}" -o "$tmp/out.h5"); else args=("${eval_[@]}" -o "$tmp/out.json"); fi
    a=$(wall 1x2 "${args[@]}")
    b=$(wall 2x1 "${args[@]}")
    /usr/bin/python3 -c 'import sys; a, b = map(float, sys.argv[2:]); print("| %s | %.2f | %.2f | %.2fx |" % (sys.argv[1], a, b, b / a))' "$w" "$a" "$b"
done
