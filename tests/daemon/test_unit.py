#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""zpsid.service's hardening (issue 15, item 1), as far as it can be proved
without systemd as PID 1 (this machine has none):
- `systemd-analyze security --offline=yes` scores the generated unit at or
  under 2.5 (its exposure scale, 0 safe .. 10 unsafe);
- the unit keeps one capability (CapabilityBoundingSet=CAP_DAC_OVERRIDE)
  and sets NoNewPrivileges, so zpsid is run here the same way - uid 0 with
  a bounding set of CAP_DAC_OVERRIDE alone, no inheritable or ambient ones,
  no_new_privs, through setpriv (util-linux), umask 077 - and must still do
  its whole job on cgroup v1:
  create the VM's cgroup, move its thread, write quota and soft limit, C3,
  save its state, remove the cgroup."""
import os
import re
import shutil
import subprocess

from zpsidtest import Zpsid, TestVmm, tmpdir, wait_until, check, skip, ZPSID, remove_cgroup_tree

unit = os.path.join(os.path.dirname(ZPSID), "zpsid.service")
text = open(unit).read()
for line in ("CapabilityBoundingSet=CAP_DAC_OVERRIDE\n", "NoNewPrivileges=yes", "ProtectSystem=strict", "SystemCallFilter=@system-service",
             "RestrictAddressFamilies=", "Delegate=yes", "PrivateTmp=yes", "ProtectHome=yes"):
    check(line in text, "the unit has %s" % line.strip())

analyze = shutil.which("systemd-analyze")
if analyze:
    r = subprocess.run([analyze, "security", "--offline=yes", "--no-pager", unit], capture_output=True, text=True,
                       timeout=60)
    m = re.search(r"Overall exposure level for zpsid.service: ([0-9.]+)", r.stdout + r.stderr)
    check(m, "systemd-analyze security printed a score: %s%s" % (r.stdout[-500:], r.stderr[-500:]))
    score = float(m.group(1))
    print("systemd-analyze security zpsid.service: exposure %.1f (goal <= 2.5)" % score)
    check(score <= 2.5, "exposure %.1f, want <= 2.5" % score)
else:
    print("note: no systemd-analyze; the score was not taken")

V1 = "/sys/fs/cgroup"
if os.geteuid() != 0:
    skip("needs root to run zpsid as the unit does (uid 0, one capability)")
if not os.path.exists(V1 + "/cpu/cpu.cfs_quota_us") or not os.path.exists(V1 + "/memory/memory.soft_limit_in_bytes"):
    skip("no cgroup v1 cpu and memory hierarchies at " + V1)
setpriv = shutil.which("setpriv")
if not setpriv:
    skip("no setpriv (util-linux) to drop zpsid's capabilities")

parent = "zpsi-test-unit-%d" % os.getpid()
tmp = tmpdir()
os.umask(0o077)
d = Zpsid(tmp, "-o", "cgroup_mode=v1", "-o", "cgroup_root=" + V1, "-p", "/" + parent,
          wrapper=[setpriv, "--bounding-set=-all,+dac_override", "--inh-caps=-all", "--ambient-caps=-all", "--no-new-privs"])
try:
    d.start()
    status = open("/proc/%d/status" % d.proc.pid).read()
    caps = dict(re.findall(r"^(Cap\w+):\s+(\w+)$", status, re.M))
    dac_override = 1 << 1	# linux/capability.h
    check(all(int(caps[k], 16) == dac_override for k in ("CapEff", "CapPrm", "CapBnd")) and int(caps["CapAmb"], 16) == 0,
          "zpsid holds CAP_DAC_OVERRIDE and nothing else: %s" % caps)
    check(re.search(r"^NoNewPrivs:\s+1$", status, re.M), "zpsid runs with no_new_privs")
    vm = TestVmm(d, "burn", "--burn", "1", "--psi", "5000", "--vcpus", "1", "--memory", str(256 << 20),
                 "--features", "c3")
    g = wait_until(lambda: (lambda x: x if x and x["psi_bp"] == 5000 and x["enforced"] else None)
                   (d.guests().get("burn")), what="burn at 50 % and enforced by a zpsid with one capability")
    q = open(os.path.join(V1, "cpu", parent, "burn", "cpu.cfs_quota_us")).read().strip()
    m = open(os.path.join(V1, "memory", parent, "burn", "memory.soft_limit_in_bytes")).read().strip()
    check(q == "50000" and m == str(128 << 20), "quota %s, soft limit %s written" % (q, m))
    d.ctl("set", "burn", "power", "C3")
    wait_until(lambda: (lambda x: x if x and x["power_state"] == "C3" else None)(d.guests().get("burn")),
               what="C3")
    q = open(os.path.join(V1, "cpu", parent, "burn", "cpu.cfs_quota_us")).read().strip()
    check(int(q) < 50000, "C3 releases the CPU quota (%s)" % q)
    d.ctl("wake", "burn")
    vm.stop()
    wait_until(lambda: not os.path.isdir(os.path.join(V1, "cpu", parent, "burn")), what="the VM's cgroup removed")
    d.stop()
    check(d.proc.returncode == 0, "zpsid stopped cleanly (exit %s)" % d.proc.returncode)
    check(os.path.exists(os.path.join(d.state, "guests.json")), "zpsid saved its state")
    print("ok: zpsid with CAP_DAC_OVERRIDE alone (as zpsid.service runs it) enforced, paused, saved and cleaned up")
finally:
    remove_cgroup_tree(V1, parent, ["cpu", "memory"])
