#!/bin/sh
# check.sh - what `make check` runs: install what is missing, then build and
# test three configurations:
#   build       gcc, debugoptimized: unit, e2e and corpus-replay tests
#   build-san   gcc, ASan + UBSan (no recovery): the same tests but the demo
#               (its memory and rate figures are the plain build's)
#   build-fuzz  clang + libFuzzer: each fuzzer runs for FUZZ_SECONDS
# The last line is the summary over all of them: "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
scripts/deps.sh test fuzz e2e || exit 1

fuzz_seconds=${FUZZ_SECONDS:-10}
jobs=$(nproc 2>/dev/null || echo 2)

configure() {	# configure DIR [meson options...]
	dir=$1
	shift
	if [ -f "$dir/build.ninja" ]; then
		meson configure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi
}

run_suite() {	# run_suite DIR [meson test options...]
	dir=$1
	shift
	echo "==> $dir: building" >&2
	if ! ninja -C "$dir" >"$dir/check-build.log" 2>&1; then
		cat "$dir/check-build.log" >&2
		echo "build-failed" >"$dir/check-status"
		return
	fi
	echo "==> $dir: testing" >&2
	meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes "$jobs" "$@"
	echo "ran" >"$dir/check-status"
}

rm -f build/check-status build-san/check-status build-fuzz/check-status

configure build -Dtests=enabled || exit 1
run_suite build

configure build-san -Dtests=enabled -Db_sanitize=address,undefined -Db_lundef=false \
	-Dc_args=-fno-sanitize-recover=all || exit 1
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	run_suite build-san --timeout-multiplier 3 --no-suite demo --no-suite fresh --no-suite qemu --no-suite soak

CC=clang configure build-fuzz -Dtests=disabled -Dfuzzing=true -Dfuzz_seconds="$fuzz_seconds" \
	-Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fsanitize=fuzzer-no-link || exit 1
run_suite build-fuzz --suite fuzz

python3 scripts/summary.py build build-san build-fuzz >build/check-summary.full
rc=$?
cat build/check-summary.full
tail -n 1 build/check-summary.full >build/check-summary.txt
exit $rc
