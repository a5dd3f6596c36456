#!/bin/sh
# The distillation bar (docs/distill.md), about 30 minutes on 2 cores, not part of `make test`:
# prune the shared 21M model to half its non-embedding parameters (FFN channels and KV groups
# halved), then distill it from the unpruned model on the TinyStories training text for at most
# the budget, and report held-out perplexity (llama-perplexity's method, ctx 256) of the teacher,
# the pruned student before and after, the share of the gap recovered (goal >= 50%) and the
# wall time.
# Usage: tests/bench/distill_recovery.sh BUILD_DIR DATA_DIR [MINUTES]   (env THREADS, default 2)
set -eu
BUILD=$(cd "$1" && pwd)
DATA=$(cd "$2" && pwd)
MINUTES=${3:-25} # of training; loading, the three evaluations, checkpoints and writing take the rest of 30
MINNOW=$BUILD/minnow
THREADS=${THREADS:-2}
WORK=$BUILD/bench/recovery
M21=$DATA/tinystories-llama-21m
HELD=$M21/heldout.txt
mkdir -p "$WORK"
# Sleeping rather than spinning OpenMP workers: on a shared machine spinning ones cost 4-6x.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

# The 4 MB training file ends with the held-out text (PROVENANCE.md): train on what precedes it.
SRC=$DATA/tinystories/TinyStories-train.lowercased-4MB.txt
keep=$(($(wc -c <"$SRC") - $(wc -c <"$HELD")))
head -c "$keep" "$SRC" >"$WORK/train.txt"
tail -c +"$((keep + 1))" "$SRC" | cmp -s - "$HELD" || { echo "the training file does not end with $HELD" >&2; exit 1; }

echo "load: $(uptime | sed 's/.*load average/load average/')"
start=$(date +%s)
"$MINNOW" prune "$M21" -o "$WORK/pruned" --calib "$WORK/train.txt" --ffn 0.5 --kv-groups 0.5 --ctx 256 --no-eval \
    --threads "$THREADS" -q >/dev/null
pruned=$(date +%s)
"$MINNOW" distill --teacher "$M21" --student "$WORK/pruned" --data "$WORK/train.txt" -o "$WORK/distilled" \
    --minutes "$MINUTES" --seq 256 --batch 4 --accum 2 --lr 3e-4 --eval-text "$HELD" --threads "$THREADS" --json \
    >"$WORK/distill.json"
end=$(date +%s)
echo "load: $(uptime | sed 's/.*load average/load average/')"

j() { jq -r ".$1" "$WORK/distill.json"; }
printf 'pruned student      %s (%s parameters; non-embedding halved), pruning took %d s\n' "$WORK/pruned" \
    "$(j student_params)" $((pruned - start))
printf 'distillation        %s steps, %s tokens, %.0f tokens/s, %d s wall (training %.0f s)\n' "$(j steps)" \
    "$(j tokens)" "$(j tokens_per_second)" $((end - pruned)) "$(j train_seconds)"
printf 'held-out perplexity teacher %.3f, pruned %.3f, distilled %.3f (ctx 256, %s)\n' "$(j ppl_teacher)" \
    "$(j ppl_before)" "$(j ppl_after)" "$HELD"
awk -v r="$(j gap_recovered)" 'BEGIN { printf "gap recovered       %.1f%% (goal >= 50%%)\n", 100 * r }'
echo "loss curve          $WORK/distilled/loss.svg"
