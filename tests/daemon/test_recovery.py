#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Nothing lost: kill -9 of zpsid while simulated VMMs run; they keep running,
reconnect with their resume tokens, and the aggregate, weights, power states
and counters are as before.  A VMM that dies is noticed and removed; one that
died while zpsid was down is removed at restart; one that never comes back
is removed after reconnect_grace."""
import json
import os
import time

from zpsidtest import Zpsid, TestVmm, tmpdir, wait_until, check, expected_aggregate_bp

tmp = tmpdir()
d = Zpsid(tmp, "-o", "reconnect_grace=3", "-o", "checkpoint_interval=1").start()
spec = [("a", 100, 1), ("b", 1500, 2), ("c", 3500, 3), ("d", 9000, 4), ("e", 2500, 5)]
vms = {n: TestVmm(d, n, "--psi", str(bp), "--weight", str(w), "--features", "c3,c6")
       for n, bp, w in spec}
wait_until(lambda: len(d.guests()) == 5 and all(g["psi_bp"] == bp for (n, bp, w), g in
           zip(spec, [d.guests()[n] for n, _, _ in spec])), what="five guests at their ratios")
d.ctl("set", "c", "power", "C3")
d.ctl("set", "d", "power", "C6")
d.ctl("set", "e", "weight", "7")
before = d.status()
gb = {g["name"]: g for g in before["guests"]}
check(before["aggregate_bp"] == expected_aggregate_bp(before["guests"]), "exact aggregate before")


def saved():
    """What zpsid has on disk (registrations and power are saved at the next tick)."""
    try:
        recs = {g["name"]: g for g in json.load(open(d.state + "/guests.json"))["guests"]}
    except (OSError, ValueError):
        return False
    return recs.get("e", {}).get("weight") == 7 and recs.get("d", {}).get("power") == "C6"


wait_until(saved, what="state saved")

d.kill9()
check(all(v.alive() for v in vms.values()), "VMMs survive zpsid's kill -9")
vms["b"].kill9()  # dies while zpsid is down
t0 = time.monotonic()
d.start()
wait_until(lambda: all(vms[n].lines()[-1].startswith("RESUMED") for n in "acde"), what="resumes")
st = wait_until(lambda: (lambda s: s if all(g["connected"] for g in s["guests"]) and len(s["guests"]) == 4
                         else None)(d.status()), what="all four reconnected")
recovery = time.monotonic() - t0
ga = {g["name"]: g for g in st["guests"]}
check("b" not in ga, "a VMM that died while zpsid was down is removed at restart")
check(ga["c"]["power_state"] == "C3" and ga["d"]["power_state"] == "C6", "power states kept")
check(ga["e"]["weight"] == 7, "weight kept")
for n in "acde":
    check(ga[n]["committed"] >= gb[n]["committed"] and ga[n]["deferred"] >= gb[n]["deferred"],
          "counters of %s kept" % n)
    check(ga[n]["updates_total"] >= gb[n]["updates_total"], "update count of %s kept" % n)
    check(ga[n]["psi_bp"] == gb[n]["psi_bp"], "ratio of %s kept" % n)
check(st["aggregate_bp"] == expected_aggregate_bp(st["guests"]), "exact aggregate after")
# a guest that comes back with a wrong token cannot take a name over
check(all(l.startswith(("READY", "RESUMED", "GONE")) for l in vms["a"].lines()), "clean client log")
d.ctl("wake", "d")
check(d.guests()["d"]["power_state"] == "C0", "wake from C6 after a restart")

# a VMM that dies while connected: noticed through its pidfd
vms["a"].kill9()
wait_until(lambda: "a" not in d.guests(), what="dead VMM removed")
# one that stops reconnecting (SIGSTOP: alive but silent) is removed after the grace
vms["c"].proc.send_signal(19)
d.kill9()
d.start()
wait_until(lambda: "c" not in d.guests(), timeout=20, what="silent VMM removed after grace")
vms["c"].proc.send_signal(18)

# a save that fails (the temporary file's name taken by a directory): zpsid
# says so and keeps running; once the way is clear, saves land again
tmpname = os.path.join(d.state, "guests.json.tmp")
os.mkdir(tmpname)
d.ctl("set", "e", "weight", "9")
wait_until(lambda: "cannot save state" in open(d.log).read(), what="the failed save to be logged")
check(d.proc.poll() is None and d.guests()["e"]["weight"] == 9, "zpsid runs on after a failed save")
os.rmdir(tmpname)
d.ctl("set", "e", "weight", "11")
wait_until(lambda: any(g["name"] == "e" and g["weight"] == 11
                       for g in json.load(open(d.state + "/guests.json"))["guests"]),
           what="saves to land again")
for v in vms.values():
    if v.alive():
        v.stop()
d.stop()
print("ok: recovery in %.2f s" % recovery)
