# The fuzz targets, briefly, as CI runs them: builds them (make fuzz-build, which installs
# clang and its sanitizer runtimes when missing), runs each for FUZZ_BRIEF_SECONDS (default 8)
# two at a time from the seed corpora alone, and replays every saved crash input in
# tests/fuzz/regressions. The long runs are `make fuzz` (docs/reliability.md). make sanitize
# skips this script (tests/run.sh): the targets are sanitizer builds already.
. tests/integration/lib.sh
# A make of its own (not the jobserver of the make running the tests, which it cannot reach)
MAKEFLAGS= make -j2 --no-print-directory fuzz-build BUILD="$BUILD" DATA="$DATA" >"$TMP/build.log" 2>&1 ||
    { tail -n 30 "$TMP/build.log"; fail "building the fuzz targets failed"; }
FUZZ_JOBS=2 FUZZ_CORPUS=$TMP/corpus MINNOW=$BUILD/minnow TOOLS=$BUILD/tools \
    tests/fuzz/run.sh build/fuzz "$DATA" "${FUZZ_BRIEF_SECONDS:-8}" || fail "a fuzz target failed (see above)"
