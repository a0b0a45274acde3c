#!/usr/bin/env bash
# Evaluation throughput: `hyplora eval` (greedy, KV-cache decoding with continuous batching)
# on a random-weight BF16 checkpoint shaped like SmolLM-135M (30 layers, 576 hidden, 1536
# intermediate, 9/3 heads, head tied to the embedding), made here by `hyplora make-model` as
# bench_forward.sh makes its own, into .cache/bench/. eval needs a tokenizer and no tokenizer
# of SmolLM's 49152 entries is vendored, so the vocabulary is the LLaMA-2 tokenizer's 32000
# (notebooks-data/tokenizers/llama2, passed with --tokenizer): the head is 18.4M weights
# instead of 28.3M, the layers are SmolLM's. The work: the first BENCH_ITEMS (32) items of
# GSM8K's test set in the Alpaca prompt, BENCH_MAX_NEW (64) new tokens at most each; a random
# model does not meet EOS, so every item runs to the limit (the peer counts its EOS stops, and
# both sides' outputs are compared). In the same run, for each --batch of BENCH_BATCHES
# ("8 16"), BENCH_REPEAT (2) times in turn, keeping the best figures of each program (this
# shared VM drifts by 20-30%):
#   1. hyplora eval --batch B: the whole command's wall time (loading the model, encoding the
#      prompts, decoding, scoring, writing the results: all counted against us), items/min;
#   2. eval_peer.py --batch B: the same decoding written in PyTorch (forward_peer.py's model,
#      float32, same threads, the same prompt ids from `hyplora tokenize`, its own KV cache,
#      the same continuous batching), timed around the decoding loop only (loading and
#      encoding excluded, which favours PyTorch), with passive OpenMP waiting (its best
#      setting here, as in forward_peer.py);
# then PyTorch as installed (libgomp's default wait policy, 3-4x slower here) once, at the
# batch size where hyplora did best (BENCH_AS_INSTALLED=0 leaves it out).
# The table shows each side's best figures, the EOS stops of the peer and how many of its
# outputs are the text hyplora wrote at that batch size (=ours: the same work when all agree).
# Target (the issue's): items/min >= 2x PyTorch's, hyplora at its best batch size against
# PyTorch as installed, as bench_forward.sh and bench_train.sh take the issue's PyTorch on
# this shape; the ratio to the tuned PyTorch at its best batch size is shown beside it (and
# is the target's reference with BENCH_AS_INSTALLED=0). Exits 1 when the target is missed.
# About 5 minutes on 2 quiet cores (4m50s measured).
#   tests/bench/bench_eval.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
[ -x "$build/cli/hyplora" ] || build=$(scripts/setup release)
ninja -C "$build" >/dev/null
/usr/bin/python3 -c 'import numpy, torch' 2>/dev/null ||
    apt-get install -y -qq python3-numpy python3-torch >/dev/null
[ -x /usr/bin/time ] || apt-get install -y -qq time >/dev/null # the peak RSS of hyplora eval
hyplora=$build/cli/hyplora
work=${BENCH_DIR:-.cache/bench}
threads=${BENCH_THREADS:-$(nproc)}
items=${BENCH_ITEMS:-32}
max_new=${BENCH_MAX_NEW:-64}
read -r -a batches <<<"${BENCH_BATCHES:-8 16}"
repeat=${BENCH_REPEAT:-2}
data=notebooks-data/datasets/gsm8k/test.json
tokenizer=notebooks-data/tokenizers/llama2/tokenizer.json
mkdir -p "$work"

# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
name=smollm-135m-v32000
bench_model "$name" --hidden 576 --intermediate 1536 --layers 30 --heads 9 --kv-heads 3 --vocab 32000
model=$work/fwd-$name

# ours OUT BATCH: hyplora eval into $tmp/results-bBATCH.json; $tmp/OUT gets KEY VALUE lines.
ours() {
    local out=$1 b=$2 results=$tmp/results-b$2.json t0 t1
    rm -f "$results" "$results.partial" # a partial file would be resumed
    t0=$(date +%s.%N)
    run "$out.log" /usr/bin/time -f '%M' -o "$tmp/$out.rss" "$hyplora" --threads "$threads" eval "$model" "$data" \
        --tokenizer "$tokenizer" --limit "$items" --max-new "$max_new" --batch "$b" -o "$results"
    t1=$(date +%s.%N)
    awk -v b="$b" -v n="$items" -v m="$max_new" -v s="$(awk -v a="$t0" -v z="$t1" 'BEGIN {print z - a}')" \
        -v kb="$(tail -n 1 "$tmp/$out.rss")" 'BEGIN {
        printf "batch %d\neval_s %.3f\nitems_min %.2f\nnew_tok_s %.2f\npeak_rss_mb %.0f\n", b, s, 60 * n / s, n * m / s, kb / 1024
    }' >"$tmp/$out"
}
# peer OUT BATCH [--default-omp]: eval_peer.py, its outputs compared with ours at BATCH.
peer() {
    local out=$1 b=$2
    shift 2
    run "$out" /usr/bin/python3 tests/bench/eval_peer.py "$model" "$data" --tokenizer "$tokenizer" \
        --hyplora "$hyplora" --limit "$items" --max-new "$max_new" --batch "$b" --threads "$threads" \
        --compare "$tmp/results-b$b.json" "$@"
}

