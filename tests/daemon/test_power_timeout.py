#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A C6 that outlasts command_timeout is not thrown away.  The simulated VMM
writes its C6 state 2.5 s after the command (--c6-delay); zpsid waits 1 s
(command_timeout=1): zpsictl hears ETIMEDOUT, but the command goes on (a
second power command is refused EBUSY), the state file in zpsid's directory
is kept, and when the VMM finishes, zpsid records C6 and a wake reads the
file back.  A C6 the VMM refuses leaves no file behind."""
import os
import subprocess

from zpsidtest import ZPSICTL, Zpsid, TestVmm, check, tmpdir, wait_until

tmp = tmpdir()
d = Zpsid(tmp, "-o", "command_timeout=1").start()
slow = TestVmm(d, "slow", "--psi", "1000", "--features", "c3,c6", "--c6-delay", "2500")
wait_until(lambda: (d.guests().get("slow") or {}).get("psi_bp") == 1000, what="slow sampled")
snap = os.path.join(d.state, "snapshots", "slow.c6")


def ctl(*args):
    return subprocess.run([ZPSICTL, "--socket", d.sock] + list(args), capture_output=True, text=True,
                          timeout=30)


r = ctl("set", "slow", "power", "C6")
check(r.returncode != 0 and "goes on" in r.stderr, "zpsictl hears that the C6 goes on: %r" % (r,))
check(os.path.exists(snap), "the state file is kept while the VMM still writes it")
check(d.guests()["slow"]["power_state"] == "C0", "not C6 before the VMM says so")
r = ctl("set", "slow", "power", "C3")
check(r.returncode != 0 and "busy" in r.stderr, "one power command at a time: %r" % (r,))
wait_until(lambda: d.guests()["slow"]["power_state"] == "C6", what="the late C6 to be recorded")
check(os.path.getsize(snap) > 0, "the late C6 is in the file")
g = d.ctl("wake", "slow")["guest"]
check(g["power_state"] == "C0", "woken from the late C6: %s" % g)
check(not os.path.exists(snap), "the file goes after the wake")

# a C6 the VMM fails (half written, ENOSPC): the partial file goes, the
# guest stays as it was
bad = TestVmm(d, "bad", "--psi", "1000", "--features", "c3,c6", "--c6-fail")
wait_until(lambda: "bad" in d.guests(), what="bad registered")
r = ctl("set", "bad", "power", "C6")
check(r.returncode != 0 and "No space" in r.stderr, "the VMM's failure reaches zpsictl: %r" % (r,))
check(not os.path.exists(os.path.join(d.state, "snapshots", "bad.c6")), "no partial file left")
check(d.guests()["bad"]["power_state"] == "C0", "the failed C6 leaves the guest in C0")
check(slow.alive() and bad.alive() and d.proc.poll() is None, "all live on")
d.stop()
print("ok: a C6 slower than command_timeout is kept and recorded; a failed one leaves no file")
