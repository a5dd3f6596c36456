# Corrupted inputs through `minnow eval` and `minnow convert`, generated here from real files
# (nothing committed): truncations at many offsets, lying lengths and counts, offsets outside
# the file, unknown dtypes, huge dims, broken config.json and tokenizer files, bad GGUF and
# llama2.c headers, NaN and Inf weights. Each must give exit code 1 with at most three lines on
# stderr naming the broken file (or tensor), no signal, no hang, and no output or temporary file.
# Convert refuses NaN/Inf weights, naming the tensor (docs/reliability.md).
. tests/integration/lib.sh
TEXT=$DATA/tinystories-llama-21m/heldout.txt
S260=$DATA/stories260K
OUT=$TMP/out
C=$TMP/corpus
mkdir -p "$OUT" "$C"
n_cases=0

# check NEEDLE COMMAND...: exit 1 within the time limit, 1-3 lines on stderr containing NEEDLE
check() {
    needle=$1
    shift
    set +e
    timeout 60 "$@" >"$TMP/stdout" 2>"$TMP/stderr"
    got=$?
    set -e
    [ $got != 124 ] || fail "hang (60 s) in: $*"
    [ $got = 1 ] || fail "exit $got (wanted 1) from: $* -- $(head -c 600 "$TMP/stderr")"
    lines=$(wc -l <"$TMP/stderr")
    [ "$lines" -ge 1 ] && [ "$lines" -le 3 ] || fail "$lines lines on stderr from: $*: $(head -c 600 "$TMP/stderr")"
    grep -qF -- "$needle" "$TMP/stderr" || fail "stderr of '$*' lacks '$needle': $(cat "$TMP/stderr")"
    [ -z "$(ls -A "$OUT")" ] || fail "output left behind by: $* -- $(ls -A "$OUT")"
    [ -z "$(find "$TMP" -name '.*.minnow-*')" ] || fail "temporary left behind by: $*: $(find "$TMP" -name '.*.minnow-*')"
    echo "ok: $2: $(head -n 1 "$TMP/stderr" | cut -c1-160)"
}

# case_ NEEDLE MODEL [ARGS]: eval and convert on MODEL both fail cleanly, naming NEEDLE
case_() {
    needle=$1 model=$2
    shift 2
    check "$needle" "$MINNOW" eval "$model" --text "$TEXT" --ctx 16 --chunks 2 -q "$@"
    check "$needle" "$MINNOW" convert "$model" -o "$OUT/x.gguf" -q "$@"
    n_cases=$((n_cases + 1))
}

# le64 N: N (< 2^32) as 8 little-endian bytes
le64() {
    printf "\\$(printf %03o $(($1 & 255)))\\$(printf %03o $(($1 >> 8 & 255)))"
    printf "\\$(printf %03o $(($1 >> 16 & 255)))\\$(printf %03o $(($1 >> 24 & 255)))\\000\\000\\000\\000"
}
# patch FILE OFFSET BYTES: overwrite bytes (printf escapes) at OFFSET
patch() { printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null; }
# pos FILE STRING: byte offset of the first occurrence of STRING
pos() { grep -boaF -- "$2" "$1" | head -n 1 | cut -d: -f1; }
# variant NAME BASE: a fresh copy of BASE named NAME in the corpus; prints its path
variant() {
    cp "$2" "$C/$1"
    echo "$C/$1"
}

# ---------------------------------------------------------------- llama2.c
"$MINNOW" convert "$S260/stories260K.bin" -o "$TMP/s260.gguf" -q
cp "$S260/tok512.bin" "$C/"
size=$(wc -c <"$S260/stories260K.bin")
for off in 0 3 27 28 29 4096 $((size / 2)) $((size - 1)); do
    head -c $off "$S260/stories260K.bin" >"$C/trunc-$off.bin"
    case_ "trunc-$off.bin" "$C/trunc-$off.bin"
