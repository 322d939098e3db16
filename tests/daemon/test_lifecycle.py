#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""zpsid's operations: READY=1 on $NOTIFY_SOCKET, SIGHUP reload that keeps
running guests and applies new tiers, a bad config on reload is refused and the
old one kept, SIGTERM stops gracefully (STOPPING=1, exit 0, socket removed),
and every log line carries a syslog priority prefix."""
import json
import os
import re
import signal
import subprocess
import time

from zpsidtest import ZPSICTL, Zpsid, TestVmm, tmpdir, wait_until, check

tmp = tmpdir()
conf = os.path.join(tmp, "zpsid.conf")
open(conf, "w").write("sample_hz = 50\ntiers = 999:100,3000:80,10000:50\n")
d = Zpsid(tmp, config=conf).start()
vms = [TestVmm(d, "vm%d" % i, "--psi", str(bp), "--weight", str(i + 1))
       for i, bp in enumerate([500, 2000, 4000])]
wait_until(lambda: len(d.guests()) == 3 and all(g["samples_total"] > 0 for g in d.guests().values()),
           what="three guests sampled")
g = d.guests()
check([g["vm%d" % i]["share"] for i in range(3)] == [1.0, 0.8, 0.5], "the seed's tiers: %s" % g)
check(d.status()["sample_hz"] == 50, "sample_hz from the file")


def zpsictl(*args):
    return subprocess.run([ZPSICTL] + list(args), capture_output=True, text=True, timeout=30)


# zpsictl as the issue writes it: options after the command too
r = zpsictl("status", "--json", "--socket", d.sock)
check(r.returncode == 0, "zpsictl status --json: %s%s" % (r.stdout, r.stderr))
st = json.loads(r.stdout)
check(st["aggregate_psi"] == st["aggregate_bp"] / 10000 and len(st["guests"]) == 3, "status --json: %s" % st)
r = zpsictl("guest", "vm1", "-j", "-s", d.sock)
since = json.loads(r.stdout)["guest"]["since"]
check(abs(since - time.time()) < 120, "'since' printed to the second: %r" % since)
for bad in (["status", "-n", "2"], ["top", "-i", "0.01"], ["top", "extra"], ["guest"], ["status", "--bogus"]):
    r = zpsictl("-s", d.sock, *bad)
    check(r.returncode == 2 and r.stderr, "zpsictl %s is a usage error (2): %d %s" % (bad, r.returncode, r.stderr))

# reload with new tiers: 15 % and below keep everything, above that 25 %
open(conf, "w").write("sample_hz = 200\ntiers = 1500:100,10000:25\n")
d.proc.send_signal(signal.SIGHUP)
d.wait_notify("RELOADING=1")
d.wait_notify("READY=1")
st = d.status()
check(st["sample_hz"] == 200, "sample_hz reloaded")
g = d.guests()
check(len(g) == 3 and all(x["connected"] for x in g.values()), "guests kept across the reload")
check([g["vm%d" % i]["share"] for i in range(3)] == [1.0, 0.25, 0.25], "new tiers applied: %s" % g)
check(g["vm1"]["cpu_quota_us"] == 25000, "quota follows the new share")

# a broken file on reload: refused, the running configuration stays
open(conf, "w").write("sample_hz = 0\n")
d.proc.send_signal(signal.SIGHUP)
d.wait_notify("READY=1")
check(d.status()["sample_hz"] == 200, "bad reload kept the old config")
check(d.proc.poll() is None, "zpsid survived a bad reload")

# SIGTERM: graceful; the VMMs keep running and try to come back
d.proc.send_signal(signal.SIGTERM)
d.wait_notify("STOPPING=1")
check(d.proc.wait(timeout=20) == 0, "exit status 0 on SIGTERM")
check(not os.path.exists(d.sock), "socket removed")
wait_until(lambda: all(len([l for l in v.lines() if l.startswith("GONE")]) >= 1 for v in vms),
           what="the VMMs to hear the bye")
check(all(v.alive() for v in vms), "VMMs keep running when zpsid stops")
for v in vms:
    v.stop()
log = open(d.log).read().splitlines()
check(log and all(re.match(r"^<[0-7]>", l) for l in log), "every log line has a <N> prefix")
check(any(l.startswith("<3>reload:") for l in log), "the bad reload is logged at err")
print("ok")
