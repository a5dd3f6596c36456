#!/bin/sh
# Runs every test: the Check unit-test programs, then the integration scripts in
# tests/integration (each gets MINNOW, BUILD, DATA, PEER and a private TMP directory).
# Usage: tests/run.sh BUILD_DIR DATA_DIR [name-filter]
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
for t in tests/integration/*.sh; do
    [ "$(basename "$t")" = lib.sh ] && continue
    [ -f "$t" ] || continue
    name=integration/$(basename "$t" .sh)
    case "$name" in *"$FILTER"*) ;; *) continue ;; esac
    run_one "$name" sh "$t"
done
echo "$pass passed, $fail failed in $(($(date +%s) - start))s"
[ "$fail" -eq 0 ] || { echo "failed:$failed"; exit 1; }
