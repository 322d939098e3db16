#!/bin/sh
# demo.sh - what `make demo` runs: the seed's stress scenario through
# libzpsi's dispatcher (10 guests, 10,000 updates), with its results table.
set -eu
cd "$(dirname "$0")/.."
exec build/bench/zpsi-stress --seed
