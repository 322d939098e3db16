#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Nothing lost (issue 5, item 7), with real micro-VMs: zpsid is killed
with SIGKILL while three VMs run.  The guests keep running (their progress
goes on), and when zpsid starts again every VMM reconnects with its resume
token and re-registers: the aggregate is as before and every guest's
counters continue from where they were, never from zero.  Prints the
recovery time: from zpsid's restart to every guest connected again."""
import os
import time

from zpsidtest import Zpsid, RealVmm, check, expected_aggregate_bp, require_kvm, tmpdir, wait_until

require_kvm()
tmp = tmpdir()
d = Zpsid(tmp, "-o", "sample_hz=50", "-o", "checkpoint_interval=1").start()
plan = [("r1", "12", 2, "hypercall"), ("r2", "40", 5, "msr"), ("r3", "2", 1, "region")]
vms = {}
try:
    for name, pct, w, report in plan:
        vms[name] = RealVmm(d, name, "--payload", "workload", "--profile", "const:" + pct, "--weight", str(w),
                            "--report", report, "--mem", "16", "--ops", "1000000000")
    want = {n: round(float(p) * 100) for n, p, _, _ in plan}
    before = wait_until(lambda: (lambda g: g if len(g) == 3 and all(g[n]["psi_bp"] == want[n] for n in want)
                                 else None)(d.guests()), 30, "three guests sampled")
    agg_before = d.status()["aggregate_bp"]
    check(agg_before == expected_aggregate_bp(before.values()), "aggregate before")

    # steady state: zpsid has checkpointed the three registrations
    state_file = os.path.join(d.state, "guests.json")
    wait_until(lambda: os.path.exists(state_file) and all('"%s"' % n in open(state_file).read() for n in want),
               30, "zpsid to checkpoint the registrations")
    d.kill9()
    ops = {n: vm.ops() for n, vm in vms.items()}
    for n, vm in vms.items():
        wait_until(lambda: vm.ops() > ops[n], 30, "%s to keep running without zpsid" % n)
        check(vm.alive(), "%s survives zpsid's death" % n)

    t0 = time.monotonic()
    d.start()
    after = wait_until(lambda: (lambda g: g if len(g) == 3 and all(x["connected"] for x in g.values()) else None)
                       (d.guests()), 30, "every VMM to reconnect")
    recovery = time.monotonic() - t0
    for n in want:
        check(after[n]["id"] == before[n]["id"], "%s keeps its guest id (resumed, not new)" % n)
        check(after[n]["committed"] >= before[n]["committed"] and after[n]["deferred"] >= before[n]["deferred"],
              "%s: counters restored, not zeroed (%d -> %d)" % (n, before[n]["committed"], after[n]["committed"]))
    settled = wait_until(lambda: (lambda g: g if all(g[n]["psi_bp"] == want[n] and
                                                     g[n]["committed"] > before[n]["committed"] for n in want)
                                  else None)(d.guests()), 30, "new samples after the restart")
    check(d.status()["aggregate_bp"] == agg_before, "the aggregate is as before the crash")
    log = open(d.log).read()
    check(log.count("resumed") >= 3, "zpsid logged three resumed VMs")
    for vm in vms.values():
        vm.stop()
    wait_until(lambda: d.status()["count"] == 0, 30, "VMs gone after their bye")
    d.stop()
finally:
    d.stop()
    for vm in vms.values():
        if vm.alive():
            vm.kill9()
print("ok: kill -9 of zpsid with 3 VMs running; recovery (restart to all reconnected) %.2f s" % recovery)
