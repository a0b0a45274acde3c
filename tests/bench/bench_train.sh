#!/usr/bin/env bash
# Training-step benchmark on the random-weight BF16 checkpoints bench_forward.sh uses (made
# here the same way when missing): shaped like SmolLM-135M (30 layers, 576 hidden, 1536
# intermediate, 9/3 heads, vocabulary 49152) and like Llama-3.2-1B (16 layers, 2048 hidden,
# 8192 intermediate, 32/8 heads, vocabulary 128256), heads tied, in .cache/bench/. The
# trainer widens the weights to float32. Adapters of rank 32 (alpha 64, dropout 0.05) on q,
# k, v, up and down of every layer, one micro-batch of random ids with a target at every
# position (BATCH x SEQ: 4 x 256 on the SmolLM shape, 1 x 256 on the 1B one), AdamW at lr
# 3e-4, gradients clipped to norm 1. In the same run, for each model, BENCH_REPEAT (2) times
# in turn, keeping the best figures of each program (this shared VM drifts by 20-30%):
#   1. sgemm_peak: OpenBLAS sgemm GFLOP/s on 2048^3 (the peak);
#   2. train_bench --method lora, then --method hyplora (consistent form, K = 1): one warm-up
#      step, the median of BENCH_STEPS timed steps (3 on SmolLM, 2 on 1B): step seconds,
#      tokens/s, GFLOP/s counted as 4 x parameters x tokens (every weight once, the tied
#      head being the embedding; a frozen base costs 2 FLOPs a weight a token forward and 2
#      backward), peak RSS;
#   3. train_peer.py: the same LoRA step written in PyTorch 1.13 (autograd, float32, same
#      threads, same ids, torch.optim.AdamW), measured the same way; with passive OpenMP
#      waiting (tuned, as forward_peer.py), and on the SmolLM shape also as installed.
# Both sides print the warm-up step's loss: B starts at zero, so it is the base model's loss
# on the batch, and they must agree (checked to 1e-3).
# Targets (the issue's): LoRA tokens/s >= 3x PyTorch's on the SmolLM shape (PyTorch as
# installed, the issue's 12.5 s step; the tuned figure is shown too); on the 1B shape >= 70%
# of the sgemm peak in useful GFLOP/s and >= the tuned PyTorch; the HypLoRA step <= 1.05x
# the LoRA step; peak RSS below PyTorch's. Prints a table and the ratios; exits 1 when a
# target is missed.
#   tests/bench/bench_train.sh [BUILD_DIR]
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

# name, batch, seq, timed steps (BENCH_STEPS overrides), make-model's shape options (the
# same checkpoints as bench_forward.sh)
models=(
    "smollm-135m 4 256 3 --hidden 576 --intermediate 1536 --layers 30 --heads 9 --kv-heads 3 --vocab 49152"
    "llama-1b 1 256 2 --hidden 2048 --intermediate 8192 --layers 16 --heads 32 --kv-heads 8 --vocab 128256"
)
. tests/bench/lib.sh
for spec in "${models[@]}"; do
    read -r name _ _ _ shape <<<"$spec"
    # shellcheck disable=SC2086
    bench_model "$name" $shape
done

repeat=${BENCH_REPEAT:-2}
for spec in "${models[@]}"; do
    read -r name batch seq steps _ <<<"$spec"
    steps=${BENCH_STEPS:-$steps}
    opts=(--batch "$batch" --seq "$seq" --steps "$steps" --threads "$threads")
    sides=(sgemm lora hyplora peer)
    for r in $(seq "$repeat"); do
        run "sgemm-$name.$r" "$peak" --threads "$threads" --mb 100
        run "lora-$name.$r" "$train" "$work/fwd-$name" --method lora "${opts[@]}"
        run "hyplora-$name.$r" "$train" "$work/fwd-$name" --method hyplora "${opts[@]}"
        run "peer-$name.$r" /usr/bin/python3 tests/bench/train_peer.py "$work/fwd-$name" "${opts[@]}"
        if [ "$name" = smollm-135m ]; then
            run "default-$name.$r" /usr/bin/python3 tests/bench/train_peer.py "$work/fwd-$name" "${opts[@]}" \
                --default-omp
            sides+=(default)
        fi
    done
    for f in "${sides[@]}"; do
        best "$tmp/$f-$name".[0-9]* >"$tmp/$f-$name"
    done
