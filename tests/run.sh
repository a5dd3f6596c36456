#!/bin/sh
# Runs every test: the Check unit-test programs, then the integration scripts in
# tests/integration (each gets MINNOW, BUILD, DATA, PEER and a private TMP directory).
# Usage: tests/run.sh BUILD_DIR DATA_DIR [name-filter]
#
# Under MINNOW_SANITIZE=1 (make sanitize) the scripts in MINNOW_SANITIZE_SKIP are skipped, to
# keep the sanitized suite within CI time: by default those that spend minutes comparing
# against llama.cpp over many inputs (tokenizers, block codecs, logits and perplexity of every
# model layout, the peer's self-test) and the fuzz targets (sanitized builds already). The
# unit tests, bad_input, writes and corrupt_corpus still run every parser and writer under
# the sanitizers; set MINNOW_SANITIZE_SKIP= to run everything.
set -u
BUILD=$(cd "$1" && pwd)
DATA=$(cd "$2" && pwd)
FILTER=${3:-}
export BUILD DATA MINNOW="$BUILD/minnow" PEER="$(pwd)/build/peer/llama-peer" MINNOW_DATA="$DATA"
pass=0
fail=0
failed=""
start=$(date +%s)
run_one() {
    name=$1
    shift
    t0=$(date +%s)
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/minnow-test.XXXXXX")
    export TMP
    if "$@" >"$TMP.log" 2>&1; then
        pass=$((pass + 1))
        printf 'PASS %-40s %4ss\n' "$name" $(($(date +%s) - t0))
    else
        fail=$((fail + 1))
        failed="$failed $name"
        printf 'FAIL %-40s %4ss\n' "$name" $(($(date +%s) - t0))
        sed 's/^/    /' "$TMP.log" | tail -n 60
    fi
    rm -rf "$TMP" "$TMP.log"
}
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    name=unit/$(basename "$t")
    case "$name" in *"$FILTER"*) ;; *) continue ;; esac
    run_one "$name" "$t"
done
SKIP=
if [ "${MINNOW_SANITIZE:-}" = 1 ]; then
    SKIP=${MINNOW_SANITIZE_SKIP-tokenizer_vs_llama block_codec_vs_ggml interop_llama peer_selftest fuzz_brief}
fi
for t in tests/integration/*.sh; do
    [ "$(basename "$t")" = lib.sh ] && continue
    [ -f "$t" ] || continue
    name=integration/$(basename "$t" .sh)
    case "$name" in *"$FILTER"*) ;; *) continue ;; esac
    case " $SKIP " in *" $(basename "$t" .sh) "*)
        printf 'SKIP %-40s (MINNOW_SANITIZE_SKIP)\n' "$name"
        continue
        ;;
    esac
    run_one "$name" sh "$t"
done
echo "$pass passed, $fail failed in $(($(date +%s) - start))s"
[ "$fail" -eq 0 ] || { echo "failed:$failed"; exit 1; }
