# Sourced by the benchmark scripts: the random-weight checkpoints they share, running a
# driver whose output is KEY VALUE lines, and the best figures of repeated runs. Needs
# $hyplora (the binary) and $work (the cache folder); makes $tmp, removed at exit.

# bench_model NAME MAKE-MODEL-OPTIONS...: writes the BF16 checkpoint $work/fwd-NAME (head
# tied to the embedding, no tokenizer) unless it is there.
bench_model() {
    local dir=$work/fwd-$1
    shift
    [ -f "$dir/model.safetensors" ] && return
    echo "writing the random BF16 checkpoint $dir..." >&2
    rm -rf "$dir.tmp"
    "$hyplora" --quiet make-model -o "$dir.tmp" "$@" --tie --dtype bf16 --no-tokenizer
    mv "$dir.tmp" "$dir"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run OUT COMMAND...: runs a driver into $tmp/OUT; on failure shows its output and stops.
run() {
    local out=$1
    shift
    if ! "$@" >"$tmp/$out" 2>"$tmp/$out.err"; then
        echo "${0##*/}: $* failed:" >&2
        cat "$tmp/$out" "$tmp/$out.err" >&2
        exit 1
    fi
}

# get FILE KEY: the first value after KEY in $tmp/FILE.
get() { awk -v k="$2" '$1 == k {print $2; exit}' "$tmp/$1"; }

# best FILE...: one file of the best figure of each line over repeated runs (the highest
# rate, the lowest step or eval time, the highest peak RSS; other lines from the first run)
best() {
    awk '{
        key = $1 == "sgemm" ? $1 " " $2 : $1
        val = $1 == "sgemm" ? $4 : $2
        if (!(key in line)) { order[++n] = key; line[key] = $0; v[key] = val; next }
        if ((key ~ /^(step_s|eval_s)$/ && val < v[key]) || (key ~ /^(sgemm|tok_s|new_tok_s|items_min|gflops|gflops_all|peak_rss_mb)/ && val > v[key])) {
            line[key] = $0; v[key] = val
        }
    } END { for (i = 1; i <= n; i++) print line[order[i]] }' "$@"
}
