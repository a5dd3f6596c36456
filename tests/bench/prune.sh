#!/bin/sh
# Bench section (make bench): pruning the TinyLlama-1.1B-size synthetic checkpoint to 50% of its
# FFN channels with activation importance (16384 calibration tokens), time and peak RSS (goal
# below 4 GB: the source stays mapped, layers are released as calibration passes them).
# Called by tests/bench/run.sh with BUILD DATA THREADS WORK RESULTS set.
set -eu
TL=$WORK/tinyllama-1.1b
CALIB=$DATA/tinystories/TinyStories-train.lowercased-4MB.txt
printf '\n%-46s %12s %12s %8s\n' "prune 1.1B-size checkpoint to 50% FFN" minnow llama.cpp ratio
rm -rf "$WORK/tl-pruned"
"$BUILD/minnow" prune "$TL" -o "$WORK/tl-pruned" --ffn 0.5 --calib "$CALIB" --no-eval --threads "$THREADS" --json -q \
    >"$WORK/prune.json"
printf '%-46s %12s %12s %8s\n' "minutes" "$(jq -r '.seconds / 60 * 10 | round / 10' "$WORK/prune.json")" - - |
    tee -a "$RESULTS"
printf '%-46s %12s %12s %8s\n' "peak RSS, MB (goal < 4000)" "$(jq -r '.peak_rss_bytes / 1000000 | floor' "$WORK/prune.json")" - - |
    tee -a "$RESULTS"
rm -rf "$WORK/tl-pruned"
