#!/bin/sh
# Seed corpora for the fuzz targets, generated from the real files in the shared data (nothing
# is committed): small real inputs whole, big ones cut down (a vocabulary's first few hundred
# tokens, a checkpoint's header), truncations, and tiny models in every layout the loader
# binds, converted to GGUF by minnow itself.
# Usage: tests/fuzz/seeds.sh FUZZ_BUILD DATA MINNOW TOOLS
#   writes FUZZ_BUILD/corpus/NAME/seed-* for every target NAME; TOOLS holds vocab_to_gguf.
# Skipped when the seeds are newer than this script and the tools that make them.
set -eu
FB=$1
DATA=$2
MINNOW=$3
TOOLS=$4
C=$FB/corpus
STAMP=$C/.seeds-done
if [ -f "$STAMP" ] && [ "$STAMP" -nt "$0" ] && [ "$STAMP" -nt "$FB/make_seeds" ] && [ "$STAMP" -nt "$MINNOW" ]; then
    exit 0
fi
W=$(mktemp -d "${TMPDIR:-/tmp}/minnow-seeds.XXXXXX")
trap 'rm -rf "$W"' EXIT
for t in safetensors safetensors_dir gguf gguf_tokenizer hf_config tokenizer_json sp_model llama2c \
    llama2c_tokenizer model_load encode_spm encode_gpt2 encode_llama3 encode_qwen; do
    mkdir -p "$C/$t"
    rm -f "$C/$t"/seed-*
done
SEEDS=$FB/make_seeds
M21=$DATA/tinystories-llama-21m
TOK512=$DATA/stories260K/tok512.bin

# le32 N: N as 4 little-endian bytes
le32() {
    printf "\\$(printf %03o $(($1 & 255)))\\$(printf %03o $(($1 >> 8 & 255)))"
    printf "\\$(printf %03o $(($1 >> 16 & 255)))\\$(printf %03o $(($1 >> 24 & 255)))"
}
# le64 N: N as 8 little-endian bytes (N < 2^32)
le64() {
    le32 "$1"
    printf '\000\000\000\000'
}
nul() { printf '\000'; }
# safetensors JSON DATA_BYTES: a safetensors file with zeroed data
safetensors() {
    le64 "$(printf %s "$1" | wc -c)"
    printf %s "$1"
    head -c "$2" /dev/zero
}
# cut FILE TARGET NAME OFFSET...: truncations of FILE as seeds
cut() {
    f=$1 t=$2 n=$3
    shift 3
    for off in "$@"; do head -c "$off" "$f" >"$C/$t/seed-$n-$off"; done
}

# --- tiny models: llama2.c, Hugging Face (llama, qwen2, phi3), and their GGUF conversions
"$SEEDS" llama2c "$W/tiny.bin" 8 16 2 2 1 512 16 separate
"$SEEDS" llama2c "$W/tiny-shared.bin" 8 16 1 2 2 512 8 shared
for arch in llama qwen2 phi3; do "$SEEDS" hf "$arch" "$W/hf-$arch"; done
"$MINNOW" convert "$W/tiny.bin" --tokenizer "$TOK512" -o "$W/tiny.gguf" -q
"$MINNOW" convert "$W/tiny-shared.bin" --tokenizer "$TOK512" -o "$W/tiny-shared-f16.gguf" --type f16 -q
for arch in qwen2 phi3; do
    "$MINNOW" convert "$W/hf-$arch" --tokenizer "$TOK512" -o "$W/tiny-$arch.gguf" -q
done
"$MINNOW" convert "$DATA/stories260K/stories260K.bin" --tokenizer "$TOK512" -o "$W/s260.gguf" -q

# --- cut-down vocabularies: the first few hundred tokens and merges of the real files
jq -c '.model.vocab |= with_entries(select(.value < 400)) | .model.merges |= .[:300]
    | .added_tokens |= map(select(.id < 400))' "$DATA/tokenizers/llama2/tokenizer.json" >"$W/llama2.json"
