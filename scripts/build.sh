#!/bin/sh
# build.sh [GROUP...] - install what the build (and the named extra package
# groups, see deps.sh) needs, then build into build/.  A failing step shows
# its own output and says what to do; nothing is hidden.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh build "$@"
mkdir -p build
if [ ! -f build/build.ninja ]; then
	echo "build.sh: configuring build/ (meson)" >&2
	if ! meson setup build >build/setup.log 2>&1; then
		cat build/setup.log >&2
		echo "build.sh: 'meson setup build' failed (above); a missing library is named in" \
			"its last lines: scripts/deps.sh installs the Debian packages (see its groups)" >&2
		rm -f build/build.ninja
		exit 1
	fi
fi
if ! ninja -C build >build/build.log 2>&1; then
	cat build/build.log >&2
	echo "build.sh: the build failed (above; full log in build/build.log)" >&2
	exit 1
fi
