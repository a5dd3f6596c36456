#!/bin/sh
# The main job on the real 21M-parameter model in ../shared/data: describe it, measure its
# perplexity the way llama.cpp does, write a GGUF that llama.cpp loads, compare quantization
# types (table, chart), write the best 4-bit file, gate it as CI would, and prune it.
# Usage: scripts/demo.sh BUILD_DIR DATA_DIR
set -e
BUILD=$1
DATA=$2
MODEL=$DATA/tinystories-llama-21m
TEXT=$MODEL/heldout.txt
OUT=$BUILD/demo
mkdir -p "$OUT"
step() { printf '\n== %s\n' "$*"; }

step "minnow info $MODEL"
"$BUILD/minnow" info "$MODEL"

step "minnow eval (F16 weights, ctx 512, 40 chunks of heldout.txt)"
"$BUILD/minnow" eval "$MODEL" --text "$TEXT" --ctx 512 --chunks 40

step "minnow convert to GGUF (f16) and evaluate the GGUF"
"$BUILD/minnow" convert "$MODEL" -o "$OUT/ts21m-f16.gguf" --type f16
"$BUILD/minnow" eval "$OUT/ts21m-f16.gguf" --text "$TEXT" --ctx 512 --chunks 40

# The job most users come for: make it small and say what that cost. Calibration text is
# training-distribution text the evaluation never sees (heldout.txt is cut from the end of it).
CALIB=$OUT/calib.txt
head -c 1000000 "$DATA/tinystories/TinyStories-train.lowercased-4MB.txt" >"$CALIB"

step "minnow compare: size against quality for each type (imatrix-calibrated), report in $OUT/report"
"$BUILD/minnow" compare "$MODEL" -t f16,q8_0,q6_k,q5_k_m,q4_k_m,q4_0 --method imatrix --calib "$CALIB" \
    --text "$TEXT" --chunks 20 --report "$OUT/report"

step "minnow quantize: the best 4-bit file no larger than llama.cpp's Q4_K_M (GPTQ, size budget 5.34 bpw)"
"$BUILD/minnow" quantize "$MODEL" -o "$OUT/ts21m-best4.gguf" -t q4_k --bpw 5.34 --method gptq --calib "$CALIB"

step "minnow gate: would CI ship it? (ΔPPL <= 1%, KLD <= 0.003, top-1 >= 95%)"
"$BUILD/minnow" gate --ref "$MODEL" "$OUT/ts21m-best4.gguf" --text "$TEXT" --chunks 20 \
    --max-ppl-increase 1% --max-kld 0.003 --min-top1 0.95

step "minnow prune: half the FFN channels (activation importance), perplexity before and after"
"$BUILD/minnow" prune "$MODEL" -o "$OUT/ts21m-ffn50" --ffn 0.5 --calib "$CALIB" --eval-text "$TEXT" --chunks 20

printf '\nreport: %s (report.md, chart.svg, report.json)\n' "$OUT/report"