done
head -c 100 /dev/zero >>"$(variant long.bin "$S260/stories260K.bin")"
case_ long.bin "$C/long.bin"
# header fields: dim, hidden, layers, heads, kv heads, vocab, seq_len (int32 each)
for edit in "0:\000\000\000\000" "8:\377\377\377\377" "8:\377\377\377\177" "12:\003\000\000\000" \
    "16:\007\000\000\000" "20:\000\000\000\200" "24:\377\377\377\177" "0:\062\064\153\141"; do
    f=$(variant "header-${edit%%:*}-$n_cases.bin" "$S260/stories260K.bin")
    patch "$f" "${edit%%:*}" "${edit#*:}"
    case_ "$(basename "$f")" "$f"
done
# the tokenizer next to the checkpoint
m=$C/l2c-tok
mkdir -p "$m"
cp "$S260/stories260K.bin" "$m/model.bin"
for t in trunc-4 trunc-3000 zero-max huge-len; do
    case $t in
    trunc-*) head -c "${t#trunc-}" "$S260/tok512.bin" >"$m/tokenizer.bin" ;;
    zero-max) cp "$S260/tok512.bin" "$m/tokenizer.bin" && patch "$m/tokenizer.bin" 0 '\000\000\000\000' ;;
    huge-len) cp "$S260/tok512.bin" "$m/tokenizer.bin" && patch "$m/tokenizer.bin" 8 '\377\377\377\177' ;;
    esac
    case_ tokenizer.bin "$m/model.bin"
done
# NaN and Inf weights (fp32 after the 28-byte header: token_embd 512x64, attn_norm 5x64, then wq)
wq=$((28 + 4 * (512 * 64 + 5 * 64)))
f=$(variant nan.bin "$S260/stories260K.bin")
patch "$f" $((wq + 4 * 100)) '\000\000\300\177'
case_ "blk.0.attn_q.weight" "$f" --tokenizer "$S260/tok512.bin"
f=$(variant inf.bin "$S260/stories260K.bin")
patch "$f" $((wq + 4 * 64 * 64 + 8)) '\000\000\200\377'
case_ "blk.1.attn_q.weight" "$f" --tokenizer "$S260/tok512.bin"

# ---------------------------------------------------------------- GGUF
G=$TMP/s260.gguf
size=$(wc -c <"$G")
for off in 0 3 4 7 8 15 16 23 24 31 64 1000 8000 $((size / 2)) $((size - 1)); do
    head -c $off "$G" >"$C/trunc-$off.gguf"
    case_ "trunc-$off.gguf" "$C/trunc-$off.gguf"
done
for edit in "0:GGUX" "4:\011\000\000\000" "4:\001\000\000\000" "8:\377\377\377\377\377\377\377\377" \
    "16:\377\377\377\377\377\377\377\377" "16:\377\003\000\000\000\000\000\000" "24:\377\377\377\377\377\377\377\377" \
    "24:\000\000\000\000\000\000\000\000"; do
    f=$(variant "head-${edit%%:*}-$n_cases.gguf" "$G")
    patch "$f" "${edit%%:*}" "${edit#*:}"
    case_ "$(basename "$f")" "$f"
