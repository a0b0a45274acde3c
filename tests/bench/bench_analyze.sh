#!/usr/bin/env bash
# hyplora analyze on the shared arithmetic test sets (GSM8K, SVAMP, MAWPS, AddSub, MultiArith,
# SingleEq, AQuA: 4314 instructions) with a random checkpoint shaped like Llama-3.2-1B (16
# layers, 2048 hidden, 8192 intermediate, 32/8 heads) but with the LLaMA-2 tokenizer and its
# 32000-token vocabulary, BF16, cached in .cache/bench/analyze-1b. Prints the time of each
# stage: the data tokenized once; freq and norms on the counts in memory; δ of the embeddings
# and of every layer in one pass of the model over the first LIMIT items (64: the forward
# pass of a 1B model over every item would take over an hour here); recommend. Beside it, in
# the same run, the same work as the three commands run one after the other (freq, norms,
# delta --layers all), each reading and tokenizing the data again and norms reading /freq
# back from the report. Medians of BENCH_REPEAT runs (2).
#   tests/bench/bench_analyze.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-$(scripts/setup release)}
hyplora=$build/cli/hyplora
work=.cache/bench
repeat=${BENCH_REPEAT:-2}
limit=${BENCH_ANALYZE_LIMIT:-64}
mkdir -p "$work"
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh

model=$work/analyze-1b
if [ ! -f "$model/model.safetensors" ]; then
    echo "writing the random BF16 checkpoint $model (2.2 GB)..." >&2
    rm -rf "$model.tmp"
    "$hyplora" --quiet make-model -o "$model.tmp" --hidden 2048 --intermediate 8192 --layers 16 --heads 32 \
        --kv-heads 8 --dtype bf16 >/dev/null
    mv "$model.tmp" "$model"
fi
d=notebooks-data/datasets
data=("$d/gsm8k/test.json" "$d/SVAMP/test.json" "$d/mawps/test.json" "$d/AddSub/test.json"
    "$d/MultiArith/test.json" "$d/SingleEq/test.json" "$d/AQuA/test.json")
data_opts=()
for f in "${data[@]}"; do data_opts+=(--data "$f"); done

median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.3f", b - a}'; }

for i in $(seq "$repeat"); do
    rm -f "$tmp/a.h5"
    t0=$(now)
    "$hyplora" analyze "$model" "${data_opts[@]}" --limit "$limit" -o "$tmp/a.h5" >"$tmp/analyze.out"
    echo "$(since "$t0")" >>"$tmp/analyze_total"
    # "(stage: 1.23 s)" lines
    awk '/^\(.*: [0-9.]+ s\)$/ {gsub(/[():]/, ""); print $1, $2}' "$tmp/analyze.out" >>"$tmp/stages"

    rm -f "$tmp/s.h5"
    t0=$(now)
    "$hyplora" freq --tokenizer "$model" --field instruction --p-value 100 "${data[@]}" -o "$tmp/s.h5" >/dev/null
    echo "freq $(since "$t0")" >>"$tmp/separate"
    t0=$(now)
    "$hyplora" norms "$model" -o "$tmp/s.h5" >/dev/null
    echo "norms $(since "$t0")" >>"$tmp/separate"
    t0=$(now)
    "$hyplora" delta "$model" "${data_opts[@]}" --limit "$limit" --layers all -o "$tmp/s.h5" >/dev/null
    echo "delta $(since "$t0")" >>"$tmp/separate"
done

items=$(grep -m1 'items of' "$tmp/analyze.out" | awk '{print $1}')
tokens=$(grep -m1 'items of' "$tmp/analyze.out" | awk '{print $6}')
echo "hyplora analyze, 1B shape (BF16, vocabulary 32000), $items arithmetic instructions ($tokens tokens);"
echo "δ of the embeddings and of 17 layers' inputs on the first $limit; medians of $repeat runs"
printf "%-10s %10s %12s\n" stage analyze separately
total_sep=0
for s in tokenize freq norms delta recommend; do
    a=$(awk -v s=$s '$1 == s {print $2}' "$tmp/stages" | median)
    sep=$(awk -v s=$s '$1 == s {print $2}' "$tmp/separate" | median)
    printf "%-10s %9.2fs %11s\n" "$s" "$a" "${sep:+${sep}s}"
    [ -n "$sep" ] && total_sep=$(awk -v a="$total_sep" -v b="$sep" 'BEGIN {print a + b}')
done
total=$(median <"$tmp/analyze_total")
printf "%-10s %9.2fs %10.2fs  (%.2fx)\n" total "$total" "$total_sep" "$(awk -v a="$total" -v b="$total_sep" 'BEGIN {print b / a}')"
echo "(separately: freq and delta each tokenize the data, norms reads /freq back; the column is"
echo " each command's wall time, loading included)"
