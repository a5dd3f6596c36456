# minnow distill on short runs: the 21M model teaches a tiny random student (TinyLlama layout,
# same 32K vocabulary). The loss falls; an interrupted (Ctrl-C) or killed (SIGKILL) run resumed
# with --resume ends on exactly the loss of an uninterrupted one; a teacher cache is built once,
# reused, and trains exactly as the teacher run alongside does; the student loads in minnow and
# llama.cpp; bad input fails with one clear line and leaves no output.
. tests/integration/lib.sh
# Busy-waiting OpenMP threads collapse on a loaded machine (CI shares its cores); sleeping ones
# cost nothing measurable here.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
M21=$DATA/tinystories-llama-21m
head -c 20000 "$DATA/tinystories/TinyStories-train.lowercased-4MB.txt" >"$TMP/data.txt"
head -c 3000 "$M21/heldout.txt" >"$TMP/eval.txt"
"$BUILD/tools/make_synthetic" tinyllama tiny "$TMP/student" --copy "$DATA/llama2-tokenizer/tokenizer.model" \
    --copy "$DATA/tokenizers/llama2/tokenizer_config.json" >/dev/null

# distill OUT [options]: 20 steps of 2 windows of 32 tokens, lr 1e-3. With BACKGROUND set (in a
# background job) minnow replaces the shell, so $! is its pid and signals reach it.
distill() {
    out=$1
    shift
    set -- distill --teacher "$M21" --student "$TMP/student" --data "$TMP/data.txt" -o "$out" --steps 20 \
        --seq 32 --batch 2 --accum 1 --lr 1e-3 --threads 2 -q "$@"
    [ -z "${BACKGROUND:-}" ] || exec "$MINNOW" "$@"
    "$MINNOW" "$@"
}

# --- a whole run: the loss falls, perplexity is measured, the outputs load ---
distill "$TMP/full" --eval-text "$TMP/eval.txt" --gguf --json >"$TMP/full.json"
first=$(json "$TMP/full.json" first_loss) last=$(json "$TMP/full.json" loss)
at_most "$last" "$(awk -v f="$first" 'BEGIN { print f * 0.8 }')" "loss falls by 20% (first $first)"
after=$(json "$TMP/full.json" ppl_after) before=$(json "$TMP/full.json" ppl_before)
at_most "$after" "$before" "held-out perplexity improves"
for f in config.json model.safetensors tokenizer.model loss.svg distill.json model.gguf; do
    [ -f "$TMP/full/$f" ] || fail "missing output $f"
done
[ ! -e "$TMP/full/checkpoint.bin" ] || fail "a finished run left its checkpoint"
grep -q "<polyline" "$TMP/full/loss.svg" || fail "loss.svg has no curve"
"$MINNOW" eval "$TMP/full" --text "$TMP/eval.txt" --ctx 32 --json -q >"$TMP/eval.json"
within "$(json "$TMP/eval.json" ppl)" "$after" 1e-6 "minnow eval of the output = the reported perplexity"
if [ -x "$PEER" ]; then
    "$PEER" info "$TMP/full/model.gguf" >/dev/null || fail "llama.cpp cannot load the student's GGUF"
    echo "ok: llama.cpp loads the student's GGUF"
fi

# wait_for FILE: until it exists (the run checkpoints at step 10 of 20)
wait_for() {
    i=0
    while [ ! -e "$1" ]; do
        i=$((i + 1))
        [ $i -lt 600 ] || fail "no $1 after 60 s"
        sleep 0.1
    done
}

