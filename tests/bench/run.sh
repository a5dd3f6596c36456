#!/bin/sh
# make bench: throughput and peak memory, side by side with llama.cpp where both do the same job
# (same model file, text, context and thread count), as ratios. Numbers, not pass/fail.
# Usage: tests/bench/run.sh BUILD_DIR DATA_DIR
set -eu
BUILD=$(cd "$1" && pwd)
DATA=$(cd "$2" && pwd)
MINNOW=$BUILD/minnow
PEER=$BUILD/peer/llama-peer
THREADS=${BENCH_THREADS:-2}
WORK=$BUILD/bench
mkdir -p "$WORK"
M21=$DATA/tinystories-llama-21m
HELD=$M21/heldout.txt
RESULTS=$WORK/results.tsv
: >"$RESULTS"

j() { jq -r ".$2" "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
row() { printf '%-44s %14s %14s %8s\n' "$1" "$2" "$3" "$4" | tee -a "$RESULTS"; }
header() { printf '\n%-44s %14s %14s %8s\n' "$1" minnow llama.cpp ratio; }

ppl_pair() { # label model_for_minnow gguf_for_llama [minnow args]
    label=$1 model=$2 gguf=$3
    shift 3
    "$MINNOW" eval "$model" --text "$HELD" --ctx 512 --chunks 40 --threads "$THREADS" --json -q "$@" >"$WORK/mn.json"
    "$PEER" ppl "$gguf" "$HELD" --ctx 512 --chunks 40 --threads "$THREADS" >"$WORK/peer.json"
    a=$(j "$WORK/mn.json" tokens_per_second) b=$(j "$WORK/peer.json" tokens_per_second)
    row "$label" "$(printf %.0f "$a")" "$(printf %.0f "$b")" "$(ratio "$a" "$b")"
}

echo "minnow bench: $THREADS threads, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"

header "perplexity throughput (tokens/s, 21M, ctx 512)"
"$MINNOW" convert "$M21" -o "$WORK/m21-f16.gguf" --type f16 -q
ppl_pair "f16 (minnow: HF dir; llama.cpp: GGUF)" "$M21" "$WORK/m21-f16.gguf"
ppl_pair "f16 GGUF (same file)" "$WORK/m21-f16.gguf" "$WORK/m21-f16.gguf"

header "peak RSS of eval (MB), TinyLlama-1.1B-size F16"
TL=$WORK/tinyllama-1.1b
if [ ! -f "$TL/config.json" ]; then
    "$BUILD/tools/make_synthetic" tinyllama full "$TL" --shards 2 --copy "$DATA/llama2-tokenizer/tokenizer.model" \
        --copy "$DATA/tokenizers/llama2/tokenizer_config.json"
fi
[ -f "$WORK/tinyllama-f16.gguf" ] || "$MINNOW" convert "$TL" -o "$WORK/tinyllama-f16.gguf" -q
"$MINNOW" eval "$TL" --text "$HELD" --ctx 512 --chunks 2 --threads "$THREADS" --json -q >"$WORK/mn.json"
"$PEER" ppl "$WORK/tinyllama-f16.gguf" "$HELD" --ctx 512 --chunks 2 --threads "$THREADS" >"$WORK/peer.json"
a=$(j "$WORK/mn.json" peak_rss_bytes) b=$(j "$WORK/peer.json" peak_rss_bytes)
row "eval peak RSS (goal < 3000 MB)" "$((a / 1000000))" "$((b / 1000000))" "$(ratio "$a" "$b")"
a=$(j "$WORK/mn.json" tokens_per_second) b=$(j "$WORK/peer.json" tokens_per_second)
row "eval throughput (tokens/s)" "$(printf %.0f "$a")" "$(printf %.0f "$b")" "$(ratio "$a" "$b")"
echo
echo "results also in $RESULTS"
