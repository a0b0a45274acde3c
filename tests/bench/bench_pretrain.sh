#!/usr/bin/env bash
# Pretraining-step benchmark: every weight trained (train_bench --method full, the step of
# hyplora pretrain: hp_pretrain_step) on random-weight BF16 checkpoints made here the same way
# as bench_forward.sh's (in .cache/bench/, heads tied, widened to float32 by the trainer):
#   demo-h128x6  the demo model's shape (scripts/demo): 6 layers, 128 hidden,
#                352 intermediate, 4/4 heads, vocabulary 32000; micro-batch 8 x 256;
#   smollm-135m  SmolLM-135M's shape (bench_train.sh's checkpoint): 30 layers, 576 hidden,
#                1536 intermediate, 9/3 heads, vocabulary 49152; micro-batch 4 x 256.
# One micro-batch of random ids with a target at every position, AdamW at lr 3e-4 (betas
# 0.9, 0.95, weight decay 0.1 on the matrices and the embedding, none on the norms),
# gradients clipped to norm 1. In the same run, for each model, BENCH_REPEAT (2) times in
# turn, keeping the best figures of each program (this shared VM drifts by 20-30%):
#   1. sgemm_peak: OpenBLAS sgemm GFLOP/s on 2048^3 (the peak);
#   2. train_bench --method full: one warm-up step, the median of BENCH_STEPS timed steps (3
#      on the demo shape, 2 on SmolLM): step seconds, tokens/s, GFLOP/s counted as 6 x
#      parameters x tokens (every weight once, the tied head being the embedding; 2 FLOPs a
#      weight a token forward, 4 backward: input and weight gradients), peak RSS;
#   3. train_peer.py --method full: the same step written in PyTorch 1.13 (autograd, float32,
#      every weight a leaf requiring gradients, same threads, same ids, torch.optim.AdamW
#      with the same betas and weight decay, clip_grad_norm_), measured the same way; with
#      passive OpenMP waiting (tuned, as forward_peer.py) and as installed (--default-omp).
# Both sides print the warm-up step's loss, that of the file's weights on the batch: they
# must agree (checked to 1e-3).
# Targets (the issue's): tokens/s >= 2x PyTorch's (as installed; the tuned ratio is shown
# too) on both shapes; on the SmolLM shape >= 60% of the sgemm peak in useful GFLOP/s. Peak
# RSS is shown beside PyTorch's. Prints a table and the ratios; exits 1 when a target is
# missed.
#   tests/bench/bench_pretrain.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
[ -x "$build/cli/hyplora" ] || build=$(scripts/setup release)
ninja -C "$build" >/dev/null
/usr/bin/python3 -c 'import numpy, torch' 2>/dev/null ||
    apt-get install -y -qq python3-numpy python3-torch >/dev/null
hyplora=$build/cli/hyplora
train=$build/tests/bench/train_bench
peak=$build/tests/bench/sgemm_peak
work=${BENCH_DIR:-.cache/bench}
threads=${BENCH_THREADS:-$(nproc)}
mkdir -p "$work"

# name, batch, seq, timed steps (BENCH_STEPS overrides), make-model's shape options
models=(
    "demo-h128x6 8 256 3 --hidden 128 --intermediate 352 --layers 6 --heads 4 --kv-heads 4 --vocab 32000"
    "smollm-135m 4 256 2 --hidden 576 --intermediate 1536 --layers 30 --heads 9 --kv-heads 3 --vocab 49152"
)
. tests/bench/lib.sh
for spec in "${models[@]}"; do
    read -r name _ _ _ shape <<<"$spec"
    # shellcheck disable=SC2086
    bench_model "$name" $shape
done

