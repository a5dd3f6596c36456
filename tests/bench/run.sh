#!/bin/sh
# make bench: throughput and peak memory, side by side with llama.cpp where both do the same job
# (same model file, text, context and thread count), as ratios. Numbers, not pass/fail.
# Usage: tests/bench/run.sh BUILD_DIR DATA_DIR   (BENCH_THREADS; BENCH_SKIP="ppl eval quantize gptq distill prune"
# names sections to leave out)
set -eu
BUILD=$(cd "$1" && pwd)
DATA=$(cd "$2" && pwd)
MINNOW=$BUILD/minnow
PEER=$BUILD/peer/llama-peer
THREADS=${BENCH_THREADS:-2}
SKIP=${BENCH_SKIP:-}
WORK=$BUILD/bench
mkdir -p "$WORK"
M21=$DATA/tinystories-llama-21m
HELD=$M21/heldout.txt
CALIB=$DATA/tinystories/TinyStories-train.lowercased-4MB.txt
RESULTS=$WORK/results.tsv
: >"$RESULTS"

j() { jq -r ".$2" "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
row() { printf '%-46s %12s %12s %8s\n' "$1" "$2" "$3" "$4" | tee -a "$RESULTS"; }
header() { printf '\n%-46s %12s %12s %8s\n' "$1" minnow llama.cpp ratio; }
skip() { case " $SKIP " in *" $1 "*) return 0 ;; esac; return 1; }
mb() { echo $(($1 / 1000000)); }

# ppl_pair LABEL MINNOW_MODEL GGUF: perplexity throughput, same text/ctx/threads
ppl_pair() {
    "$MINNOW" eval "$2" --text "$HELD" --ctx 512 --chunks 40 --threads "$THREADS" --json -q >"$WORK/mn.json"
    "$PEER" ppl "$3" "$HELD" --ctx 512 --chunks 40 --threads "$THREADS" >"$WORK/peer.json"
    a=$(j "$WORK/mn.json" tokens_per_second) b=$(j "$WORK/peer.json" tokens_per_second)
    row "$1" "$(printf %.0f "$a")" "$(printf %.0f "$b")" "$(ratio "$a" "$b")"
}

echo "minnow bench: $THREADS threads, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"

if ! skip ppl; then
    header "perplexity throughput, tokens/s (21M, ctx 512)"
    "$MINNOW" convert "$M21" -o "$WORK/m21-f16.gguf" --type f16 -q
    ppl_pair "f16 (minnow: HF checkpoint)" "$M21" "$WORK/m21-f16.gguf"
    for type in f16 q8_0 q6_k q5_k_m q5_k q5_1 q5_0 q4_k_m q4_k q4_1 q4_0 q3_k q2_k; do
        [ "$type" = f16 ] || "$MINNOW" quantize "$M21" -o "$WORK/m21-$type.gguf" -t "$type" -q >/dev/null
        ppl_pair "$type GGUF (same file)" "$WORK/m21-$type.gguf" "$WORK/m21-$type.gguf"
    done
fi

TL=$WORK/tinyllama-1.1b
if [ ! -f "$TL/config.json" ]; then
    "$BUILD/tools/make_synthetic" tinyllama full "$TL" --shards 2 --copy "$DATA/llama2-tokenizer/tokenizer.model" \
        --copy "$DATA/tokenizers/llama2/tokenizer_config.json"
fi
[ -f "$WORK/tinyllama-f16.gguf" ] || "$MINNOW" convert "$TL" -o "$WORK/tinyllama-f16.gguf" -q

if ! skip eval; then
    header "TinyLlama-1.1B-size F16 (synthetic), eval ctx 512 x 2"
    "$MINNOW" eval "$TL" --text "$HELD" --ctx 512 --chunks 2 --threads "$THREADS" --json -q >"$WORK/mn.json"
    "$PEER" ppl "$WORK/tinyllama-f16.gguf" "$HELD" --ctx 512 --chunks 2 --threads "$THREADS" >"$WORK/peer.json"
    a=$(j "$WORK/mn.json" peak_rss_bytes) b=$(j "$WORK/peer.json" peak_rss_bytes)
    row "eval peak RSS, MB (goal < 3000)" "$(mb "$a")" "$(mb "$b")" "$(ratio "$a" "$b")"
    a=$(j "$WORK/mn.json" tokens_per_second) b=$(j "$WORK/peer.json" tokens_per_second)
    row "eval throughput, tokens/s" "$(printf %.0f "$a")" "$(printf %.0f "$b")" "$(ratio "$a" "$b")"
fi

if ! skip quantize; then
    header "rtn quantize of the same F16 GGUF, seconds (1.1B)"
    for type in q8_0 q6_k q4_k_m; do
        "$MINNOW" quantize "$WORK/tinyllama-f16.gguf" -o "$WORK/tl-$type.gguf" -t "$type" --threads "$THREADS" --json -q \
            >"$WORK/mn.json"
        "$PEER" quantize "$WORK/tinyllama-f16.gguf" "$WORK/tl-llama-$type.gguf" "$type" --threads "$THREADS" >"$WORK/peer.json"
        a=$(j "$WORK/mn.json" seconds) b=$(j "$WORK/peer.json" seconds)
        row "$type (ratio = llama.cpp time / minnow time)" "$(printf %.1f "$a")" "$(printf %.1f "$b")" "$(ratio "$b" "$a")"
        rm -f "$WORK/tl-llama-$type.gguf"
    done
fi

if ! skip gptq; then
    header "gptq q4_k_m of the 1.1B-size checkpoint (16384 calibration tokens)"
    "$MINNOW" quantize "$TL" -o "$WORK/tl-gptq.gguf" -t q4_k_m --method gptq --calib "$CALIB" --threads "$THREADS" \
        --json -q >"$WORK/mn.json"
    row "minutes (goal <= 15)" "$(awk -v s="$(j "$WORK/mn.json" seconds)" 'BEGIN { printf "%.1f", s / 60 }')" - -
    row "peak RSS, MB (goal <= 6000)" "$(mb "$(j "$WORK/mn.json" peak_rss_bytes)")" - -
fi

for section in tests/bench/distill.sh tests/bench/prune.sh; do
    [ -f "$section" ] || continue
    name=$(basename "$section" .sh)
    skip "$name" || BUILD=$BUILD DATA=$DATA THREADS=$THREADS WORK=$WORK RESULTS=$RESULTS sh "$section"
done
echo
echo "results also in $RESULTS"