done

echo "threads $threads; adapters r 32 on q,k,v,up,down of every layer; GFLOP/s = 4 x parameters x tokens / step"
printf '%-12s %-16s %6s %8s %8s %8s %6s %9s %8s %9s\n' model side "BxT" "step s" "tok/s" "GFLOP/s" "%peak" "GF/s all" "RSS MB" "loss0"
miss=0
for spec in "${models[@]}"; do
    read -r name batch seq _ <<<"$spec"
    peak_gf=$(awk '$1 == "sgemm" && $2 == "2048x2048x2048" {print $4}' "$tmp/sgemm-$name")
    sides=(lora hyplora peer)
    [ "$name" = smollm-135m ] && sides+=(default)
    for side in "${sides[@]}"; do
        f=$side-$name
        label=$side
        case $side in
        lora) label="ours LoRA" ;;
        hyplora) label="ours HypLoRA" ;;
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
    case $name in
    smollm*) target_peer=default-$name want=3 check_peak=0 ;;
    *) target_peer=peer-$name want=1 check_peak=1 ;;
    esac
    awk -v name="$name" -v peak="$peak_gf" -v want="$want" -v check_peak="$check_peak" \
        -v tname="$target_peer" \
        -v ot="$(get "lora-$name" tok_s)" -v og="$(get "lora-$name" gflops)" \
        -v os="$(get "lora-$name" step_s)" -v hs="$(get "hyplora-$name" step_s)" \
        -v pt="$(get "peer-$name" tok_s)" -v tt="$(get "$target_peer" tok_s)" \
        -v orss="$(get "lora-$name" peak_rss_mb)" -v hrss="$(get "hyplora-$name" peak_rss_mb)" \
        -v prss="$(get "peer-$name" peak_rss_mb)" \
        -v ol="$(get "lora-$name" loss0)" -v hl="$(get "hyplora-$name" loss0)" \
        -v pl="$(get "peer-$name" loss0)" 'BEGIN {
        printf "  %s: sgemm 2048^3 %.1f GFLOP/s; LoRA ours/PyTorch %.2fx (tuned)", name, peak, ot / pt
        if (tname ~ /^default/) printf ", %.2fx (as installed, target %dx)", ot / tt, want
        else printf " (target %dx)", want
        printf "; useful %.0f%% of the sgemm peak%s; HypLoRA/LoRA step %.3fx (target 1.05x);", 100 * og / peak,
            check_peak ? " (target 70%)" : "", hs / os
        printf " peak RSS ours %.0f MB (HypLoRA %.0f) vs PyTorch %.0f MB (%.2fx)\n", orss, hrss, prss, orss / prss
        miss = 0
        d = ol - pl; if (d < 0) d = -d
        e = hl - pl; if (e < 0) e = -e
        if (d > 1e-3 || e > 1e-3) { printf "MISSED: %s first-step losses differ: LoRA %s, HypLoRA %s, PyTorch %s\n", name, ol, hl, pl; miss = 1 }
        if (ot < want * tt) { printf "MISSED: %s LoRA %.1f tok/s < %dx PyTorch (%.1f)\n", name, ot, want, tt; miss = 1 }
        if (check_peak && og < 0.70 * peak) { printf "MISSED: %s %.1f useful GFLOP/s < 70%% of the sgemm peak %.1f\n", name, og, peak; miss = 1 }
        if (hs > 1.05 * os) { printf "MISSED: %s HypLoRA step %.2f s > 1.05x the LoRA step %.2f s\n", name, hs, os; miss = 1 }
        if (orss >= prss || hrss >= prss) { printf "MISSED: %s peak RSS ours %.0f (HypLoRA %.0f) MB >= PyTorch %.0f MB\n", name, orss, hrss, prss; miss = 1 }
        exit miss
    }' || miss=1
done
exit $miss