done
# metadata values: architecture, block count, embedding length, the tokenizer's model and tokens
p=$(pos "$G" general.architecture)
f=$(variant arch.gguf "$G") && patch "$f" $((p + 32)) bloom && case_ 'unsupported architecture "bloom"' "$f"
p=$(pos "$G" llama.block_count)
f=$(variant layers.gguf "$G") && patch "$f" $((p + 21)) '\377\377\377\177' && case_ layers.gguf "$f"
f=$(variant layers0.gguf "$G") && patch "$f" $((p + 21)) '\000\000\000\000' && case_ layers0.gguf "$f"
p=$(pos "$G" llama.embedding_length)
f=$(variant dim.gguf "$G") && patch "$f" $((p + 26)) '\101\000\000\000' && case_ dim.gguf "$f"
p=$(pos "$G" tokenizer.ggml.model)
f=$(variant tokmodel.gguf "$G") && patch "$f" $((p + 32)) llamx && case_ "tokmodel.gguf" "$f"
p=$(pos "$G" tokenizer.ggml.tokens)
f=$(variant tokcount.gguf "$G") && patch "$f" $((p + 29)) '\377\377\377\377\377\377\377\377' && case_ tokcount.gguf "$f"
f=$(variant toktype.gguf "$G") && patch "$f" $((p + 25)) '\006' && case_ toktype.gguf "$f"
# a tensor info (output_norm.weight, 1-D: n_dims, ne0, type, offset follow its name)
p=$(pos "$G" output_norm.weight)
f=$(variant ndims.gguf "$G") && patch "$f" $((p + 18)) '\011' && case_ ndims.gguf "$f"
f=$(variant hugedim.gguf "$G") && patch "$f" $((p + 22)) '\377\377\377\377\377\377\377\177' && case_ hugedim.gguf "$f"
f=$(variant dtype.gguf "$G") && patch "$f" $((p + 30)) '\143' && case_ "unsupported tensor type 99" "$f"
f=$(variant offset.gguf "$G") && patch "$f" $((p + 41)) '\177' && case_ offset.gguf "$f"
f=$(variant unaligned.gguf "$G") && patch "$f" $((p + 34)) '\001' && case_ "not aligned" "$f"
# general.alignment that is not a power of two, in a file of its own
{
    printf 'GGUF\003\000\000\000\000\000\000\000\000\000\000\000\001\000\000\000\000\000\000\000'
    printf '\021\000\000\000\000\000\000\000general.alignment\004\000\000\000\003\000\000\000'
} >"$C/align.gguf"
case_ "not a power of two" "$C/align.gguf"

# Not corrupt but hostile: 200,000 extra general.* keys (32 bytes each, so the data section
# keeps its alignment) must not make loading quadratic in the key count.
nkv=$(od -An -tu8 -j16 -N8 "$G" | tr -d ' ')
{
    head -c 16 "$G"
    le64 $((nkv + 200000))
    LC_ALL=C awk 'BEGIN { for (i = 0; i < 200000; i++) printf "%c%c%c%c%c%c%c%cgeneral.x%07d%c%c%c%c%c%c%c%c", 16, 0, 0, 0, 0, 0, 0, 0, i, 4, 0, 0, 0, i % 256, 0, 0, 0 }'
    tail -c +25 "$G"
} >"$C/many-keys.gguf"
start=$(date +%s)
timeout 60 "$MINNOW" info "$C/many-keys.gguf" >/dev/null || fail "info on a GGUF with 200,000 keys failed or hung"
echo "ok: a GGUF with 200,000 metadata keys loads in $(($(date +%s) - start)) s"

# ---------------------------------------------------------------- Hugging Face directories
# A tiny llama checkpoint (hidden 8, one layer, vocab 512; f16 weights zero, norms one) with
# the 512-token tokenizer as tokenizer.gguf.
SPEC="model.embed_tokens.weight 512 8
model.layers.0.input_layernorm.weight 8
model.layers.0.self_attn.q_proj.weight 8 8
model.layers.0.self_attn.k_proj.weight 4 8
model.layers.0.self_attn.v_proj.weight 4 8
model.layers.0.self_attn.o_proj.weight 8 8
model.layers.0.post_attention_layernorm.weight 8
model.layers.0.mlp.gate_proj.weight 16 8
model.layers.0.mlp.up_proj.weight 16 8
model.layers.0.mlp.down_proj.weight 8 16
model.norm.weight 8
lm_head.weight 512 8"
header=$(printf '%s\n' "$SPEC" | awk '{ n = 1; shape = ""; for (i = 2; i <= NF; i++) { n *= $i; shape = shape (i > 2 ? "," : "") $i }
    printf "%s\"%s\":{\"dtype\":\"F16\",\"shape\":[%s],\"data_offsets\":[%d,%d]}", (NR > 1 ? "," : "{"), $1, shape, off, off + 2 * n
    off += 2 * n } END { print "}" }')
