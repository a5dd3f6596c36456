# Helpers sourced by the integration scripts (not a test itself: run.sh runs *.sh except lib.sh).
set -eu

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# json FILE KEY -> the value of a top-level key
json() { jq -r ".$2" "$1"; }

# within A B REL_TOL LABEL: |A-B| <= REL_TOL * |B|
within() {
    awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; m = b < 0 ? -b : b; exit !(d <= t * m) }' ||
        fail "$4: $1 vs $2 differ by more than $3 (relative)"
    echo "ok: $4: $1 vs $2"
}

# at_most A B LABEL: A <= B
at_most() {
    awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }' || fail "$3: $1 > $2"
    echo "ok: $3: $1 <= $2"
}

# expect_fail CODE NEEDLE COMMAND...: COMMAND exits CODE, no signal, with at most 3 lines on
# stderr (kept in $TMP/stderr) of which one contains NEEDLE
expect_fail() {
    code=$1 needle=$2
    shift 2
    set +e
    "$@" >"$TMP/stdout" 2>"$TMP/stderr"
    got=$?
    set -e
    [ "$got" = "$code" ] || fail "exit $got (wanted $code) from: $* -- $(head -c 400 "$TMP/stderr")"
    [ "$(wc -l <"$TMP/stderr")" -le 3 ] || fail "more than 3 lines on stderr from: $* -- $(head -c 400 "$TMP/stderr")"
    grep -qF -- "$needle" "$TMP/stderr" || fail "stderr of '$*' lacks '$needle': $(cat "$TMP/stderr")"
    echo "ok: $(head -n 1 "$TMP/stderr" | cut -c 1-150)"
}

# ids_of MODEL FILE [N] -> first N token ids of FILE, comma separated
ids_of() { "$MINNOW" tokenize "$1" --text "$2" | head -n "${3:-64}" | paste -sd, -; }

# same_logits MODEL_GGUF MINNOW_MODEL IDS MAX_ABS LABEL [extra minnow args]
same_logits() {
    gguf=$1 model=$2 ids=$3 max_abs=$4 label=$5
    shift 5
    "$PEER" logits "$gguf" --ids "$ids" -o "$TMP/peer.f32" >/dev/null
    "$BUILD/tools/dump_logits" "$model" --ids "$ids" -o "$TMP/minnow.f32" "$@"
    vocab=$("$PEER" info "$gguf" | jq -r .n_vocab)
    "$BUILD/tools/compare_logits" "$TMP/peer.f32" "$TMP/minnow.f32" --vocab "$vocab" --max-abs "$max_abs" \
        --min-argmax-agree 1 >"$TMP/cmp.json" || fail "$label: logits differ: $(cat "$TMP/cmp.json")"
    echo "ok: $label logits: $(cat "$TMP/cmp.json")"
}
