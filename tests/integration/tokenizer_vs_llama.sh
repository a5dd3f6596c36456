#!/bin/sh
# minnow's token ids against llama.cpp's (llama-peer) for the same vocabulary. Vocabularies
# minnow reads from tokenizer.json / tokenizer.model / tokenizer.bin are written to a
# tokenizer-only GGUF for llama.cpp, while minnow tokenizes from the original file, so the
# loaders are checked too; llama.cpp's own GGUFs are read by both. Texts: the first ~100 KB
# of WikiText-2 (CRLF), TinyStories, special-token, Unicode and invalid-UTF-8 samples, and
# for vocabularies without llama.cpp .out files (the unit test checks those) every
# test-vector string on its own. Ids are compared with BOS/EOS as each vocabulary adds them.
# Env (tests/run.sh): BUILD DATA PEER TMP.
set -eu

[ -x "$PEER" ] || { echo "llama-peer not built ($PEER): run make peer"; exit 1; }
TOK=$BUILD/tools/tokenize_file
V2G=$BUILD/tools/vocab_to_gguf
for t in "$TOK" "$V2G"; do
    [ -x "$t" ] || { echo "missing $t: make $t"; exit 1; }
done

texts=$TMP/texts
mkdir -p "$texts"
head -c 100000 "$DATA/wikitext-2-raw/wiki.test.raw" >"$texts/wiki"
cp "$DATA/tinystories/TinyStories-valid.excerpt.txt" "$texts/story-valid"
head -c 100000 "$DATA/tinystories/TinyStories-train.excerpt-197KB.txt" >"$texts/story-train"
head -c 60000 "$DATA/tinystories-llama-21m/heldout.txt" >"$texts/heldout"
printf 'Hi <|user|>  say <s> then </s>\n<unk> <|endoftext|><|end|>\n<think> x </think> <tool_call>{}</tool_call>  <|im_start|>user\n' \
    >"$texts/specials"
# llama.cpp throws on code points above U+10FFFF (lead bytes F5..F7), so none here.
printf 'bad \377\376 utf8 \303( \355\240\200 x\300\200y \360\237\230 end\000nul\001\n' >"$texts/invalid"
# NBSP, NEL, U+2028, ideographic space, BOM, curly and upper-case contractions, long digit
# runs, combining marks, Arabic, Thai, Devanagari, emoji with ZWJ, private use, unassigned
# U+0378, control characters.
printf 'a\302\240b\302\205c\342\200\250d\343\200\200e \357\273\277f it\342\200\231s IT'"'"'S we'"'"'LL\n' >"$texts/unicode"
printf '12345678901234567890 3.14159 1,000,000 e\314\201 \330\247\331\204\330\271\330\261\330\250\331\212\330\251 ' >>"$texts/unicode"
printf '\340\270\240\340\270\262\340\270\251\340\270\262 \340\244\271\340\244\277\340\244\202\340\244\246\340\245\200 ' >>"$texts/unicode"
printf '\360\237\221\250\342\200\215\360\237\221\251 \356\200\200 \315\270 \001\002\033[0m\t\t \r\n\r\n\n   \n' >>"$texts/unicode"
# A long word and a long run of spaces.
head -c 20000 /dev/zero | tr '\0' 'x' >"$texts/long"
head -c 5000 /dev/zero | tr '\0' ' ' >>"$texts/long"
printf 'end\n' >>"$texts/long"

# Each test-vector string on its own; tokenize_file and llama-peer both drop the trailing
# newline that csplit leaves on every piece.
vectors=$TMP/vectors
mkdir -p "$vectors"
csplit -s -z -f "$vectors/vec" "$DATA/ggml-vocab/ggml-vocab-llama-spm.gguf.inp" '/^__ggml_vocab_test__$/' '{*}'
for f in "$vectors"/vec*; do
    case $f in */vec00) continue ;; esac
    tail -n +2 "$f" >"$f.s" && mv "$f.s" "$f"
done

fail=0
# compare NAME MINNOW_SOURCE LLAMA_GGUF [vectors]: one process per engine tokenizes every text
# (a line "--" after each), so the vocabulary loads once
compare() {
    ls "$texts"/* ${4:+"$vectors"/*} >"$TMP/list"
    "$TOK" "$2" --list "$TMP/list" >"$TMP/mine" || { echo "FAIL $1: minnow cannot tokenize: $(tail -n 1 "$TMP/mine")"; fail=1; return; }
    "$PEER" tokenize "$3" --file-list "$TMP/list" >"$TMP/peer" 2>"$TMP/peer.err" ||
        { echo "FAIL $1: llama-peer: $(tail -n 1 "$TMP/peer.err")"; fail=1; return; }
    n=$(wc -l <"$TMP/list")
    [ "$(grep -c '^--$' "$TMP/mine")" = "$n" ] && [ "$(grep -c '^--$' "$TMP/peer")" = "$n" ] ||
        { echo "FAIL $1: not one id list per text"; fail=1; return; }
    if ! cmp -s "$TMP/mine" "$TMP/peer"; then
        # the text of the first difference: the separators before it
        line=$(cmp "$TMP/mine" "$TMP/peer" | sed -n 's/.* line \([0-9]*\).*/\1/p')
        k=$(head -n "$line" "$TMP/mine" | grep -c '^--$' || true)
        echo "FAIL $1: ids differ on $(basename "$(sed -n "$((k + 1))p" "$TMP/list")") (minnow | llama.cpp):"
        diff "$TMP/mine" "$TMP/peer" | head -n 6
        fail=1
        return
    fi
    echo "ok   $1: $(grep -vc '^--$' "$TMP/mine") ids identical over $n texts"
}

for name in llama3 qwen3 llama2; do
    "$V2G" "$DATA/tokenizers/$name/tokenizer.json" "$TMP/$name-json.gguf"
    compare "tokenizers/$name/tokenizer.json" "$DATA/tokenizers/$name/tokenizer.json" "$TMP/$name-json.gguf" vectors
done
"$V2G" "$DATA/llama2-tokenizer/tokenizer.model" "$TMP/llama2-model.gguf"
compare "llama2-tokenizer/tokenizer.model" "$DATA/llama2-tokenizer/tokenizer.model" "$TMP/llama2-model.gguf"
"$V2G" "$DATA/llama2-tokenizer/tokenizer.bin" "$TMP/llama2-bin.gguf"
compare "llama2-tokenizer/tokenizer.bin" "$DATA/llama2-tokenizer/tokenizer.bin" "$TMP/llama2-bin.gguf"
"$V2G" "$DATA/stories260K/tok512.bin" "$TMP/tok512.gguf"
compare "stories260K/tok512.bin" "$DATA/stories260K/tok512.bin" "$TMP/tok512.gguf" vectors
"$V2G" "$DATA/tinystories-llama-21m" "$TMP/ts21m.gguf"
compare "tinystories-llama-21m (HF dir)" "$DATA/tinystories-llama-21m" "$TMP/ts21m.gguf"
for v in llama-spm phi-3 gpt-2; do
    g=$DATA/ggml-vocab/ggml-vocab-$v.gguf
    compare "ggml-vocab-$v.gguf" "$g" "$g"
done
g=$DATA/ggml-vocab/ggml-vocab-gpt-neox.gguf
compare "ggml-vocab-gpt-neox.gguf (no pre: default regexes)" "$g" "$g" vectors
exit $fail
