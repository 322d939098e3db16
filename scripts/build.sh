#!/bin/bash
# build.sh [GROUP...] - install what the build (and the named extra package
# groups, see deps.sh) needs, then build into build/.  A failing step shows
# its own output and says what to do; nothing is hidden.
set -eu -o pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build "$@"
mkdir -p build
# with the test group the tests are built for sure (a build/ configured
# before cmocka was there would leave them out)
opts=""
case " $* " in *" test "*) opts="-Dtests=enabled" ;; esac
if [ -f build/build.ninja ] && [ -n "$opts" ] && ! meson configure build $opts >build/setup.log 2>&1; then
	cat build/setup.log >&2
	exit 1
fi
if [ ! -f build/build.ninja ]; then
	echo "build.sh: configuring build/ (meson)" >&2
	if ! meson setup build $opts >build/setup.log 2>&1; then
		cat build/setup.log >&2
		echo "build.sh: 'meson setup build' failed (above); a missing library is named in" \
			"its last lines: scripts/deps.sh installs the Debian packages (see its groups)" >&2
		rm -f build/build.ninja
		exit 1
	fi
fi
failed() {
	[ -t 1 ] || cat build/build.log >&2
	echo "build.sh: the build failed (above; the log of a non-terminal run is build/build.log)" >&2
	exit 1
}
# ninja's own status line on a terminal; in a log, a line at every tenth
if [ -t 1 ]; then
	ninja -C build || failed
else
	ninja -C build 2>&1 | tee build/build.log | awk -F'[][/]' '/^\[[0-9]+\/[0-9]+\]/ {
		if (int(10 * $2 / $3) > shown) { shown = int(10 * $2 / $3); print "build.sh: [" $2 "/" $3 "]"; fflush() } }' ||
		failed
fi
