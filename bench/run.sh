#!/bin/sh
# run.sh - what `make bench` runs: every benchmark, each printing ratios
# against a baseline it measures in the same run.
set -eu
cd "$(dirname "$0")/.."
b=build/bench
echo "== dispatcher: seed scenario and scaled (bench/stress.c)"
$b/zpsi-stress --all
echo "== shared region: guest writers and a host sampler (bench/region_bench.c)"
$b/zpsi-bench-region
echo "== zpsi-vmm: PSI traps on real KVM against a bare exit, and the seed through hypercalls (vmm/bench.c)"
build/vmm/zpsi-bench-vmm
echo "== zpsi-vmm C6: hibernate and wake a 256 MiB guest, time and peak memory (bench/vmm_c6.py)"
python3 bench/vmm_c6.py build
echo "== zpsid: sampler cost per region and memory per guest, simulated writers (bench/zpsid_scale.py)"
python3 bench/zpsid_scale.py build
echo "== zpsid end to end: the seed through 10 real VMs and zpsid (bench/zpsid_e2e.py)"
python3 bench/zpsid_e2e.py build