# safetensors FILE HEADER: the header, then the SPEC tensors' data (f16 zeros, norms 1.0)
safetensors() {
    {
        le64 "$(printf %s "$2" | wc -c)"
        printf %s "$2"
        printf '%s\n' "$SPEC" | while read -r name d0 d1; do
            count=$((d0 * ${d1:-1}))
            case $name in
            *norm*) i=0 && while [ $i -lt "$count" ]; do printf '\000\074' && i=$((i + 1)); done ;;
            *) head -c $((2 * count)) /dev/zero ;;
            esac
        done
    } >"$1"
}
H=$TMP/hf-base
mkdir -p "$H"
cat >"$H/config.json" <<'EOF'
{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8, "intermediate_size": 16,
 "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 512,
 "max_position_embeddings": 64, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "tie_word_embeddings": false,
 "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float16"}
EOF
safetensors "$H/model.safetensors" "$header"
"$BUILD/tools/vocab_to_gguf" "$S260/tok512.bin" "$H/tokenizer.gguf"
"$MINNOW" eval "$H" --text "$TEXT" --ctx 16 --chunks 1 -q >/dev/null || fail "the tiny base model does not evaluate"
hlen=$(printf %s "$header" | wc -c)
data=$((8 + hlen))
# hf NAME: a fresh copy of the base directory; prints its path
hf() {
    rm -rf "${C:?}/$1"
    cp -r "$H" "$C/$1"
    echo "$C/$1"
}
# st NAME HEADER: a directory whose model.safetensors has this header over the base data
st() {
    d=$(hf "$1")
    safetensors "$d/model.safetensors" "$2"
    echo "$d"
}
size=$(wc -c <"$H/model.safetensors")
for off in 0 7 8 9 100 $((data - 1)) $data $((data + 1000)) $((size - 1)); do
    d=$(hf "st-trunc-$off") && head -c $off "$H/model.safetensors" >"$d/model.safetensors"
    case_ model.safetensors "$d"
done
d=$(hf st-len) && patch "$d/model.safetensors" 0 '\377\377\377\377\377\000\000\000' && case_ "header length" "$d"
d=$(hf st-len1) && le64 $((size - 7)) | dd of="$d/model.safetensors" conv=notrunc 2>/dev/null && case_ "header length" "$d"
# jqst NAME FILTER: a directory whose header is the base header edited by a jq filter
jqst() { st "$1" "$(printf %s "$header" | jq -c "$2")"; }
d=$(st st-notjson "[$(printf %s "$header" | cut -c2-)") && case_ "not a JSON object" "$d"
E='."model.embed_tokens.weight"'
d=$(jqst st-dtype "$E.dtype = \"I64\"") && case_ "unsupported dtype I64" "$d"
d=$(jqst st-dtype8 '."model.norm.weight".dtype = "F8_E4M3"') && case_ "unsupported dtype F8_E4M3" "$d"
d=$(jqst st-huge "$E.shape = [9000000000000000, 9000000000000000]") && case_ "impossibly large" "$d"
d=$(jqst st-neg "$E.shape = [-512, 8]") && case_ "invalid shape" "$d"
d=$(jqst st-frac "$E.shape = [51.2, 8]") && case_ "invalid shape" "$d"
d=$(jqst st-dims "$E.shape = [1, 1, 1, 512, 8]") && case_ "dimensions" "$d"
d=$(jqst st-span "$E.data_offsets = [0, 81920000]") && case_ "data_offsets span" "$d"
d=$(jqst st-outside '."lm_head.weight".data_offsets = [100000, 108192]') && case_ "outside" "$d"
d=$(jqst st-reversed "$E.data_offsets = [8192, 0]") && case_ "invalid data_offsets" "$d"
d=$(jqst st-noshape "del($E.shape)") && case_ "needs dtype, shape and data_offsets" "$d"
d=$(jqst st-overlap '."model.layers.0.input_layernorm.weight".data_offsets = [8190, 8206]') && case_ "overlap" "$d"
d=$(st st-dup "$(printf %s "$header" | sed 's/model.norm.weight/model.layers.0.input_layernorm.weight/')") &&
    case_ "appears twice" "$d"
d=$(st st-missing "$(printf %s "$header" | sed 's/model.norm.weight/model.nrom.weight/')") &&
    case_ "missing tensor model.norm.weight" "$d"
