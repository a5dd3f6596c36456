#!/bin/sh
# Runs the fuzz targets (make fuzz; tests/integration/fuzz_brief.sh runs it briefly in CI).
# Usage: tests/fuzz/run.sh FUZZ_BUILD DATA SECONDS [TARGET ...]
#   Generates the seed corpora (tests/fuzz/seeds.sh), runs each target for SECONDS on its corpus
#   FUZZ_BUILD/corpus/NAME (which keeps what it finds for the next run), then replays every
#   input in tests/fuzz/regressions/NAME through its target. Exits 1 when anything crashed,
#   leaked, hung or broke a parser's promise; the input is in FUZZ_BUILD/artifacts/NAME/.
# Environment: FUZZ_JOBS targets at a time (default 1), FUZZ_NICE niceness (default 10),
#   MINNOW and TOOLS (build/minnow, build/tools) for the seeds, FUZZ_CORPUS a directory to use
#   instead of FUZZ_BUILD/corpus, starting from the seeds alone (the brief CI run).
set -eu
FB=$1
DATA=$2
SECONDS_EACH=$3
shift 3
HERE=$(cd "$(dirname "$0")" && pwd)
TARGETS=${*:-"safetensors safetensors_dir gguf gguf_tokenizer hf_config tokenizer_json sp_model llama2c
    llama2c_tokenizer model_load encode_spm encode_gpt2 encode_llama3 encode_qwen"}
JOBS=${FUZZ_JOBS:-1}
NICE=${FUZZ_NICE:-10}

# One target (called back through xargs so several can run at once).
if [ "${FUZZ_ONE:-}" ]; then
    t=$FUZZ_ONE
    case $t in
    gguf | gguf_tokenizer | model_load) opts="-dict=$HERE/gguf.dict -use_value_profile=1 -max_len=65536" ;;
    llama2c | llama2c_tokenizer) opts="-use_value_profile=1 -max_len=65536" ;;
    safetensors | safetensors_dir | hf_config) opts="-dict=$HERE/json.dict -use_value_profile=1 -max_len=32768" ;;
    tokenizer_json | sp_model) opts="-dict=$HERE/json.dict -max_len=65536" ;;
    encode_*) opts="-max_len=4096" ;;
    *) echo "unknown fuzz target $t" >&2; exit 2 ;;
    esac
    corpus=${FUZZ_CORPUS:-$FB/corpus}/$t
    if [ "${FUZZ_CORPUS:-}" ]; then
        mkdir -p "$corpus"
        cp "$FB/corpus/$t"/seed-* "$corpus/"
    fi
    mkdir -p "$FB/artifacts/$t" "$FB/logs"
    log=$FB/logs/$t.log
    start=$(date +%s)
    set +e
    # -timeout: a parser taking 10 s on an input of at most 64 KB is a hang; -rss_limit_mb:
    # allocations a small input cannot justify are findings too.
    nice -n "$NICE" "$FB/$t" $opts -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$FB/artifacts/$t/" "$corpus" >"$log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    printf '%-18s %s  %5ss  %9s execs  corpus %5s files  cov %s\n' "$t" "$([ $rc = 0 ] && echo ok || echo FAIL)" \
        $(($(date +%s) - start)) "${execs:-?}" "$(ls "$corpus" | wc -l)" \
        "$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)"
    if [ $rc != 0 ]; then
        grep -E 'ERROR|SUMMARY|broken promise|Test unit written|runtime error' "$log" | head -n 8 | sed 's/^/    /'
        exit 1
    fi
    exit 0
fi

MINNOW=${MINNOW:-build/minnow}
TOOLS=${TOOLS:-build/tools}
"$HERE/seeds.sh" "$FB" "$DATA" "$MINNOW" "$TOOLS" >/dev/null
status=0
printf '%s\n' $TARGETS | FUZZ_ONE= xargs -P "$JOBS" -I{} env FUZZ_ONE={} sh "$0" "$FB" "$DATA" "$SECONDS_EACH" ||
    status=1

# Every input that ever broke a target must keep passing.
for dir in "$HERE"/regressions/*/; do
    [ -d "$dir" ] || continue
    t=$(basename "$dir")
    [ -n "$(ls -A "$dir")" ] || continue
    if "$FB/$t" "$dir"* >"$FB/logs/regressions-$t.log" 2>&1; then
        echo "regressions $t: $(ls "$dir" | wc -l) inputs pass"
    else
        echo "regressions $t: FAIL"
        grep -E 'ERROR|SUMMARY|broken promise|Running: ' "$FB/logs/regressions-$t.log" | tail -n 6 | sed 's/^/    /'
        status=1
    fi
done
exit $status
