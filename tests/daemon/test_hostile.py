#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Hostile guests, all at once (issue 15, item 5), under zpsid: two VMs run
the faults payload's whole battery - every reserved bit of every PSI MSR,
every bad argument of every hypercall, every region corruption (magic,
seqlock stuck odd, flipping, NaN/inf/out of range, counters backwards),
floods, the rate limit's boundary - while a well-behaved neighbour reports
20 % through the region.  Every sample zpsid takes meanwhile must show the
neighbour exactly at 2000 bp, tier 1, its share and cgroup quota per the
table, the aggregate exact; the neighbour's progress goes on; each faults
VM passes its own checks and exits 0; zpsid is alive and answers."""
import os

from zpsidtest import (RealVmm, Zpsid, check, cgroup_v1_usable, expected_aggregate_bp, remove_cgroup_tree,
                       require_kvm, skip, spec_alloc, tmpdir, wait_until)

require_kvm()
if not cgroup_v1_usable():
    skip("needs root and cgroup v1 cpu/memory hierarchies")
parent = "zpsi-hostile-%d" % os.getpid()
tmp = tmpdir()
d = Zpsid(tmp, "-o", "cgroup_mode=v1", "-o", "cgroup_root=/sys/fs/cgroup", "-p", "/" + parent,
          "-o", "sample_hz=50").start()
try:
    good = RealVmm(d, "good", "--payload", "workload", "--profile", "const:20", "--report", "region",
                   "--weight", "3", "--mem", "16", "--ops", "1000000000000")
    g = wait_until(lambda: (lambda x: x if x and x["psi_bp"] == 2000 and x["enforced"] else None)
                   (d.guests().get("good")), 30, "the neighbour at 20 % and enforced")
    bad = [RealVmm(d, "bad%d" % i, "--payload", "faults", "--rate", "1000", "--burst", "100",
                   "--param", "100", "--param", "1000", "--stats", timeout=120) for i in range(2)]
    ops0 = good.ops()
    samples = 0
    tier, share, quota, _ = spec_alloc(2000, g["vcpus"], g["memory_bytes"], g["cpu_period_us"])
    cg_quota = os.path.join("/sys/fs/cgroup/cpu", g["cgroup"].lstrip("/"), "cpu.cfs_quota_us")
    while any(b.alive() for b in bad):
        s = d.status()
        gs = {x["name"]: x for x in s["guests"]}
        n = gs["good"]
        check(n["psi_bp"] == 2000, "the neighbour's PSI moved: %d bp" % n["psi_bp"])
        check(n["tier"] == tier and round(n["share"] * 10000) == share,
              "the neighbour's tier/share moved: %d/%.4f" % (n["tier"], n["share"]))
        check(int(open(cg_quota).read()) == quota, "the neighbour's quota is %s, want %d"
              % (open(cg_quota).read().strip(), quota))
        check(s["aggregate_bp"] == expected_aggregate_bp(s["guests"]),
              "aggregate %d, the guests give %d" % (s["aggregate_bp"], expected_aggregate_bp(s["guests"])))
        samples += 1
    for b in bad:
        b.proc.wait()
        out = "\n".join(b.lines())
        check(b.proc.returncode == 0 and " passed, 0 failed" in out,
              "%s: the battery failed (exit %d):\n%s" % (b.name, b.proc.returncode, out[-3000:]))
        for key in ("reserved_bits_gp=", "bad_arguments=", "region_battery=", "rate_burst="):
            check(key in out, "%s ran its %s part" % (b.name, key.rstrip("=")))
    wait_until(lambda: good.ops() > ops0, 30, "the neighbour's progress to go on")
    check(d.proc.poll() is None and d.status()["count"] >= 1, "zpsid alive and answering")
    line = [x for x in bad[0].lines() if x.startswith("bad_arguments=")][0]
    print("ok: two hostile batteries under zpsid (%s); the neighbour exact in %d samples, ops %d -> %d"
          % (line, samples, ops0, good.ops()))
    good.stop()
finally:
    d.stop()
    from zpsidtest import _procs
    for p in _procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    remove_cgroup_tree("/sys/fs/cgroup", parent, ["cpu", "memory"])
