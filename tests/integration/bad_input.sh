# Bad input: every broken file or argument gets one clear line naming the file and what is
# wrong, exit code 1 (2 for usage errors), never a crash, and no output or temporary file.
. tests/integration/lib.sh
M21=$DATA/tinystories-llama-21m
TEXT=$M21/heldout.txt
OUT=$TMP/out
mkdir -p "$OUT"

# expect CODE NEEDLE COMMAND...: expect_fail (lib.sh), and nothing left in $OUT
expect() {
    expect_fail "$@"
    [ -z "$(ls -A "$OUT")" ] || fail "output left behind by: $* -- $(ls -A "$OUT")"
}

# a model directory around a given model.safetensors (config and tokenizer from the 21M model)
model_dir() {
    dir=$TMP/$1
    mkdir -p "$dir"
    cp "$M21/config.json" "$M21/tokenizer.model" "$M21/tokenizer_config.json" "$dir/"
    echo "$dir"
}

# write_safetensors FILE JSON DATA_BYTES: an 8-byte little-endian header length, the JSON, zeros
write_safetensors() {
    len=$(printf %s "$2" | wc -c)
    i=0
    : >"$1"
    while [ $i -lt 8 ]; do
        printf "\\$(printf %03o $((len >> (8 * i) & 255)))" >>"$1"
        i=$((i + 1))
    done
    printf %s "$2" >>"$1"
    head -c "$3" /dev/zero >>"$1"
}

# --- safetensors ---
d=$(model_dir truncated)
head -c 1000000 "$M21/model.safetensors" >"$d/model.safetensors"
expect 1 "model.safetensors" "$MINNOW" eval "$d" --text "$TEXT"
expect 1 "model.safetensors" "$MINNOW" convert "$d" -o "$OUT/x.gguf"

d=$(model_dir lying_header)
write_safetensors "$d/model.safetensors" '{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}' 4
printf '\377\377\377\377' | dd of="$d/model.safetensors" bs=1 seek=0 conv=notrunc 2>/dev/null
expect 1 "header length" "$MINNOW" info "$d"

d=$(model_dir outside)
write_safetensors "$d/model.safetensors" '{"model.norm.weight":{"dtype":"F16","shape":[256],"data_offsets":[0,512]}}' 100
expect 1 "outside" "$MINNOW" eval "$d" --text "$TEXT"

d=$(model_dir dtype)
write_safetensors "$d/model.safetensors" '{"model.norm.weight":{"dtype":"I64","shape":[256],"data_offsets":[0,2048]}}' 2048
expect 1 "unsupported dtype I64" "$MINNOW" convert "$d" -o "$OUT/x.gguf"

d=$(model_dir mismatch)
write_safetensors "$d/model.safetensors" '{"model.norm.weight":{"dtype":"F16","shape":[256],"data_offsets":[0,300]}}' 300
expect 1 "512 bytes" "$MINNOW" eval "$d" --text "$TEXT"

d=$(model_dir missing_tensor)
write_safetensors "$d/model.safetensors" '{"model.norm.weight":{"dtype":"F16","shape":[256],"data_offsets":[0,512]}}' 512
expect 1 "missing tensor model.embed_tokens.weight" "$MINNOW" eval "$d" --text "$TEXT"

# --- config.json / tokenizer ---
d=$TMP/no_tokenizer
mkdir -p "$d"
cp "$M21/config.json" "$d/"
ln -s "$M21/model.safetensors" "$d/model.safetensors"
expect 1 "tokenizer" "$MINNOW" eval "$d" --text "$TEXT"

d=$(model_dir arch)
sed 's/"llama"/"gpt_neox"/' "$M21/config.json" >"$d/config.json"
ln -s "$M21/model.safetensors" "$d/model.safetensors"
expect 1 'unsupported architecture "gpt_neox"' "$MINNOW" eval "$d" --text "$TEXT"

d=$(model_dir config)
printf '{"model_type": "llama", "hidden_size": ' >"$d/config.json"
ln -s "$M21/model.safetensors" "$d/model.safetensors"
expect 1 "config.json" "$MINNOW" info "$d"

d=$(model_dir shape)
sed 's/"intermediate_size": 768/"intermediate_size": 512/' "$M21/config.json" >"$d/config.json"
ln -s "$M21/model.safetensors" "$d/model.safetensors"
expect 1 "expected" "$MINNOW" eval "$d" --text "$TEXT"

# --- GGUF ---
"$MINNOW" convert "$DATA/stories260K/stories260K.bin" -o "$TMP/s260.gguf" -q
head -c 3000 "$TMP/s260.gguf" >"$TMP/truncated.gguf"
expect 1 "truncated.gguf" "$MINNOW" eval "$TMP/truncated.gguf" --text "$TEXT"
head -c 400000 "$TMP/s260.gguf" >"$TMP/short.gguf"
expect 1 "short.gguf" "$MINNOW" convert "$TMP/short.gguf" -o "$OUT/x.gguf"
printf 'GGUF\003\000\000\000\377\377\377\377\377\377\377\377\000\000\000\000\000\000\000\000' >"$TMP/count.gguf"
expect 1 "count.gguf" "$MINNOW" info "$TMP/count.gguf"
printf 'GGUF\011\000\000\000' >"$TMP/version.gguf"
expect 1 "unsupported GGUF version 9" "$MINNOW" info "$TMP/version.gguf"
expect 1 "ggml-vocab-gpt-2.gguf" "$MINNOW" eval "$DATA/ggml-vocab/ggml-vocab-gpt-2.gguf" --text "$TEXT"

# --- llama2.c ---
head -c 500000 "$DATA/stories260K/stories260K.bin" >"$TMP/stories.bin"
cp "$DATA/stories260K/tok512.bin" "$TMP/"
expect 1 "stories.bin" "$MINNOW" eval "$TMP/stories.bin" --text "$TEXT"
cp "$DATA/stories260K/stories260K.bin" "$TMP/alone.bin"
mkdir -p "$TMP/alone" && mv "$TMP/alone.bin" "$TMP/alone/"
expect 1 "missing tokenizer" "$MINNOW" eval "$TMP/alone/alone.bin" --text "$TEXT"

# --- text and arguments ---
head -c 2000 "$TEXT" >"$TMP/short.txt"
expect 1 "short.txt: text has" "$MINNOW" eval "$M21" --text "$TMP/short.txt"
expect 1 "nothing.txt" "$MINNOW" eval "$M21" --text "$TMP/nothing.txt"
expect 2 "--text FILE is required" "$MINNOW" eval "$M21"
expect 2 "unknown option '--bogus'" "$MINNOW" eval "$M21" --text "$TEXT" --bogus
expect 2 "--ctx expects an integer" "$MINNOW" eval "$M21" --text "$TEXT" --ctx many
expect 2 "--type must be" "$MINNOW" convert "$M21" -o "$OUT/x.gguf" --type q9
expect 2 "unknown command" "$MINNOW" frobnicate

# --- writes: never over an input (the rest of the write guarantees: tests/integration/writes.sh) ---
cp "$TMP/s260.gguf" "$TMP/in.gguf"
sum_before=$(cksum <"$TMP/in.gguf")
expect 1 "refusing to overwrite" "$MINNOW" convert "$TMP/in.gguf" -o "$TMP/in.gguf"
[ "$(cksum <"$TMP/in.gguf")" = "$sum_before" ] || fail "the input was modified"
