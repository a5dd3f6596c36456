# Quantization: every type and mix minnow writes loads in llama.cpp with the same perplexity;
# rtn is bit-identical to llama-quantize; the calibrated methods beat rtn; KLD and the saved
# reference are consistent; gate's exit codes; bad input.
. tests/integration/lib.sh
M21=$DATA/tinystories-llama-21m
HELD=$M21/heldout.txt
CALIB=$TMP/calib.txt
head -c 400000 "$DATA/tinystories/TinyStories-train.lowercased-4MB.txt" >"$CALIB"

for type in q8_0 q6_k q5_k_m q5_k q5_1 q5_0 q4_k_m q4_k q4_1 q4_0 q3_k q2_k; do
    "$MINNOW" quantize "$M21" -o "$TMP/$type.gguf" -t "$type" -q >/dev/null
    "$MINNOW" eval "$TMP/$type.gguf" --text "$HELD" --chunks 2 --json -q >"$TMP/mn.json"
    "$PEER" ppl "$TMP/$type.gguf" "$HELD" --ctx 512 --chunks 2 >"$TMP/peer.json" || fail "llama.cpp cannot run $type"
    within "$(json "$TMP/mn.json" ppl)" "$(json "$TMP/peer.json" ppl)" 0.002 "$type ppl minnow vs llama.cpp"
done

# rtn is llama-quantize without an imatrix, tensor for tensor
"$MINNOW" convert "$M21" -o "$TMP/f16.gguf" --type f16 -q
"$PEER" quantize "$TMP/f16.gguf" "$TMP/llama-q4_k_m.gguf" q4_k_m >/dev/null
"$BUILD/tools/gguf_diff" "$TMP/q4_k_m.gguf" "$TMP/llama-q4_k_m.gguf" >"$TMP/diff.txt" ||
    fail "rtn q4_k_m differs from llama-quantize: $(cat "$TMP/diff.txt")"
echo "ok: rtn q4_k_m tensors identical to llama-quantize's"

# the calibrated methods against rtn at the same type, on text none of them saw
"$MINNOW" eval "$M21" --text "$HELD" --chunks 10 --save-ref "$TMP/ref.lp" --json -q >/dev/null
for method in rtn imatrix gptq awq; do
    "$MINNOW" quantize "$M21" -o "$TMP/m-$method.gguf" -t q4_k --method "$method" --calib "$CALIB" \
        --calib-tokens 4096 -q >/dev/null
    "$MINNOW" eval "$TMP/m-$method.gguf" --text "$HELD" --chunks 10 --ref "$TMP/ref.lp" --json -q >"$TMP/$method.json"
    echo "q4_k $method: kld $(json "$TMP/$method.json" kld)"
done
at_most "$(json "$TMP/gptq.json" kld)" "$(awk -v k="$(json "$TMP/rtn.json" kld)" 'BEGIN { print k * 0.8 }')" \
    "gptq KLD at most 0.8x rtn's"
at_most "$(json "$TMP/awq.json" kld)" "$(json "$TMP/rtn.json" kld)" "awq KLD below rtn's"
at_most "$(json "$TMP/imatrix.json" kld)" "$(json "$TMP/rtn.json" kld)" "imatrix KLD below rtn's"
"$MINNOW" info "$TMP/m-gptq.gguf" --json >"$TMP/info.json"
[ "$(jq -r '.metadata["minnow.quant.method"]' "$TMP/info.json")" = gptq ] || fail "method missing from metadata"
[ "$(jq -r '.metadata["minnow.quant.calib_tokens"]' "$TMP/info.json")" = 4096 ] || fail "calibration tokens missing"
[ "$(jq -r '.metadata["minnow.quant.calib_sha256"]' "$TMP/info.json")" = "$(sha256sum "$CALIB" | cut -d' ' -f1)" ] ||
    fail "calibration hash missing"
echo "ok: method, calibration hash and token count recorded"

# KLD of q8_0; the same figures from a live reference and from saved log-probs
"$MINNOW" eval "$TMP/q8_0.gguf" --text "$HELD" --chunks 10 --ref "$M21" --json -q >"$TMP/live.json"
"$MINNOW" eval "$TMP/q8_0.gguf" --text "$HELD" --chunks 10 --ref "$TMP/ref.lp" --json -q >"$TMP/saved.json"
at_most "$(json "$TMP/live.json" kld)" 0.002 "q8_0 KLD"
[ "$(json "$TMP/live.json" kld)" = "$(json "$TMP/saved.json" kld)" ] || fail "saved reference gives another KLD"
echo "ok: saved reference reproduces the live KLD exactly"
"$PEER" kld "$TMP/f16.gguf" "$TMP/q4_k_m.gguf" "$HELD" --ctx 512 --chunks 10 >"$TMP/peer_kld.json"
"$MINNOW" eval "$TMP/q4_k_m.gguf" --text "$HELD" --chunks 10 --ref "$TMP/ref.lp" --json -q >"$TMP/mn_kld.json"
within "$(json "$TMP/mn_kld.json" top1_agreement)" "$(json "$TMP/peer_kld.json" top1_agreement_exact)" 0.01 \
    "q4_k_m top-1 agreement minnow vs llama.cpp"