# --- Ctrl-C: the run saves a checkpoint and exits 130; --resume finishes on the same loss ---
BACKGROUND=1 distill "$TMP/intr" --json >"$TMP/intr.json" 2>"$TMP/intr.err" &
pid=$!
wait_for "$TMP/intr/checkpoint.bin"
kill -INT $pid
set +e
wait $pid
code=$?
set -e
[ "$code" = 130 ] || fail "interrupted run exited $code, wanted 130: $(cat "$TMP/intr.err")"
grep -q "resume" "$TMP/intr.err" || fail "the interruption message does not say how to resume: $(cat "$TMP/intr.err")"
expect_fail 1 "pass --resume" distill "$TMP/intr"
expect_fail 1 "--lr 0.001, this run has 0.002" distill "$TMP/intr" --resume --lr 2e-3
distill "$TMP/intr" --resume --json >"$TMP/intr.json"
[ "$(json "$TMP/intr.json" loss)" = "$last" ] || fail "resumed after Ctrl-C: loss $(json "$TMP/intr.json" loss), uninterrupted $last"
echo "ok: Ctrl-C then --resume ends on the uninterrupted loss ($last)"

# --- SIGKILL: nothing saved at the kill, --resume continues from the step-10 checkpoint ---
BACKGROUND=1 distill "$TMP/kill" >/dev/null 2>&1 &
pid=$!
wait_for "$TMP/kill/checkpoint.bin"
kill -KILL $pid
wait $pid 2>/dev/null || true
distill "$TMP/kill" --resume --json >"$TMP/kill.json"
[ "$(json "$TMP/kill.json" loss)" = "$last" ] || fail "resumed after SIGKILL: loss $(json "$TMP/kill.json" loss), uninterrupted $last"
echo "ok: SIGKILL then --resume ends on the uninterrupted loss"

# --- teacher cache: built once, reused, same training as the teacher run alongside ---
distill "$TMP/c1" --teacher-cache "$TMP/teacher.cache" --json >"$TMP/c1.json"
[ "$(json "$TMP/c1.json" teacher_cache_reused)" = false ] || fail "first cached run did not build the cache"
distill "$TMP/c2" --teacher-cache "$TMP/teacher.cache" --json >"$TMP/c2.json"
[ "$(json "$TMP/c2.json" teacher_cache_reused)" = true ] || fail "second cached run did not reuse the cache"
[ "$(json "$TMP/c1.json" loss)" = "$last" ] && [ "$(json "$TMP/c2.json" loss)" = "$last" ] ||
    fail "cached runs end on $(json "$TMP/c1.json" loss) / $(json "$TMP/c2.json" loss), the direct one on $last"
echo "ok: teacher cache built, reused, and trains bit for bit as the direct teacher"

# --- bad input: one clear line, exit 1 (2 for usage), nothing written ---
OUT=$TMP/bad
expect_fail 1 "different vocabularies" "$MINNOW" distill --teacher "$M21" --student "$DATA/stories260K/stories260K.bin" \
    --data "$TMP/data.txt" -o "$OUT" --steps 2 -q
[ ! -e "$OUT" ] || fail "vocabulary mismatch left $OUT"
head -c 200 "$TMP/data.txt" >"$TMP/short.txt"
expect_fail 1 "one step takes" distill "$OUT" --data "$TMP/short.txt"
[ ! -e "$OUT" ] || fail "short data left $OUT"
expect_fail 1 "non-finite" distill "$OUT" --lr 1e4
[ ! -e "$OUT/config.json" ] && [ ! -e "$OUT/model.safetensors" ] || fail "a diverged run wrote a model"
rm -rf "$OUT"
expect_fail 1 "no checkpoint to resume" distill "$TMP/c2" --resume
expect_fail 1 "--topk" distill "$OUT" --teacher-cache "$TMP/teacher.cache" --topk 8
[ ! -e "$OUT" ] || fail "a mismatched cache left $OUT"
expect_fail 1 "not a minnow teacher cache" distill "$OUT" --teacher-cache "$TMP/data.txt"
expect_fail 1 "is in it" distill "$TMP" # the output directory would swallow the data file
expect_fail 2 "not both" distill "$OUT" --minutes 1
expect_fail 2 "--alpha-ce" distill "$OUT" --alpha-ce 2
[ ! -e "$OUT" ] || fail "bad input left $OUT"