d=$(jqst st-shape '."model.layers.0.mlp.gate_proj.weight".shape = [8, 16]') && case_ "expected" "$d"
d=$(hf st-index) && rm "$d/model.safetensors" &&
    printf '{"weight_map": {"model.norm.weight": "../hf-base/model.safetensors"}}' >"$d/model.safetensors.index.json" &&
    case_ "model.safetensors.index.json" "$d"
d=$(hf st-shard) && mv "$d/model.safetensors" "$d/model-00001-of-00002.safetensors" &&
    printf '{"weight_map": {"lm_head.weight": "model-00002-of-00002.safetensors"}}' >"$d/model.safetensors.index.json" &&
    case_ "model-00002-of-00002.safetensors" "$d"
# NaN and Inf weights: eval names the tensor the forward pass finds, convert refuses it
q=$(printf %s "$header" | jq '."model.layers.0.self_attn.q_proj.weight".data_offsets[0]')
d=$(hf st-nan) && patch "$d/model.safetensors" $((data + q + 6)) '\000\176' &&
    case_ "model.layers.0.self_attn.q_proj.weight contains NaN" "$d"
dn=$(printf %s "$header" | jq '."model.layers.0.mlp.down_proj.weight".data_offsets[0]')
d=$(hf st-inf) && patch "$d/model.safetensors" $((data + dn + 30)) '\000\174' &&
    case_ "model.layers.0.mlp.down_proj.weight contains NaN or Inf" "$d"

# config.json
for c in trunc notobject string negative huge heads eps rope odd; do
    d=$(hf "config-$c")
    case $c in
    trunc) head -c 100 "$H/config.json" >"$d/config.json" ;;
    notobject) echo '[1, 2]' >"$d/config.json" ;;
    string) sed 's/"hidden_size": 8/"hidden_size": "8"/' "$H/config.json" >"$d/config.json" ;;
    negative) sed 's/"num_hidden_layers": 1/"num_hidden_layers": -1/' "$H/config.json" >"$d/config.json" ;;
    huge) sed 's/"num_hidden_layers": 1/"num_hidden_layers": 2000000000/' "$H/config.json" >"$d/config.json" ;;
    heads) sed 's/"num_key_value_heads": 1/"num_key_value_heads": 3/' "$H/config.json" >"$d/config.json" ;;
    eps) sed 's/"rms_norm_eps": 1e-05/"rms_norm_eps": 1e999/' "$H/config.json" >"$d/config.json" ;;
    rope) sed 's/"rope_theta": 10000.0/"rope_scaling": {"type": "yarn", "factor": 4}/' "$H/config.json" >"$d/config.json" ;;
    odd) sed 's/"num_attention_heads": 2/"num_attention_heads": 8/; s/"num_key_value_heads": 1/"num_key_value_heads": 8/' \
        "$H/config.json" >"$d/config.json" ;;
    esac
    case_ "config" "$d"
done

# tokenizer files next to the weights (tokenizer.model, then tokenizer.json, win over tokenizer.gguf)
M21=$DATA/tinystories-llama-21m
for t in model-trunc model-garbage json-big json-trunc json-type json-vocab gguf-trunc; do
    d=$(hf "tok-$t")
    case $t in
    model-trunc) head -c 20000 "$M21/tokenizer.model" >"$d/tokenizer.model" ;;
    model-garbage) head -c 3000 "$TEXT" >"$d/tokenizer.model" ;;
    json-big) cp "$DATA/tokenizers/llama2/tokenizer.json" "$d/" ;;
    json-trunc) head -c 5000 "$M21/tokenizer.json" >"$d/tokenizer.json" ;;
    json-type) echo '{"model": {"type": "Unigram", "vocab": []}}' >"$d/tokenizer.json" ;;
    json-vocab) echo '{"model": {"type": "BPE", "vocab": [1, 2]}}' >"$d/tokenizer.json" ;;
    gguf-trunc) head -c 3000 "$H/tokenizer.gguf" >"$d/tokenizer.gguf" ;;
    esac
    case_ tokenizer "$d"
done
echo "ok: $n_cases corrupted inputs, each through eval and convert: exit 1, at most 3 lines naming the problem, nothing left behind"
