#!/bin/sh
# build.sh - install what is missing and build into build/.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh test
[ -f build/build.ninja ] || meson setup build -Dtests=enabled >/dev/null
ninja -C build >/dev/null
