#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Enforcement measured on the guest's own progress (issue 5, item 8): a
CPU-bound guest (the workload payload) runs at 0 % PSI (tier 0: its whole
CPU) and then at 50 % PSI, where zpsid moves it to the 50 % tier and writes
its vCPU thread's cgroup quota.  The guest's operations per second at the
50 % tier must be 0.5 +- 0.1 of its rate at 100 %.  Rates are taken over
windows of the guest's own progress lines, timestamped as they arrive; the
test runs alone (meson: not parallel) so nothing else competes for the CPU."""
import os
import time

from zpsidtest import (Zpsid, RealVmm, check, cgroup_v1_usable, remove_cgroup_tree, require_kvm, skip,
                       tmpdir, wait_until)

require_kvm()
if not cgroup_v1_usable():
    skip("needs root and the cgroup v1 cpu and memory hierarchies to throttle a VM")
V1 = "/sys/fs/cgroup"
parent = "zpsi-test-throttle-%d" % os.getpid()
STEP_S = 4.0


def rate(vm, seconds):
    """Guest operations per second over a window of `seconds`, measured from
    the first to the last progress line that arrives in it."""
    samples = []
    end = time.monotonic() + seconds
    last = None
    while time.monotonic() < end:
        ops = vm.ops()
        if ops != last:
            samples.append((time.monotonic(), ops))
            last = ops
        time.sleep(0.005)
    check(len(samples) >= 4, "too few progress lines to measure: %s" % samples)
    (t0, o0), (t1, o1) = samples[1], samples[-1]
    return (o1 - o0) / (t1 - t0)


tmp = tmpdir()
d = Zpsid(tmp, "-o", "sample_hz=50", "-o", "cgroup_mode=v1", "-o", "cgroup_root=" + V1,
          "-p", "/" + parent).start()
vm = None
try:
    vm = RealVmm(d, "burner", "--payload", "workload", "--profile", "step:0,50,%g" % STEP_S,
                 "--mem", "16", "--ops", "1000000000")
    wait_until(lambda: (lambda g: g if g and g["enforced"] and g["tier"] == 0 else None)
               (d.guests().get("burner")), 30, "the guest enforced at tier 0")
    vm.wait_line("progress ", 2)
    full = rate(vm, 2.0)
    g = wait_until(lambda: (lambda g: g if g and g["tier"] == 2 and g["enforced"] else None)
                   (d.guests().get("burner")), 30, "the guest at 50 % PSI moved to the 50 % tier")
    cg = os.path.join(V1, "cpu", parent, "burner")
    check(open(cg + "/cpu.cfs_quota_us").read().strip() == "50000", "quota 50 % of one vCPU written")
    half = rate(vm, 3.0)
    ratio = half / full
    print("guest progress: %.0f ops/s at tier 0 (100 %%), %.0f ops/s at tier 2 (50 %%): ratio %.3f"
          % (full, half, ratio))
    check(0.4 <= ratio <= 0.6, "progress at the 50 %% tier is %.3f of the 100 %% rate, want 0.5 +- 0.1" % ratio)
    vm.stop()
    d.stop()
finally:
    d.stop()
    if vm and vm.alive():
        vm.kill9()
    remove_cgroup_tree(V1, parent, ["cpu", "memory"])
print("ok: throttling ratio %.3f" % ratio)
