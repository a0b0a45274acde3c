#!/usr/bin/env bash
# Forward-pass benchmark on random-weight BF16 checkpoints shaped like SmolLM-135M (30
# layers, 576 hidden, 1536 intermediate, 9/3 heads, vocabulary 49152) and like Llama-3.2-1B
# (16 layers, 2048 hidden, 8192 intermediate, 32/8 heads, vocabulary 128256), both with the
# head tied to the embedding as those models have it; written once by `hyplora make-model`
# into .cache/bench/ (the 1B file is 2.5 GB). In the same run, for each model, BENCH_REPEAT
# (2) times in turn, keeping the best figures of each program (this shared VM's sgemm rate
# and bandwidth drift by 20-30% within minutes):
#   1. sgemm_peak: OpenBLAS sgemm GFLOP/s on 2048^3 (the peak) and on the two prefill
#      shapes, and the memory read bandwidth (GB/s, best of 10 passes over 1 GB) that
#      bounds decoding;
#   2. forward_bench (the library, weights as `auto` picks them): prefill of one sequence of
#      BENCH_SEQ (256) tokens, median of 3 after a warm-up: tokens/s and GFLOP/s; greedy
#      decoding with the KV cache, median of 3 timed blocks of BENCH_DECODE tokens (32 on
#      the SmolLM shape, 16 on the 1B one): tokens/s; peak RSS;
#   3. forward_peer.py: the same model written in PyTorch (float32, same threads, same
#      token ids), measured the same way, with OMP_WAIT_POLICY=PASSIVE (its best setting
#      here: torch's OpenMP workers and OpenBLAS's threads otherwise spin against each
#      other) and gemv for single-token steps; PyTorch as installed (default wait policy)
#      is measured once more on the SmolLM prefill and shown for reference.
# Targets: prefill >= 75% of the sgemm peak at both sizes; prefill >= 2x PyTorch as
# installed on the SmolLM shape (the issue's peer: its OpenMP threads spin against
# OpenBLAS's there) and >= the tuned PyTorch on the 1B shape; decode within 1.5x of the bandwidth bound
# (bytes one step reads / measured GB/s); peak RSS below PyTorch's. Prints a table and the
# ratios; exits 1 when a target is missed.
#   tests/bench/bench_forward.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
[ -x "$build/cli/hyplora" ] || build=$(scripts/setup release)
ninja -C "$build" >/dev/null
/usr/bin/python3 -c 'import numpy, torch' 2>/dev/null ||
    apt-get install -y -qq python3-numpy python3-torch >/dev/null
hyplora=$build/cli/hyplora
fwd=$build/tests/bench/forward_bench
peak=$build/tests/bench/sgemm_peak
work=${BENCH_DIR:-.cache/bench}
seq=${BENCH_SEQ:-256}
threads=${BENCH_THREADS:-$(nproc)}
mkdir -p "$work"

# name, decoded tokens a timed block (BENCH_DECODE overrides), make-model's shape options
models=(
    "smollm-135m 32 --hidden 576 --intermediate 1536 --layers 30 --heads 9 --kv-heads 3 --vocab 49152"
    "llama-1b 16 --hidden 2048 --intermediate 8192 --layers 16 --heads 32 --kv-heads 8 --vocab 128256"
)
. tests/bench/lib.sh
for spec in "${models[@]}"; do
    read -r name _ shape <<<"$spec"
    # shellcheck disable=SC2086
    bench_model "$name" $shape
done

# best FILE...: one file of the best figure of each line over repeated runs (the highest
# rate, the highest peak RSS, the lowest load time; other lines from the first run)
best() {
    awk '{
        key = $1 == "sgemm" ? $1 " " $2 : $1
        val = $1 == "sgemm" ? $4 : $1 == "bandwidth" ? $5 : $2
        if (!(key in line)) { order[++n] = key; line[key] = $0; v[key] = val; next }
        if ((key == "load_s" && val < v[key]) || (key ~ /^(sgemm|bandwidth|prefill_tok_s|prefill_gflops|decode_tok_s|peak_rss_mb)/ && val > v[key])) {
            line[key] = $0; v[key] = val
        }
    } END { for (i = 1; i <= n; i++) print line[order[i]] }' "$@"
}
# The machine's figures are measured again beside each model and every run is repeated
# BENCH_REPEAT (2) times, alternating ours and PyTorch, keeping the best of each: on this
# shared VM the sgemm rate and the bandwidth drift by 20-30% within minutes.
repeat=${BENCH_REPEAT:-2}
for spec in "${models[@]}"; do
    read -r name ndec _ <<<"$spec"
    ndec=${BENCH_DECODE:-$ndec}
    for r in $(seq "$repeat"); do
        run "sgemm-$name.$r" "$peak" --threads "$threads"
        run "ours-$name.$r" "$fwd" "$work/fwd-$name" --seq "$seq" --decode "$ndec" --threads "$threads"
        run "peer-$name.$r" /usr/bin/python3 tests/bench/forward_peer.py "$work/fwd-$name" --seq "$seq" \
            --decode "$ndec" --threads "$threads"
    done
    for f in sgemm ours peer; do
        best "$tmp/$f-$name".[0-9]* >"$tmp/$f-$name"
    done
