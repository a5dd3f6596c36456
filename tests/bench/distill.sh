#!/bin/sh
# Bench section: distillation training throughput on the 21M model against PyTorch's CPU
# training step of the same model (Debian's python3-torch; tests/bench/torch_train_step.py), at
# the same threads and shapes: windows of 256 tokens, 4 per micro-batch, 4 micro-batches per
# step, fp32, AdamW. minnow's student is the 21M model itself and its teacher the same model,
# read from a teacher cache built once (teacher cost excluded, as PyTorch's step has no teacher);
# a second minnow row runs the teacher alongside. Numbers, not pass/fail.
# Usage: tests/bench/distill.sh BUILD_DIR DATA_DIR   (env BENCH_THREADS, default 2)
set -eu
BUILD=$(cd "$1" && pwd)
DATA=$(cd "$2" && pwd)
MINNOW=$BUILD/minnow
THREADS=${BENCH_THREADS:-2}
WORK=$BUILD/bench
mkdir -p "$WORK"
RESULTS=$WORK/results.tsv
M21=$DATA/tinystories-llama-21m
STEPS=${BENCH_DISTILL_STEPS:-6}
"$(dirname "$0")/../../scripts/install-deps.sh" python3-torch

# minnow re-executes itself with OPENBLAS_CORETYPE when OpenBLAS 0.3.21 does not know the CPU
# (core/threads.h); PyTorch links the same OpenBLAS, so it gets the same kernels here.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
    flags=$(grep -m1 '^flags' /proc/cpuinfo)
    core=
    case "$flags" in *avx2*) case "$flags" in *fma*) core=Haswell ;; esac ;; esac
    case "$flags" in *avx512f*avx512dq*avx512bw*avx512vl*) core=SkylakeX ;; esac
else
    core=$OPENBLAS_CORETYPE
fi

# Training text only: the 4 MB file's tail is the held-out text.
head -c 400000 "$DATA/tinystories/TinyStories-train.lowercased-4MB.txt" >"$WORK/distill-data.txt"

# Both sides sleep rather than spin while waiting for work (a shared machine otherwise costs
# either 4-6x); both also report tokens per CPU-second, which the machine's load hardly moves.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

run_minnow() { # NAME [options] -> $WORK/NAME.json
    name=$1
    shift
    rm -rf "$WORK/distill-out"
    "$MINNOW" distill --teacher "$M21" --student "$M21" --data "$WORK/distill-data.txt" -o "$WORK/distill-out" \
        --steps "$STEPS" --seq 256 --batch 4 --accum 4 --threads "$THREADS" --json -q "$@" >"$WORK/$name.json"
    rm -rf "$WORK/distill-out"
}
run_torch() { # NAME [env] -> $WORK/NAME.json
    name=$1
    shift
    env "$@" /usr/bin/python3 "$(dirname "$0")/torch_train_step.py" "$M21" --threads "$THREADS" --seq 256 --batch 4 \
        --accum 4 --steps 4 >"$WORK/$name.json"
}
rate() { jq -r .tokens_per_second "$WORK/$1.json"; }
per_cpu() { jq -r '.tokens / .cpu_seconds' "$WORK/$1.json"; }

# build the cache first (reused by later benches: it is keyed by teacher and data)
"$MINNOW" distill --teacher "$M21" --student "$M21" --data "$WORK/distill-data.txt" -o "$WORK/distill-out" \
    --steps 1 --seq 256 --batch 4 --accum 1 --threads "$THREADS" -q --teacher-cache "$WORK/distill-teacher.cache" \
    >/dev/null
run_minnow mn-cached --teacher-cache "$WORK/distill-teacher.cache"
run_minnow mn-direct
run_torch torch-same OPENBLAS_CORETYPE="$core"
run_torch torch-default -u OPENBLAS_CORETYPE

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
row() { printf '%-48s %12s %12s %8s\n' "$1" "$(printf %.0f "$2")" "$(printf %.0f "$3")" "$(ratio "$2" "$3")" | tee -a "$RESULTS"; }
printf '\n%-48s %12s %12s %8s\n' "distillation step, 21M, $THREADS threads (load $(cut -d' ' -f1 /proc/loadavg))" \
    minnow PyTorch ratio
row "tokens/s, cached teacher ($core BLAS both)" "$(rate mn-cached)" "$(rate torch-same)"
row "tokens/s, teacher alongside" "$(rate mn-direct)" "$(rate torch-same)"
row "tokens/s, PyTorch with its default BLAS core" "$(rate mn-cached)" "$(rate torch-default)"
row "tokens per CPU-second, cached teacher" "$(per_cpu mn-cached)" "$(per_cpu torch-same)"