repeat=${BENCH_REPEAT:-2}
sides=(full peer default)
for spec in "${models[@]}"; do
    read -r name batch seq steps _ <<<"$spec"
    steps=${BENCH_STEPS:-$steps}
    opts=(--method full --batch "$batch" --seq "$seq" --steps "$steps" --threads "$threads")
    for r in $(seq "$repeat"); do
        run "sgemm-$name.$r" "$peak" --threads "$threads" --mb 100
        run "full-$name.$r" "$train" "$work/fwd-$name" "${opts[@]}"
        run "peer-$name.$r" /usr/bin/python3 tests/bench/train_peer.py "$work/fwd-$name" "${opts[@]}"
        run "default-$name.$r" /usr/bin/python3 tests/bench/train_peer.py "$work/fwd-$name" "${opts[@]}" \
            --default-omp
    done
    for f in sgemm "${sides[@]}"; do
        best "$tmp/$f-$name".[0-9]* >"$tmp/$f-$name"
    done
done

echo "threads $threads; every weight trained, AdamW; GFLOP/s = 6 x parameters x tokens / step"
printf '%-12s %-16s %6s %8s %8s %8s %6s %9s %8s %9s\n' model side "BxT" "step s" "tok/s" "GFLOP/s" "%peak" "GF/s all" "RSS MB" "loss0"
miss=0
for spec in "${models[@]}"; do
    read -r name batch seq _ <<<"$spec"
    peak_gf=$(awk '$1 == "sgemm" && $2 == "2048x2048x2048" {print $4}' "$tmp/sgemm-$name")
    for side in "${sides[@]}"; do
        f=$side-$name
        case $side in
        full) label="ours full" ;;
        peer) label="PyTorch tuned" ;;
        default) label="PyTorch as inst." ;;
        esac
        awk -v name="$name" -v side="$label" -v bt="${batch}x$seq" -v peak="$peak_gf" \
            -v st="$(get "$f" step_s)" -v tok="$(get "$f" tok_s)" -v gf="$(get "$f" gflops)" \
            -v gfa="$(get "$f" gflops_all)" -v rss="$(get "$f" peak_rss_mb)" -v l0="$(get "$f" loss0)" 'BEGIN {
            printf "%-12s %-16s %6s %8.2f %8.1f %8.1f %5.0f%% %9.1f %8.0f %9.5f\n", name, side, bt, st, tok, gf,
                100 * gf / peak, gfa, rss, l0
        }'
    done
    check_peak=0
    [ "$name" = smollm-135m ] && check_peak=1
    awk -v name="$name" -v peak="$peak_gf" -v check_peak="$check_peak" \
        -v ot="$(get "full-$name" tok_s)" -v og="$(get "full-$name" gflops)" \
        -v pt="$(get "peer-$name" tok_s)" -v dt="$(get "default-$name" tok_s)" \
        -v orss="$(get "full-$name" peak_rss_mb)" -v prss="$(get "peer-$name" peak_rss_mb)" \
        -v drss="$(get "default-$name" peak_rss_mb)" \
        -v ol="$(get "full-$name" loss0)" -v pl="$(get "peer-$name" loss0)" \
        -v dl="$(get "default-$name" loss0)" 'BEGIN {
        printf "  %s: sgemm 2048^3 %.1f GFLOP/s; ours/PyTorch %.2fx (as installed, target 2x), %.2fx (tuned);",
            name, peak, ot / dt, ot / pt
        printf " useful %.0f%% of the sgemm peak%s;", 100 * og / peak, check_peak ? " (target 60%)" : ""
        printf " peak RSS ours %.0f MB vs PyTorch %.0f MB tuned (%.2fx), %.0f MB as installed\n", orss, prss,
            orss / prss, drss
        miss = 0
        d = ol - pl; if (d < 0) d = -d
        e = ol - dl; if (e < 0) e = -e
        if (d > 1e-3 || e > 1e-3) { printf "MISSED: %s first-step losses differ: ours %s, PyTorch %s (as installed %s)\n", name, ol, pl, dl; miss = 1 }
        if (ot < 2 * dt) { printf "MISSED: %s %.1f tok/s < 2x PyTorch as installed (%.1f)\n", name, ot, dt; miss = 1 }
        if (check_peak && og < 0.60 * peak) { printf "MISSED: %s %.1f useful GFLOP/s < 60%% of the sgemm peak %.1f\n", name, og, peak; miss = 1 }
        exit miss
    }' || miss=1
done
exit $miss