for v in llama3:128000 qwen3:151643; do
    name=${v%%:*} first=${v##*:}
    jq -c --argjson first "$first" '.model.vocab |= with_entries(select(.value < 400)) | .model.merges |= .[:300]
        | .added_tokens |= (map(select(.id >= $first and .id < $first + 4)) | map(.id += 400 - $first))' \
        "$DATA/tokenizers/$name/tokenizer.json" >"$W/$name.json"
    jq -c 'del(.chat_template, .added_tokens_decoder)' "$DATA/tokenizers/$name/tokenizer_config.json" >"$W/$name-config.json"
done
"$SEEDS" sp-model "$DATA/llama2-tokenizer/tokenizer.model" "$W/small.model" 400
echo '{"vocab_size": 410}' >"$W/vocab410.json"
echo '{"vocab_size": 410, "architectures": ["Phi3ForCausalLM"], "bos_token_id": 1}' >"$W/phi3-410.json"
echo '{"<extra_0>": 400, "<extra_1>": 401}' >"$W/added.json"
jq -c '.added_tokens_decoder = {"0": {"content": "<unk>", "special": true}, "405": {"content": "<|user|>",
    "special": false}, "406": {"content": "<|end|>", "special": true}}' \
    "$DATA/tokenizers/llama2/tokenizer_config.json" >"$W/llama2-config.json"
for j in llama2 llama3 qwen3; do
    mkdir -p "$W/dir-$j"
    cp "$W/$j.json" "$W/dir-$j/tokenizer.json"
    if [ -f "$W/$j-config.json" ]; then cp "$W/$j-config.json" "$W/dir-$j/tokenizer_config.json"; fi
    "$TOOLS/vocab_to_gguf" "$W/dir-$j/tokenizer.json" "$W/$j-vocab.gguf"
done
"$TOOLS/vocab_to_gguf" "$W/small.model" "$W/spm-vocab.gguf"
"$TOOLS/vocab_to_gguf" "$TOK512" "$W/tok512-vocab.gguf"

# --- safetensors
for arch in llama qwen2 phi3; do cp "$W/hf-$arch/model.safetensors" "$C/safetensors/seed-tiny-$arch"; done
hlen=$(od -An -tu4 -N4 "$M21/model.safetensors" | tr -d ' ')
cut "$M21/model.safetensors" safetensors m21-header $((hlen + 8)) $((hlen + 8 + 64))
cut "$W/hf-llama/model.safetensors" safetensors tiny 7 100 1000
safetensors '{"__metadata__":{"format":"pt"},"x":{"dtype":"BF16","shape":[],"data_offsets":[0,2]},"y":{"dtype":"F32","shape":[0,3],"data_offsets":[2,2]}}' 2 \
    >"$C/safetensors/seed-scalar"

# --- safetensors_dir: index.json, NUL, a.safetensors (b.safetensors is fixed by the target)
{
    printf '{"metadata":{"total_size":28},"weight_map":{"a.w":"a.safetensors","b.x":"b.safetensors","b.y":"b.safetensors"}}'
    nul
    safetensors '{"a.w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}' 8
} >"$C/safetensors_dir/seed-two-shards"
printf '{"weight_map":{"b.x":"b.safetensors"}}' >"$C/safetensors_dir/seed-one-shard"

# --- config.json
cp "$M21/config.json" "$C/hf_config/seed-m21"
for arch in llama qwen2 phi3; do cp "$W/hf-$arch/config.json" "$C/hf_config/seed-tiny-$arch"; done
jq '.rope_scaling = {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192} | .eos_token_id = [128001, 128008] | .head_dim = 64' \
    "$M21/config.json" >"$C/hf_config/seed-llama3-rope"
jq '.rope_scaling = {"type": "linear", "factor": 2.0} | .tie_word_embeddings = true | .bos_token_id = null' \
    "$M21/config.json" >"$C/hf_config/seed-linear-rope"

# --- tokenizer.json, NUL, tokenizer_config.json, NUL, config.json
{ cat "$W/llama2.json"; nul; cat "$DATA/tokenizers/llama2/tokenizer_config.json"; nul; cat "$W/vocab410.json"; } \
    >"$C/tokenizer_json/seed-llama2"
{ cat "$W/llama3.json"; nul; cat "$W/llama3-config.json"; nul; cat "$W/vocab410.json"; } >"$C/tokenizer_json/seed-llama3"
{ cat "$W/qwen3.json"; nul; cat "$W/qwen3-config.json"; } >"$C/tokenizer_json/seed-qwen3"
cp "$W/llama3.json" "$C/tokenizer_json/seed-llama3-alone"
cp "$W/qwen3.json" "$C/tokenizer_json/seed-qwen3-alone"