done
# PyTorch as installed (libgomp's default wait policy), prefill only: the SmolLM target
for r in $(seq "$repeat"); do
    run "peer-default.$r" /usr/bin/python3 tests/bench/forward_peer.py "$work/fwd-smollm-135m" --seq "$seq" \
        --decode 0 --threads "$threads" --default-omp
done
best "$tmp"/peer-default.[0-9]* >"$tmp/peer-default"

echo "threads $threads, prefill of $seq tokens; decode tok/s against the bound (bytes a step / best read GB/s)"
printf '%-12s %-5s %8s %8s %6s %8s %8s %10s %8s %7s\n' model side "prefill" "GFLOP/s" "%peak" "decode" "bound" "bound/dec" "RSS MB" "load s"
miss=0
for spec in "${models[@]}"; do
    read -r name _ <<<"$spec"
    case $name in
    smollm*) want=2 shape=256x576x1536 target_peer=peer-default ;;
    *) want=1 shape=256x2048x8192 target_peer=peer-$name ;;
    esac
    sg=$tmp/sgemm-$name
    peak_gf=$(awk '$1 == "sgemm" && $2 == "2048x2048x2048" {print $4}' "$sg")
    shape_gf=$(awk -v s="$shape" '$1 == "sgemm" && $2 == s {print $4}' "$sg")
    gbs=$(awk '$1 == "bandwidth" {print $5}' "$sg") # the best pass
    gbs_med=$(awk '$1 == "bandwidth" {print $3}' "$sg")
    bytes=$(get "ours-$name" decode_bytes_per_token)
    for side in ours peer; do
        f=$side-$name
        awk -v name="$name" -v side="$side" -v peak="$peak_gf" -v gbs="$gbs" -v bytes="$bytes" \
            -v tok="$(get "$f" prefill_tok_s)" -v gf="$(get "$f" prefill_gflops)" \
            -v dec="$(get "$f" decode_tok_s)" -v rss="$(get "$f" peak_rss_mb)" \
            -v load="$(get "$f" load_s)" 'BEGIN {
            bound = gbs * 1e9 / bytes
            printf "%-12s %-5s %8.1f %8.1f %5.0f%% %8.2f %8.2f %9.2fx %8.0f %7.2f\n", name, side, tok, gf,
                100 * gf / peak, dec, bound, bound / dec, rss, load
        }'
    done
    same=$(awk '$1 == "decode_tokens"' "$tmp/ours-$name" "$tmp/peer-$name" | cut -d' ' -f2- | uniq | wc -l)
    awk -v name="$name" -v want="$want" -v peak="$peak_gf" -v shape="$shape" -v shape_gf="$shape_gf" \
        -v gbs="$gbs" -v gbs_med="$gbs_med" -v bytes="$bytes" \
        -v ot="$(get "ours-$name" prefill_tok_s)" -v pt="$(get "peer-$name" prefill_tok_s)" \
        -v tt="$(get "$target_peer" prefill_tok_s)" -v tname="$target_peer" \
        -v og="$(get "ours-$name" prefill_gflops)" \
        -v od="$(get "ours-$name" decode_tok_s)" -v pd="$(get "peer-$name" decode_tok_s)" \
        -v orss="$(get "ours-$name" peak_rss_mb)" -v prss="$(get "peer-$name" peak_rss_mb)" \
        -v same="$same" -v wmode="$(get "ours-$name" weights)" 'BEGIN {
        bound = gbs * 1e9 / bytes
        printf "  %s: sgemm 2048^3 %.1f GFLOP/s, %s %.1f; read %.1f GB/s best (median %.1f); %s weights, %.0f MB a decoding step\n", name, peak, shape, shape_gf, gbs, gbs_med, wmode, bytes / 1e6
        printf "  prefill ours/PyTorch %.2fx (tuned), %.2fx (%s, target %dx), %.0f%% of the sgemm peak (target 75%%), %.0f%% of sgemm on its shape;", ot / pt, ot / tt, tname == "peer-default" ? "as installed" : "tuned", want, 100 * og / peak, 100 * og / shape_gf
        printf " decode ours/PyTorch %.2fx, %.2fx below the bound (target 1.5x); RSS ours/PyTorch %.2f; greedy tokens %s\n", od / pd, bound / od, orss / prss, same == 1 ? "agree" : "DIFFER"
        miss = 0
        if (og < 0.75 * peak) { printf "MISSED: %s prefill %.1f GFLOP/s < 75%% of the sgemm peak %.1f\n", name, og, peak; miss = 1 }
        if (ot < want * tt) { printf "MISSED: %s prefill %.1f tok/s < %dx PyTorch (%.1f)\n", name, ot, want, tt; miss = 1 }
        if (od * 1.5 < bound) { printf "MISSED: %s decode %.2f tok/s is more than 1.5x below the bound %.2f\n", name, od, bound; miss = 1 }
        if (orss >= prss) { printf "MISSED: %s peak RSS %.0f MB >= PyTorch %.0f MB\n", name, orss, prss; miss = 1 }
        exit miss
    }' || miss=1
done
exit $miss
