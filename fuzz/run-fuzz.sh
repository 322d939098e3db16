#!/bin/sh
# run-fuzz.sh BINARY CORPUS SECONDS ARTIFACT_DIR
# Fuzz for SECONDS, starting from the committed CORPUS (read only: new
# inputs go to a scratch directory).  A crash leaves its input in
# ARTIFACT_DIR and fails the test.
set -eu
bin=$1 corpus=$2 secs=$3 artifacts=$4
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$artifacts"
exec "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$artifacts/" "$scratch" "$corpus"
