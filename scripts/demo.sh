#!/bin/sh
# The main job on the real 21M-parameter model in ../shared/data: describe it, measure its
# perplexity the way llama.cpp does, and write a GGUF that llama.cpp loads.
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
