#!/bin/sh
# Checks the llama.cpp harness (build/peer/llama-peer) itself, before anything is judged by it:
# 1. tokenization against llama.cpp's own test vectors (test-tokenizer-0: each .inp string,
#    tokenized without BOS and without special-token parsing, must give the ids on the same
#    line of .out);
# 2. ggml's block codecs through quantize-row/dequantize-row: a round trip of random floats
#    for every type must come back with a sane error, with and without an importance matrix;
# 3. bad input gives a clean error, not a crash.
# Env (tests/run.sh): PEER, DATA, BUILD, TMP.
set -eu

[ -x "$PEER" ] || { echo "missing $PEER (run: make peer)"; exit 1; }
fails=0
fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}

# --- 1. tokenizer test vectors -------------------------------------------------------------
for name in llama-spm phi-3 gpt-2; do
    vocab=$DATA/ggml-vocab/ggml-vocab-$name.gguf
    dir=$TMP/$name
    mkdir -p "$dir"
    # Strings are separated by "\n__ggml_vocab_test__\n" and the file ends with one, so every
    # string ends just before a separator line: the lines before it, joined with "\n", are the
    # string (an empty string is a single empty line). One file per string.
    count=$(grep -c '^__ggml_vocab_test__$' "$vocab.inp")
    awk -v dir="$dir" '
        $0 == "__ggml_vocab_test__" {
            n++
            f = dir "/" n
            printf "%s", buf > f
            close(f)
            buf = ""; have = 0
            next
        }
        { buf = have ? buf "\n" $0 : $0; have = 1 }
    ' "$vocab.inp"
    [ "$(grep -c '' "$vocab.out")" -eq "$count" ] || fail "$name: .inp has $count strings, .out a different count"
    ok=0
    n=0
    while [ $n -lt "$count" ]; do
        n=$((n + 1))
        # $(...) strips trailing newlines, so protect them with a sentinel.
        text=$(cat "$dir/$n"; printf x)
        text=${text%x}
        got=$("$PEER" tokenize "$vocab" --no-bos --prompt "$text" | tr '\n' ' ' | sed 's/ *$//')
        want=$(sed -n "${n}p" "$vocab.out" | sed 's/^ *//; s/ *$//')
        if [ "$got" = "$want" ]; then
            ok=$((ok + 1))
        else
            fail "$name string $n: got [$got] want [$want]"
        fi
    done
    echo "tokenizer $name: $ok/$count match"
    [ "$ok" -gt 0 ] || fail "$name: nothing matched"
done

# BOS handling: llama-spm adds BOS (id 1) unless --no-bos.
spm=$DATA/ggml-vocab/ggml-vocab-llama-spm.gguf
[ "$("$PEER" tokenize "$spm" --prompt "Hello world" | head -n 1)" = 1 ] || fail "llama-spm: no BOS by default"
[ "$("$PEER" tokenize "$spm" --prompt "Hello world" --no-bos | head -n 1)" != 1 ] || fail "llama-spm: BOS despite --no-bos"
# --file drops exactly one trailing newline, as llama.cpp's -f does.
printf 'Hello world\n\n' >"$TMP/two_nl.txt"
a=$("$PEER" tokenize "$spm" --file "$TMP/two_nl.txt" --no-bos | tr '\n' ' ')
b=$("$PEER" tokenize "$spm" --prompt "Hello world
" --no-bos | tr '\n' ' ')
[ "$a" = "$b" ] || fail "--file did not drop exactly one trailing newline: [$a] vs [$b]"

# --- 2. block codec round trips ------------------------------------------------------------
# Random floats: a throwaway generator (N(0,1) with a few large outliers, fixed seed).
cat >"$TMP/gen.c" <<'EOF'
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    long n = atol(argv[2]);
    unsigned long long s = strtoull(argv[3], NULL, 10) * 2654435761ULL + 1;
    FILE *f = fopen(argv[1], "wb");
    for (long i = 0; i < n; i++) {
        double u[2];
        for (int k = 0; k < 2; k++) {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            u[k] = ((s >> 11) + 0.5) / 9007199254740992.0;
        }
        float v = (float)(sqrt(-2 * log(u[0])) * cos(6.283185307179586 * u[1]));
        if (i % 97 == 0) v *= 4; /* outliers, as real weights have */
        if (argc > 4) v = fabsf(v) + 0.01f; /* importance weights are positive */
        fwrite(&v, sizeof v, 1, f);
    }
    return fclose(f) != 0;
}
EOF
cc -O2 -o "$TMP/gen" "$TMP/gen.c" -lm || { echo "cannot compile the random-float generator"; exit 1; }
ROW=256
ROWS=64
"$TMP/gen" "$TMP/x.f32" $((ROW * ROWS)) 1
"$TMP/gen" "$TMP/w.f32" $ROW 2 positive
COMPARE=$BUILD/tools/compare_logits
[ -x "$COMPARE" ] || { echo "missing $COMPARE (make build/tools/compare_logits)"; exit 1; }