# a size budget: the planner's file fits it
"$MINNOW" quantize "$M21" -o "$TMP/bpw.gguf" -t q4_k --bpw 5.2 --calib "$CALIB" --calib-tokens 1024 --json -q \
    >"$TMP/bpw.json"
at_most "$(json "$TMP/bpw.json" bits_per_weight)" 5.2 "--bpw 5.2 budget"
"$PEER" info "$TMP/bpw.gguf" >/dev/null || fail "llama.cpp cannot load the --bpw mix"

# gate: pass, fail (3), error (1)
"$MINNOW" gate --ref "$TMP/ref.lp" "$TMP/q8_0.gguf" --text "$HELD" --chunks 10 --max-kld 0.01 -q >/dev/null ||
    fail "gate rejected q8_0"
set +e
"$MINNOW" gate --ref "$TMP/ref.lp" "$TMP/q2_k.gguf" --text "$HELD" --chunks 10 --max-kld 0.01 --json -q >"$TMP/gate.json"
code=$?
"$MINNOW" gate --ref "$TMP/missing" "$TMP/q2_k.gguf" --text "$HELD" -q 2>/dev/null
code_err=$?
set -e
[ $code = 3 ] || fail "gate exit $code for a failing candidate (want 3)"
[ "$(jq -r '.failures[0]' "$TMP/gate.json")" = kld ] || fail "gate JSON does not name the failed check"
[ $code_err = 1 ] || fail "gate exit $code_err on a missing reference (want 1)"
echo "ok: gate exits 0, 3 and 1"

# synthetic Phi-3 and Qwen2 layouts quantize to files llama.cpp runs alike
"$BUILD/tools/make_synthetic" phi3 tiny "$TMP/phi3"
"$BUILD/tools/make_synthetic" qwen2 tiny "$TMP/qwen2" --copy "$DATA/tokenizers/qwen3/tokenizer.json" \
    --copy "$DATA/tokenizers/qwen3/tokenizer_config.json"
for arch in phi3 qwen2; do
    tok=""
    [ "$arch" = phi3 ] && tok="--tokenizer $DATA/ggml-vocab/ggml-vocab-phi-3.gguf"
    # shellcheck disable=SC2086
    "$MINNOW" quantize "$TMP/$arch" -o "$TMP/$arch.gguf" -t q4_k_m -q $tok >/dev/null
    "$MINNOW" eval "$TMP/$arch.gguf" --text "$DATA/tinystories/TinyStories-valid.excerpt.txt" --ctx 128 --chunks 4 \
        --json -q >"$TMP/mn.json"
    "$PEER" ppl "$TMP/$arch.gguf" "$DATA/tinystories/TinyStories-valid.excerpt.txt" --ctx 128 --chunks 4 >"$TMP/peer.json"
    within "$(json "$TMP/mn.json" ppl)" "$(json "$TMP/peer.json" ppl)" 0.002 "synthetic $arch q4_k_m ppl"
done

# bad input: one clear line, exit 1 (2 for usage), no output file
refused() {
    expect_fail "$@"
    [ ! -e "$TMP/bad.gguf" ] || fail "output left behind by $*"
}
refused 2 "unknown type 'q9_k'" "$MINNOW" quantize "$M21" -o "$TMP/bad.gguf" -t q9_k
refused 2 "unknown method" "$MINNOW" quantize "$M21" -o "$TMP/bad.gguf" -t q4_k --method magic
head -c 300 "$CALIB" >"$TMP/short.txt"
refused 1 "calibration text too short" "$MINNOW" quantize "$M21" -o "$TMP/bad.gguf" -t q4_k --method gptq \
    --calib "$TMP/short.txt"
refused 1 "needs calibration text" "$MINNOW" quantize "$M21" -o "$TMP/bad.gguf" -t q4_k --method imatrix
refused 1 "already quantized" "$MINNOW" quantize "$TMP/q8_0.gguf" -o "$TMP/bad.gguf" -t q4_0
"$MINNOW" quantize "$TMP/q8_0.gguf" -o "$TMP/requant.gguf" -t q4_0 --allow-requantize -q >/dev/null ||
    fail "--allow-requantize refused"
# a NaN in one weight: refused, naming the tensor
"$BUILD/tools/make_synthetic" tinyllama tiny "$TMP/nan" --copy "$DATA/llama2-tokenizer/tokenizer.model"
offset=$("$BUILD/tools/tensor_offset" "$TMP/nan/model.safetensors" model.layers.1.mlp.up_proj.weight)
offset=$((offset + 1000))
printf '\377\177' | dd of="$TMP/nan/model.safetensors" bs=1 seek="$offset" conv=notrunc 2>/dev/null
refused 1 "model.layers.1.mlp.up_proj.weight" "$MINNOW" quantize "$TMP/nan" -o "$TMP/bad.gguf" -t q4_k