# --- tokenizer.model: length, model, then tokenizer_config.json, added_tokens.json, config.json
size=$(wc -c <"$W/small.model")
{ le32 "$size"; cat "$W/small.model"; } >"$C/sp_model/seed-alone"
{ le32 "$size"; cat "$W/small.model"; cat "$W/llama2-config.json"; nul; cat "$W/added.json"; nul; cat "$W/vocab410.json"; } \
    >"$C/sp_model/seed-with-files"
{ le32 "$size"; cat "$W/small.model"; cat "$W/llama2-config.json"; nul; nul; cat "$W/phi3-410.json"; } \
    >"$C/sp_model/seed-phi3"
head -c 3000 "$W/small.model" >"$W/short.model"
{ le32 3000; cat "$W/short.model"; } >"$C/sp_model/seed-truncated"

# --- llama2.c checkpoints and tokenizer.bin
cp "$W/tiny.bin" "$C/llama2c/seed-tiny"
cp "$W/tiny-shared.bin" "$C/llama2c/seed-tiny-shared"
cut "$DATA/stories260K/stories260K.bin" llama2c s260 28 1000
cp "$TOK512" "$C/llama2c_tokenizer/seed-tok512"
cut "$TOK512" llama2c_tokenizer tok512 4 1000
cut "$DATA/llama2-tokenizer/tokenizer.bin" llama2c_tokenizer llama2 3000

# --- GGUF: whole tiny models, headers of bigger files, tokenizer-only files
for g in tiny tiny-shared-f16 tiny-qwen2 tiny-phi3; do cp "$W/$g.gguf" "$C/gguf/seed-$g"; done
cut "$W/s260.gguf" gguf s260 24 16384
cut "$DATA/ggml-vocab/ggml-vocab-llama-spm.gguf" gguf vocab-spm 4096
cp "$W/tok512-vocab.gguf" "$C/gguf/seed-tok512-vocab"
for g in llama2-vocab llama3-vocab qwen3-vocab spm-vocab tok512-vocab tiny; do
    cp "$W/$g.gguf" "$C/gguf_tokenizer/seed-$g"
done

# --- whole models: GGUF, llama2.c, and {config.json NUL model.safetensors}
for g in tiny tiny-shared-f16 tiny-qwen2 tiny-phi3; do cp "$W/$g.gguf" "$C/model_load/seed-$g-gguf"; done
cp "$W/tiny.bin" "$C/model_load/seed-tiny-bin"
cp "$W/tiny-shared.bin" "$C/model_load/seed-tiny-shared-bin"
for arch in llama qwen2 phi3; do
    { cat "$W/hf-$arch/config.json"; nul; cat "$W/hf-$arch/model.safetensors"; } >"$C/model_load/seed-hf-$arch"
done

# --- text for the encoders: llama.cpp's tokenizer test inputs, and slices of real text
mkdir -p "$W/inp" "$W/text"
for inp in "$DATA"/ggml-vocab/*.inp; do
    awk -v dir="$W/inp" -v base="$(basename "$inp")" 'BEGIN { n = 0; f = dir "/" base "-" n }
        /^__ggml_vocab_test__$/ { close(f); n++; f = dir "/" base "-" n; next }
        { printf "%s\n", $0 > f }' "$inp"
done
head -c 16384 "$DATA/wikitext-2-raw/wiki.test.raw" | split -b 1024 - "$W/text/wiki-"
head -c 8192 "$DATA/tinystories/TinyStories-valid.excerpt.txt" | split -b 1024 - "$W/text/stories-"
for t in encode_spm encode_gpt2 encode_llama3 encode_qwen; do
    for f in "$W"/inp/* "$W"/text/*; do
        if [ -s "$f" ]; then cp "$f" "$C/$t/seed-$(basename "$f")"; fi
    done
done
touch "$STAMP"
for t in "$C"/*/; do printf '%s %s\n' "$(basename "$t")" "$(ls "$t" | grep -c '^seed-')"; done | paste -sd' ' -
