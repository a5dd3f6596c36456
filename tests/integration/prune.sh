# Structured pruning end to end: every axis, on the shared 21M model and on synthetic Phi-3
# (fused qkv/gate_up, MHA) and Qwen2 (biases, tied embeddings, GQA) layouts, gives a Hugging Face
# directory that converts to a GGUF llama.cpp loads, with minnow's perplexity on it agreeing
# with llama.cpp's; activation importance beats magnitude, and magnitude beats random, on
# held-out text; bad requests fail with exit 1 and leave no output.
. tests/integration/lib.sh
M21=$DATA/tinystories-llama-21m
HELD=$M21/heldout.txt
CALIB=$DATA/tinystories/TinyStories-train.lowercased-4MB.txt
STORIES=$DATA/tinystories/TinyStories-valid.excerpt.txt
PHI3_TOK=$DATA/ggml-vocab/ggml-vocab-phi-3.gguf

# agree DIR TEXT CTX CHUNKS LABEL: DIR converts, llama.cpp loads it with the parameter count the
# prune report gave, and both engines measure the same perplexity.
agree() {
    "$MINNOW" convert "$1" -o "$1.gguf" -q
    "$PEER" info "$1.gguf" >"$TMP/info.json" || fail "$5: llama.cpp cannot load the GGUF"
    [ "$(json "$TMP/info.json" n_params)" = "$(json "$1.json" params_after)" ] ||
        fail "$5: llama.cpp sees $(json "$TMP/info.json" n_params) parameters, prune reported $(json "$1.json" params_after)"
    "$MINNOW" eval "$1.gguf" --text "$2" --ctx "$3" --chunks "$4" --json -q >"$TMP/mn.json"
    "$PEER" ppl "$1.gguf" "$2" --ctx "$3" --chunks "$4" >"$TMP/peer.json"
    within "$(json "$TMP/mn.json" ppl)" "$(json "$TMP/peer.json" ppl)" 0.002 "$5: ppl minnow vs llama.cpp"
}

# prune21 NAME ARGS...: prune the 21M model (perplexity before/after on 4 held-out chunks)
prune21() {
    name=$1
    shift
    "$MINNOW" prune "$M21" -o "$TMP/$name" --calib "$CALIB" --calib-tokens 2048 --eval-text "$HELD" --chunks 4 \
        --json -q "$@" >"$TMP/$name.json" || fail "prune $name failed"
}

# --- every axis on the 21M model (llama, GQA 8 heads / 2 KV groups, untied embeddings)
prune21 ffn --ffn 0.5
[ "$(json "$TMP/ffn.json" axes.ffn.after)" = 384 ] || fail "ffn 0.5 of 768 kept $(json "$TMP/ffn.json" axes.ffn.after)"
agree "$TMP/ffn" "$HELD" 512 4 "21M ffn 0.5"
# the written directory is the model prune measured
"$MINNOW" eval "$TMP/ffn" --text "$HELD" --chunks 4 --json -q >"$TMP/hf.json"
within "$(json "$TMP/hf.json" ppl)" "$(json "$TMP/ffn.json" ppl_after)" 0.00001 "21M ffn 0.5: written model vs prune's ppl_after"

prune21 heads --heads 0.5
[ "$(json "$TMP/heads.json" axes.heads.after)/$(json "$TMP/heads.json" axes.kv_groups.after)" = 4/2 ] ||
    fail "heads 0.5 did not keep 2 query heads in each of 2 groups"
agree "$TMP/heads" "$HELD" 512 4 "21M heads 0.5"

prune21 kv --kv-groups 0.5
[ "$(json "$TMP/kv.json" axes.heads.after)/$(json "$TMP/kv.json" axes.kv_groups.after)" = 4/1 ] ||
    fail "kv-groups 0.5 did not keep one whole group"
agree "$TMP/kv" "$HELD" 512 4 "21M kv-groups 0.5"

prune21 hidden --hidden 0.75
[ "$(json "$TMP/hidden.json" axes.hidden.after)" = 192 ] || fail "hidden 0.75 of 256 is not 192"
agree "$TMP/hidden" "$HELD" 512 4 "21M hidden 0.75"