for r in $(seq "$repeat"); do
    for b in "${batches[@]}"; do
        ours "ours-b$b.$r" "$b"
        peer "peer-b$b.$r" "$b"
    done
done
for b in "${batches[@]}"; do
    for side in ours peer; do
        best "$tmp/$side-b$b".[0-9]* >"$tmp/$side-b$b"
    done
done
# the batch size giving the most items/min on each side
fastest() {
    for b in "${batches[@]}"; do echo "$b $(get "$1-b$b" items_min)"; done | sort -k2,2gr | awk '{print $1; exit}'
}
ob=$(fastest ours)
pb=$(fastest peer)
default=
if [ "${BENCH_AS_INSTALLED:-1}" != 0 ]; then
    peer "default-b$ob" "$ob" --default-omp
    default=default-b$ob
fi

echo "threads $threads; the first $items GSM8K test items in the Alpaca prompt ($(get "peer-b$ob" prompt_tokens) prompt" \
    "tokens), greedy, $max_new new tokens at most each; SmolLM-135M's layers with the LLaMA-2 vocabulary (32000):" \
    "no 49152-entry tokenizer is vendored"
printf '%-24s %5s %8s %10s %10s %8s %5s %8s\n' side batch "eval s" "items/min" "new tok/s" "RSS MB" "EOS" "=ours"
rows=()
for b in "${batches[@]}"; do rows+=("ours-b$b" "peer-b$b"); done
[ -n "$default" ] && rows+=("$default")
for f in "${rows[@]}"; do
    case $f in
    ours*) label="hyplora eval" ;;
    peer*) label="PyTorch tuned" ;;
    default*) label="PyTorch as inst. (1 run)" ;;
    esac
    awk -v side="$label" -v b="$(get "$f" batch)" -v s="$(get "$f" eval_s)" -v ipm="$(get "$f" items_min)" \
        -v tps="$(get "$f" new_tok_s)" -v rss="$(get "$f" peak_rss_mb)" -v eos="$(get "$f" eos_stops)" \
        -v agree="$(awk '$1 == "outputs_agree" {print $2 "/" $3; exit}' "$tmp/$f")" 'BEGIN {
        printf "%-24s %5d %8.2f %10.2f %10.2f %8.0f %5s %8s\n", side, b, s, ipm, tps, rss, eos == "" ? "-" : eos,
            agree == "" ? "-" : agree
    }'
done
awk -v ob="$ob" -v pb="$pb" -v o="$(get "ours-b$ob" items_min)" -v p="$(get "peer-b$pb" items_min)" \
    -v d="${default:+$(get "$default" items_min)}" -v per="$(for b in "${batches[@]}"; do
        printf '%s:%s:%s ' "$b" "$(get "ours-b$b" items_min)" "$(get "peer-b$b" items_min)"; done)" 'BEGIN {
    printf "  best: hyplora eval --batch %d %.2f items/min; PyTorch tuned --batch %d %.2f items/min: %.2fx", ob, o, pb, p, o / p
    if (d != "") printf "; PyTorch as installed --batch %d %.2f items/min: %.2fx (target 2x)", ob, d, o / d
    else printf " (PyTorch as installed not run; target 2x checked against the tuned PyTorch)"
    printf "\n  hyplora/PyTorch tuned at the same --batch:"
    n = split(per, e, " ")
    for (i = 1; i <= n; i++) { split(e[i], f, ":"); printf " %d: %.2fx", f[1], f[2] / f[3] }
    printf "\n"
    ref = d != "" ? d : p
    if (o < 2 * ref) { printf "MISSED: hyplora eval %.2f items/min < 2x PyTorch %s (%.2f)\n", o, d != "" ? "as installed" : "tuned", ref; exit 1 }
}'
