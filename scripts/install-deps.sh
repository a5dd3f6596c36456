#!/bin/sh
# Installs the Debian packages minnow builds and tests with, when any is missing.
# Usage: scripts/install-deps.sh [extra-package ...]
set -e
packages="gcc make pkg-config libopenblas-dev libzstd-dev libcjson-dev libpcre2-dev check zstd jq $*"
missing=""
for p in $packages; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "minnow needs these Debian packages:$missing" >&2
    echo "install them with: sudo apt-get install$missing" >&2
    exit 1
fi
echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q $missing >/dev/null 2>&1 || {
    apt-get update -q >/dev/null
    apt-get install -y -q $missing
}
