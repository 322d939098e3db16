#!/bin/bash
# fuzz-long.sh - what `make fuzz-long` runs, outside CI: every libFuzzer
# harness for FUZZ_LONG_SECONDS (default 120) each, FUZZ_JOBS (default: the
# cores) at a time, then new inputs that add coverage are merged into the
# committed corpus (fuzz/corpus/NAME, libFuzzer's -merge=1: only inputs
# that reach new edges or features).  Prints per harness: executions,
# executions per second, coverage (edges) and features, corpus entries
# added, crashes; a crash leaves its input in build-fuzz/fuzz/artifacts and
# makes the run fail.  Commit the corpus changes it reports.
set -eu -o pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_LONG_SECONDS:-120}
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
scripts/deps.sh build fuzz

if [ -f build-fuzz/build.ninja ]; then
	meson configure build-fuzz -Dfuzzing=true >/dev/null
else
	CC=clang meson setup build-fuzz -Dtests=disabled -Dfuzzing=true \
		-Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fsanitize=fuzzer-no-link >/dev/null
fi
echo "fuzz-long: building the harnesses (build-fuzz/)" >&2
ninja -C build-fuzz >build-fuzz/fuzz-long-build.log 2>&1 || { cat build-fuzz/fuzz-long-build.log >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
artifacts=build-fuzz/fuzz/artifacts
mkdir -p "$artifacts"
harnesses=()
for bin in build-fuzz/fuzz/fuzz_*; do
	[ -x "$bin" ] && [ -f "$bin" ] || continue
	name=${bin##*/fuzz_}
	[ -d "fuzz/corpus/$name" ] || { echo "fuzz-long: $name has no fuzz/corpus/$name; skipped" >&2; continue; }
	harnesses+=("$name")
done
n=${#harnesses[@]}
echo "fuzz-long: $n harnesses, $secs s each, $jobs at a time (about $(( (n + jobs - 1) / jobs * secs / 60 )) min)" >&2

run_one() {	# run_one NAME: fuzz into a scratch corpus, then merge it in
	local name=$1 bin=build-fuzz/fuzz/fuzz_$1 dir=$work/$1
	mkdir -p "$dir/new"
	local before
	before=$(find "fuzz/corpus/$name" -type f | wc -l)
	set +e
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$artifacts/$name-" "$dir/new" "fuzz/corpus/$name" >"$dir/log" 2>&1
	echo $? >"$dir/rc"
	# -merge=1 keeps only inputs that add coverage to what the corpus has
	"$bin" -merge=1 -merge_control_file="$dir/merge.ctl" "fuzz/corpus/$name" "$dir/new" \
		>"$dir/merge.log" 2>&1
	set -e
	echo $(( $(find "fuzz/corpus/$name" -type f | wc -l) - before )) >"$dir/added"
}

running=0
done_n=0
for name in "${harnesses[@]}"; do
	run_one "$name" &
	running=$((running + 1))
	if [ $running -ge "$jobs" ]; then
		wait -n || true
		running=$((running - 1))
		done_n=$((done_n + 1))
		echo "fuzz-long: $done_n/$n done" >&2
	fi
done
wait

printf '%-20s %12s %10s %8s %8s %6s %7s\n' harness executions exec/s cov ft added crashes
fail=0
total=0
for name in "${harnesses[@]}"; do
	d=$work/$name
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$d/log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$d/log" | tail -n 1)
	cov=$(grep -o 'cov: [0-9]*' "$d/log" | tail -n 1 | cut -d' ' -f2)
	ft=$(grep -o 'ft: [0-9]*' "$d/log" | tail -n 1 | cut -d' ' -f2)
	rc=$(cat "$d/rc")
	crashes=0
	if [ "$rc" -ne 0 ]; then
		crashes=1
		fail=1
		tail -n 30 "$d/log" >&2
	fi
	total=$((total + ${execs:-0}))
	printf '%-20s %12s %10s %8s %8s %6s %7s\n' "$name" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" \
		"$(cat "$d/added")" "$crashes"
done
echo "fuzz-long: $total executions in all; crashes: $fail; new corpus entries are under fuzz/corpus (git status)"
exit $fail
