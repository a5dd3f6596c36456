# The outside judge: every GGUF minnow writes loads in llama.cpp, and llama.cpp agrees with
# minnow's engine on next-token logits and perplexity, on the real models and on synthetic
# checkpoints in the exact TinyLlama, Phi-3 and Qwen2 layouts.
. tests/integration/lib.sh
M21=$DATA/tinystories-llama-21m
HELD=$M21/heldout.txt
STORIES=$DATA/tinystories/TinyStories-valid.excerpt.txt

# llama.cpp's own perplexity of this model (F32 GGUF from its converter), from PROVENANCE.md:
# an independent reference that does not go through minnow's converter.
"$MINNOW" eval "$M21" --text "$HELD" --ctx 512 --chunks 40 --json -q >"$TMP/hf.json"
within "$(json "$TMP/hf.json" ppl)" 41.1970 0.0002 "21M HF F16 ppl vs llama.cpp's published 41.1970"

for type in f32 f16; do
    "$MINNOW" convert "$M21" -o "$TMP/m21-$type.gguf" --type "$type" -q
    "$PEER" info "$TMP/m21-$type.gguf" >"$TMP/info.json" || fail "llama.cpp cannot load the $type GGUF"
    [ "$(json "$TMP/info.json" n_params)" = 20909312 ] || fail "llama.cpp sees the wrong parameter count"
    "$MINNOW" eval "$TMP/m21-$type.gguf" --text "$HELD" --chunks 12 --json -q >"$TMP/mn.json"
    "$PEER" ppl "$TMP/m21-$type.gguf" "$HELD" --ctx 512 --chunks 12 >"$TMP/peer.json"
    within "$(json "$TMP/mn.json" ppl)" "$(json "$TMP/peer.json" ppl)" 0.002 "21M $type GGUF ppl minnow vs llama.cpp"
done
IDS=$(ids_of "$TMP/m21-f32.gguf" "$HELD" 100)
same_logits "$TMP/m21-f32.gguf" "$TMP/m21-f32.gguf" "$IDS" 0.01 "21M f32 GGUF"
same_logits "$TMP/m21-f32.gguf" "$M21" "$IDS" 0.01 "21M HF F16 vs llama.cpp on the f32 GGUF"
"$MINNOW" tokenize "$TMP/m21-f32.gguf" --text "$HELD" >"$TMP/a.ids"
"$PEER" tokenize "$TMP/m21-f32.gguf" --file "$HELD" >"$TMP/b.ids"
cmp -s "$TMP/a.ids" "$TMP/b.ids" || fail "token ids of heldout.txt differ from llama.cpp's"
echo "ok: $(wc -l <"$TMP/a.ids") token ids of heldout.txt identical"

# stories260K: llama2.c checkpoint with its own 512-token vocabulary; llama.cpp keeps K/V in f16,
# which moves this tiny model's logits by up to ~0.03
"$MINNOW" convert "$DATA/stories260K/stories260K.bin" -o "$TMP/s260.gguf" -q
"$MINNOW" eval "$DATA/stories260K/stories260K.bin" --text "$STORIES" --ctx 256 --json -q >"$TMP/mn.json"
"$PEER" ppl "$TMP/s260.gguf" "$STORIES" --ctx 256 >"$TMP/peer.json"
within "$(json "$TMP/mn.json" ppl)" "$(json "$TMP/peer.json" ppl)" 0.002 "stories260K ppl minnow (llama2.c) vs llama.cpp (GGUF)"
same_logits "$TMP/s260.gguf" "$DATA/stories260K/stories260K.bin" "$(ids_of "$TMP/s260.gguf" "$STORIES" 120)" 0.05 stories260K

# Synthetic checkpoints in the real layouts (random weights, tiny dimensions, real tokenizers)
"$BUILD/tools/make_synthetic" tinyllama tiny "$TMP/tinyllama" --copy "$DATA/llama2-tokenizer/tokenizer.model" \
    --copy "$DATA/tokenizers/llama2/tokenizer_config.json"
"$BUILD/tools/make_synthetic" phi3 tiny "$TMP/phi3" --shards 2
"$BUILD/tools/make_synthetic" qwen2 tiny "$TMP/qwen2" --dtype bf16 --copy "$DATA/tokenizers/qwen3/tokenizer.json" \
    --copy "$DATA/tokenizers/qwen3/tokenizer_config.json"
for arch in tinyllama phi3 qwen2; do
    tok=""
    [ "$arch" = phi3 ] && tok="--tokenizer $DATA/ggml-vocab/ggml-vocab-phi-3.gguf"
    # shellcheck disable=SC2086
    "$MINNOW" convert "$TMP/$arch" -o "$TMP/$arch.gguf" -q $tok
    "$PEER" info "$TMP/$arch.gguf" >/dev/null || fail "llama.cpp cannot load the synthetic $arch GGUF"
    # F16/BF16 weights: llama.cpp rounds activations to the weight type, minnow keeps f32
    # shellcheck disable=SC2086
    same_logits "$TMP/$arch.gguf" "$TMP/$arch" "$(ids_of "$TMP/$arch.gguf" "$STORIES" 80)" 0.02 "synthetic $arch" $tok
    "$MINNOW" eval "$TMP/$arch.gguf" --text "$STORIES" --ctx 128 --chunks 8 --json -q >"$TMP/mn.json"
    "$PEER" ppl "$TMP/$arch.gguf" "$STORIES" --ctx 128 --chunks 8 >"$TMP/peer.json"
    within "$(json "$TMP/mn.json" ppl)" "$(json "$TMP/peer.json" ppl)" 0.002 "synthetic $arch ppl"
done
