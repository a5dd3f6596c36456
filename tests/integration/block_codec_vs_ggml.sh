#!/bin/sh
# minnow's GGUF block codecs against ggml's own (llama-peer quantize-row / dequantize-row, i.e.
# ggml_quantize_chunk and ggml's to_float), bit for bit:
# - quantizing, for every type, with and without an importance vector, at every SIMD level
#   and with two threads, on random rows of several distributions (heavy tails, outliers,
#   zeros, denormals, huge values ...) and on rows of a real checkpoint;
# - dequantizing ggml's output and arbitrary block bytes.
# (Q8_1 and Q8_K are not here: ggml_quantize_chunk refuses them.)
# Env (tests/run.sh): BUILD, DATA, PEER, TMP.
set -eu

Q=$BUILD/tools/quantize_rows
DUMP=$BUILD/tools/dump_tensor
[ -x "$PEER" ] || { echo "missing $PEER (run: make peer)"; exit 1; }
for t in "$Q" "$DUMP"; do
    [ -x "$t" ] || { echo "missing $t (the Makefile builds tests/tools/*.c into BUILD/tools)"; exit 1; }
done

TYPES="f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0 q2_k q3_k q4_k q5_k q6_k"
LEVELS="scalar avx2 avx512"
checks=0
fails=0
same() { # what file-a file-b
    checks=$((checks + 1))
    if ! cmp -s "$2" "$3"; then
        fails=$((fails + 1))
        echo "FAIL: $1 ($(cmp "$2" "$3" 2>&1 | head -n 1))"
    fi
}

# Every data set: NAME ROW_LEN, rows in $TMP/NAME.f32.
sets=""
for dist in gauss uniform heavy outliers sparse ints tiny denormal huge positive negative mixed; do
    "$Q" random $dist 16 512 "$TMP/$dist.f32" 7
    sets="$sets $dist:512"
done
"$Q" random gauss 8 96 "$TMP/short.f32" 11 # a row length only the 32-value types accept
sets="$sets short:96"
model=$DATA/tinystories-llama-21m/model.safetensors
for tensor in model.embed_tokens.weight model.layers.0.self_attn.q_proj.weight \
    model.layers.2.self_attn.k_proj.weight model.layers.3.mlp.down_proj.weight \
    model.layers.5.mlp.up_proj.weight lm_head.weight; do
    name=$(echo "$tensor" | tr . _)
    len=$("$DUMP" "$model" "$tensor" "$TMP/$name.f32" 96 | cut -d' ' -f1)
    sets="$sets $name:$len"
done

for set in $sets; do
    name=${set%:*}
    len=${set#*:}
    "$Q" random weights 1 "$len" "$TMP/w$len.f32" "$len"
    for type in $TYPES; do
        case $type in q2_k | q3_k | q4_k | q5_k | q6_k) [ $((len % 256)) -eq 0 ] || continue ;; esac
        case $type in f32 | f16 | bf16) imats="none" ;; *) imats="none $TMP/w$len.f32" ;; esac
        for imat in $imats; do
            opt=""
            [ "$imat" = none ] || opt="--imatrix $imat"
            # shellcheck disable=SC2086
            "$PEER" quantize-row "$type" "$TMP/$name.f32" "$TMP/ggml.bin" --row-len "$len" $opt >/dev/null
            for level in $LEVELS; do
                # shellcheck disable=SC2086
                "$Q" quantize-row "$type" "$TMP/$name.f32" "$TMP/mn.bin" --row-len "$len" --simd $level $opt
                same "quantize $type $name imatrix=$([ "$imat" = none ] && echo no || echo yes) $level" \
                    "$TMP/ggml.bin" "$TMP/mn.bin"
            done
            # shellcheck disable=SC2086
            "$Q" quantize-row "$type" "$TMP/$name.f32" "$TMP/mn.bin" --row-len "$len" --threads 2 $opt
            same "quantize $type $name imatrix=$([ "$imat" = none ] && echo no || echo yes) 2 threads" \
                "$TMP/ggml.bin" "$TMP/mn.bin"
        done
        # Decoding ggml's own output (the last one: with importance where the type has it).
        "$PEER" dequantize-row "$type" "$TMP/ggml.bin" "$TMP/ggml.f32" --row-len "$len" >/dev/null
        for level in $LEVELS; do
            "$Q" dequantize-row "$type" "$TMP/ggml.bin" "$TMP/mn.f32" --row-len "$len" --simd $level
            same "dequantize $type $name $level" "$TMP/ggml.f32" "$TMP/mn.f32"
        done
    done
done

# Decoding arbitrary bytes: every bit pattern of levels and packed scales.
for type in $TYPES; do
    case $type in f32 | bf16) continue ;; esac
    "$Q" random-blocks "$type" 4096 "$TMP/blocks.bin" 5
    # rows of 64 blocks
    case $type in f16) len=64 ;; q2_k | q3_k | q4_k | q5_k | q6_k) len=16384 ;; *) len=2048 ;; esac
    "$PEER" dequantize-row "$type" "$TMP/blocks.bin" "$TMP/ggml.f32" --row-len "$len" >/dev/null
    for level in $LEVELS; do
        "$Q" dequantize-row "$type" "$TMP/blocks.bin" "$TMP/mn.f32" --row-len "$len" --simd $level
        same "dequantize random $type blocks $level" "$TMP/ggml.f32" "$TMP/mn.f32"
    done
done

echo "$checks comparisons, $fails differ"
[ "$fails" -eq 0 ]