# type, bytes per 256 values, and the largest RMS and max-abs errors allowed on this data
# (N(0,1), rms about 1.07, with 4x outliers): roughly 1.5-2x what ggml's codecs give, so a
# broken codec (wrong scale, shifted nibbles) fails while ordinary rounding passes. The
# importance-weighted quantizers lower the weighted error and may raise the max error.
while read -r type bytes max_rms max_abs; do
    for weights in none imatrix; do
        set -- --row-len $ROW
        [ $weights = none ] || set -- "$@" --imatrix "$TMP/w.f32"
        if ! "$PEER" quantize-row "$type" "$TMP/x.f32" "$TMP/q_$weights.bin" "$@" >/dev/null; then
            fail "quantize-row $type ($weights) failed"
            continue
        fi
        size=$(wc -c <"$TMP/q_$weights.bin")
        [ "$size" -eq $((bytes * ROWS)) ] || fail "$type: $size bytes, expected $((bytes * ROWS))"
        if ! "$PEER" dequantize-row "$type" "$TMP/q_$weights.bin" "$TMP/y.f32" --row-len $ROW >/dev/null; then
            fail "dequantize-row $type failed"
            continue
        fi
        if ! result=$("$COMPARE" "$TMP/x.f32" "$TMP/y.f32" --vocab $ROW --max-abs "$max_abs" 2>&1); then
            fail "$type ($weights) round trip: $result"
            continue
        fi
        rms=$(echo "$result" | sed 's/.*"rms_diff": \([^,]*\),.*/\1/')
        if awk -v r="$rms" -v m="$max_rms" 'BEGIN { exit !(r <= m) }'; then
            echo "round trip $type ($weights): $result"
        else
            fail "$type ($weights) round trip: rms error $rms > $max_rms"
        fi
    done
    # The importance matrix must reach the quantizer: it changes the k-quant choices.
    case $type in
    q*_k) cmp -s "$TMP/q_none.bin" "$TMP/q_imatrix.bin" && fail "$type: --imatrix made no difference" ;;
    esac
done <<'EOF'
f32 1024 0 0
f16 512 0.0005 0.01
bf16 512 0.004 0.07
q8_0 272 0.012 0.1
q5_0 176 0.09 0.8
q5_1 192 0.08 0.8
q4_0 144 0.18 1.5
q4_1 160 0.16 1.5
q6_k 210 0.04 0.8
q5_k 176 0.08 0.8
q4_k 144 0.15 1.5
q3_k 110 0.3 3
q2_k 84 0.55 4
EOF

# Deterministic: the same input gives the same bytes.
"$PEER" quantize-row q4_k "$TMP/x.f32" "$TMP/a.bin" --row-len $ROW >/dev/null
"$PEER" quantize-row q4_k "$TMP/x.f32" "$TMP/b.bin" --row-len $ROW >/dev/null
cmp -s "$TMP/a.bin" "$TMP/b.bin" || fail "quantize-row q4_k is not deterministic"

# --- 3. bad input: one line on stderr, status 1, no crash ----------------------------------
expect_error() {
    desc=$1
    shift
    set +e
    "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    set -e
    if [ $rc -ne 1 ]; then
        fail "$desc: exit status $rc, expected 1"
    elif [ "$(grep -c '' "$TMP/err")" -ne 1 ]; then
        fail "$desc: expected one line on stderr, got: $(cat "$TMP/err")"
    fi
}
expect_error "row length not a multiple of the block" "$PEER" quantize-row q4_k "$TMP/x.f32" "$TMP/q.bin" --row-len 32
expect_error "input not a whole number of rows" "$PEER" quantize-row q8_0 "$TMP/w.f32" "$TMP/q.bin" --row-len 96
expect_error "unknown type" "$PEER" quantize-row q7_0 "$TMP/x.f32" "$TMP/q.bin" --row-len 256
expect_error "missing model" "$PEER" tokenize "$TMP/nope.gguf" --prompt x
expect_error "not a GGUF" "$PEER" tokenize "$TMP/x.f32" --prompt x
expect_error "unknown option" "$PEER" tokenize "$spm" --prompt x --frobnicate
expect_error "ppl on a tokenizer-only GGUF" "$PEER" ppl "$spm" "$TMP/two_nl.txt"
expect_error "unknown quantize type" "$PEER" quantize "$spm" "$TMP/o.gguf" q9_z
[ ! -e "$TMP/o.gguf" ] || fail "quantize left an output file behind"

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "peer self-test passed"
