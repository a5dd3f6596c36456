#!/bin/sh
# Builds OUTDIR/llama-peer, the C harness that drives llama.cpp's prebuilt library (the npm
# package @node-llama-cpp/linux-x64@3.22.1, llama.cpp release v0.5.0), minnow's outside
# judge of correctness. Usage: tests/peer/setup.sh OUTDIR   (make peer: OUTDIR=build/peer)
#
# Idempotent: each step is skipped when its result is already there, and the whole run is a
# no-op when OUTDIR/llama-peer is newer than llama_peer.c and this script. Only the npm
# registry is contacted. Layout of OUTDIR:
#   npm/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/   the .so files (and CPU plugins)
#   include/llama.h, include/ggml*.h, include/gguf.h             headers of the same release
#   llama-peer                                                   the harness
set -eu

PKG_VERSION=3.22.1
BINS_REL=npm/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64

fail() {
    echo "peer setup: $*" >&2
    exit 1
}

[ $# -eq 1 ] || fail "usage: $0 OUTDIR"
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1" || fail "cannot create $1"
OUT=$(cd "$1" && pwd)
BINS=$OUT/$BINS_REL
PEER=$OUT/llama-peer

if [ -x "$PEER" ] && [ "$PEER" -nt "$HERE/llama_peer.c" ] && [ "$PEER" -nt "$HERE/setup.sh" ] &&
    [ -f "$BINS/libllama.v0.5.0.so" ]; then
    exit 0
fi

command -v npm >/dev/null 2>&1 || fail "npm not found (apt-get install npm)"
command -v gcc >/dev/null 2>&1 || fail "gcc not found"

# 1. The prebuilt libraries. --ignore-scripts: the package needs no install step, and we run
#    nothing from the registry.
if [ ! -f "$BINS/libllama.v0.5.0.so" ]; then
    echo "peer setup: npm install @node-llama-cpp/linux-x64@$PKG_VERSION" >&2
    mkdir -p "$OUT/npm"
    npm install --prefix "$OUT/npm" --no-save --no-audit --no-fund --ignore-scripts \
        --loglevel=error "@node-llama-cpp/linux-x64@$PKG_VERSION" >&2 ||
        fail "npm install @node-llama-cpp/linux-x64@$PKG_VERSION failed"
    [ -f "$BINS/libllama.v0.5.0.so" ] || fail "npm package has no $BINS_REL/libllama.v0.5.0.so"
fi

# 2. The matching headers. The binary package ships none; node-llama-cpp bundles the llama.cpp
#    source it was built from as a git bundle (package/llama/gitRelease.bundle). Keep only the
#    public headers and delete the rest (tarball ~35 MB, clone much more).
if [ ! -f "$OUT/include/llama.h" ] || [ ! -f "$OUT/include/ggml-backend.h" ]; then
    command -v git >/dev/null 2>&1 || fail "git not found (apt-get install git)"
    echo "peer setup: fetching llama.h/ggml headers from node-llama-cpp@$PKG_VERSION" >&2
    WORK=$(mktemp -d "$OUT/headers.XXXXXX")
    trap 'rm -rf "$WORK"' EXIT
    (cd "$WORK" && npm pack --silent --pack-destination "$WORK" "node-llama-cpp@$PKG_VERSION" >/dev/null) ||
        fail "npm pack node-llama-cpp@$PKG_VERSION failed"
    tar -xzf "$WORK/node-llama-cpp-$PKG_VERSION.tgz" -C "$WORK" package/llama/gitRelease.bundle ||
        fail "node-llama-cpp tarball has no package/llama/gitRelease.bundle"
    git clone --quiet "$WORK/package/llama/gitRelease.bundle" "$WORK/llama.cpp" 2>/dev/null ||
        fail "cannot clone the llama.cpp git bundle"
    rm -rf "$OUT/include"
    mkdir -p "$OUT/include.tmp"
    cp "$WORK/llama.cpp/include/llama.h" "$WORK"/llama.cpp/ggml/include/*.h "$OUT/include.tmp/"
    mv "$OUT/include.tmp" "$OUT/include"
    rm -rf "$WORK"
    trap - EXIT
fi

# 3. The harness. Linked by file name against the versioned .so files; the rpath is relative to
#    the executable so the build tree can move. The CPU backend is a plugin the program loads
#    at startup from the same directory.
echo "peer setup: compiling llama-peer" >&2
gcc -std=gnu11 -O2 -g -Wall -Wextra -I"$OUT/include" \
    -DPEER_BINS_REL="\"$BINS_REL\"" \
    -o "$PEER.tmp" "$HERE/llama_peer.c" \
    -L"$BINS" -l:libllama.v0.5.0.so -l:libggml.v0.5.0.so -l:libggml-base.so -lm \
    -Wl,-rpath,"\$ORIGIN/$BINS_REL" ||
    fail "compiling tests/peer/llama_peer.c failed"
mv "$PEER.tmp" "$PEER"
"$PEER" system >/dev/null || fail "$PEER does not run"
echo "peer setup: built $PEER" >&2