prune21 depth --drop-layers 2 --layer-importance loss
[ "$(jq '.kept_layers | length' "$TMP/depth.json")" = 4 ] || fail "drop-layers 2 did not keep 4 layers"
agree "$TMP/depth" "$HELD" 512 4 "21M drop 2 layers (by loss)"

prune21 target --target-params 0.8 --importance magnitude
at_most "$(json "$TMP/target.json" params_after)" "$(json "$TMP/target.json" target.params)" "target-params 0.8"
at_most "$(json "$TMP/target.json" target.params)" "$(($(json "$TMP/target.json" params_after) * 105 / 100))" \
    "target-params 0.8 lands within 5% of the budget"

prune21 all --ffn 0.75 --heads 0.5 --hidden 0.875 --layers-keep 0-3,5
agree "$TMP/all" "$HELD" 512 4 "21M all axes at once"

# --- synthetic Phi-3 (fused tensors; llama.cpp ties heads x head_dim to the hidden size) and
#     Qwen2 (q/k/v biases, tied embeddings, GQA)
"$BUILD/tools/make_synthetic" phi3 tiny "$TMP/phi3"
"$BUILD/tools/make_synthetic" qwen2 tiny "$TMP/qwen2" --dtype bf16 --copy "$DATA/tokenizers/qwen3/tokenizer.json" \
    --copy "$DATA/tokenizers/qwen3/tokenizer_config.json"
for arch in phi3 qwen2; do
    tok=""
    [ "$arch" = phi3 ] && tok="--tokenizer $PHI3_TOK"
    for axis in "--ffn 0.5" "--heads 0.5" "--hidden 0.5" "--drop-layers 1" "--kv-groups 0.5 --ffn 0.5"; do
        name=$arch-$(echo "$axis" | tr -dc 'a-z0-9')
        # shellcheck disable=SC2086
        "$MINNOW" prune "$TMP/$arch" -o "$TMP/$name" --calib "$STORIES" --ctx 128 --calib-tokens 512 --no-eval \
            --json -q $axis $tok >"$TMP/$name.json" || fail "prune $name failed"
        agree "$TMP/$name" "$STORIES" 128 4 "synthetic $arch $axis"
    done
done

# --- importance ordering on held-out text the calibration never saw. Keep ratios where the gaps
#     are wide (docs/prune.md has the full table): FFN 0.25, heads 0.25.
for axis in "--ffn 0.25" "--heads 0.25"; do
    for imp in activation magnitude random; do
        "$MINNOW" prune "$M21" -o "$TMP/order-$imp" --calib "$CALIB" --calib-tokens 4096 --no-eval -q $axis \
            --importance "$imp"
        "$MINNOW" eval "$TMP/order-$imp" --text "$HELD" --chunks 16 --json -q >"$TMP/order-$imp.json"
    done
    act=$(json "$TMP/order-activation.json" ppl) mag=$(json "$TMP/order-magnitude.json" ppl)
    rnd=$(json "$TMP/order-random.json" ppl)
    at_most "$act" "$mag" "$axis: activation ppl <= magnitude ppl"
    at_most "$mag" "$rnd" "$axis: magnitude ppl <= random ppl"
done

# --- bad requests: exit 1 with one line naming the problem, no output directory
bad() {
    want=$1
    shift
    if "$MINNOW" prune "$M21" -o "$TMP/bad" --calib "$CALIB" --no-eval -q "$@" 2>"$TMP/err"; then
        fail "prune $* succeeded"
    else
        code=$?
    fi
    [ "$code" = 1 ] || fail "prune $*: exit $code, expected 1"
    grep -q "$want" "$TMP/err" || fail "prune $*: message '$(cat "$TMP/err")' lacks '$want'"
    [ "$(wc -l <"$TMP/err")" = 1 ] || fail "prune $*: more than one line: $(cat "$TMP/err")"
    [ ! -e "$TMP/bad" ] || fail "prune $* left $TMP/bad behind"
    echo "ok: prune $*: $(cat "$TMP/err")"
}
bad "keep ratio must be in (0, 1]" --ffn 0
bad "keep ratio must be in (0, 1]" --hidden 1.5
bad "rounds to zero" --ffn 0.01
bad "does not divide evenly" --heads 0.625
printf 'once upon a time\n' >"$TMP/short.txt"
bad "too short" --ffn 0.5 --calib "$TMP/short.txt"
bad "refusing to overwrite" --ffn 0.5 -o "$M21"
