#!/bin/sh
# demo.sh - what `make demo` runs: the seed's stress scenario through
# libzpsi's dispatcher (10 guests, 10,000 updates) with its results table,
# then the whole stack on real parts (scripts/demo.py): zpsid, ten micro-VMs
# on /dev/kvm, cgroups, C6 and wake, Prometheus text.
set -eu
cd "$(dirname "$0")/.."
echo "== the seed's scenario through libzpsi (in process)"
build/bench/zpsi-stress --seed
exec python3 scripts/demo.py build
