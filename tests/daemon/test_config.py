#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`zpsid -n` against golden files (as OpenBSD's vmd regress does): each
config/NAME.conf is checked and its output (stdout, stderr, exit status) must
equal config/NAME.out.  `test_config.py --update` rewrites the goldens."""
import os
import re
import shutil
import subprocess
import sys

from zpsidtest import ZPSID, check

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "config")
zpsid = os.path.abspath(ZPSID)
update = "--update" in sys.argv
confs = sorted(f for f in os.listdir(here) if f.endswith(".conf"))
check(len(confs) >= 8, "golden configs present")
for c in confs:
    r = subprocess.run([zpsid, "-n", "-c", c], cwd=here, capture_output=True, text=True, timeout=30)
    got = r.stdout + "--- stderr\n" + r.stderr + "exit=%d\n" % r.returncode
    golden = os.path.join(here, c[:-5] + ".out")
    if update:
        open(golden, "w").write(got)
        continue
    want = open(golden).read()
    check(got == want, "%s:\n--- want\n%s--- got\n%s" % (c, want, got))
# the command line overrides the file, and is checked the same way
r = subprocess.run([zpsid, "-n", "-c", "full.conf", "-o", "sample_hz=3", "-p", "/a/b"], cwd=here,
                   capture_output=True, text=True)
check(r.returncode == 0 and "sample_hz = 3\n" in r.stdout and "cgroup_parent = /a/b\n" in r.stdout,
      "command line overrides: " + r.stdout + r.stderr)
r = subprocess.run([zpsid, "-n", "-o", "sample_hz=fast"], capture_output=True, text=True)
check(r.returncode == 1 and "sample_hz: 'fast'" in r.stderr, "bad command line value: " + r.stderr)
r = subprocess.run([zpsid, "-n", "-c", "/nonexistent.conf"], capture_output=True, text=True)
check(r.returncode == 1 and "No such file" in r.stderr, "missing file: " + r.stderr)
# the shipped /etc/zpsi/zpsid.conf shows every default truly: with each
# commented "#key = value" line made live, zpsid -n prints the defaults
shipped = os.path.join(os.path.dirname(here), "..", "..", "daemon", "zpsid.conf")
live = os.path.join(os.environ.get("TMPDIR", "/tmp"), "zpsid-shipped-%d.conf" % os.getpid())
lines = [re.sub(r"^#(\w+ = )", r"\1", l) for l in open(shipped)]
open(live, "w").writelines(l for l in lines if not l.startswith("allow_uid"))
args = ["-n", "-s", "/run/zpsi/zpsid.sock", "-d", "/var/lib/zpsid"]
r1 = subprocess.run([zpsid] + args + ["-c", live], capture_output=True, text=True)
r0 = subprocess.run([zpsid] + args, capture_output=True, text=True)
os.unlink(live)
check(sum(1 for l in lines if re.match(r"^\w+ = ", l)) >= 15, "the shipped file names the keys")
check(r1.returncode == 0 and r1.stdout == r0.stdout, "shipped zpsid.conf = the defaults:\n%s%s" % (r1.stdout, r1.stderr))
# the unit file as meson generated it: systemd accepts it (with the
# binary at the build tree's path, since nothing is installed here)
unit = os.path.join(os.path.dirname(zpsid), "zpsid.service")
text = open(unit).read()
check("Type=notify" in text and "/zpsi/zpsid.conf" in text, "the unit is Type=notify and names the config")
analyze = shutil.which("systemd-analyze")
if analyze:
    test_unit = os.path.join(os.environ.get("TMPDIR", "/tmp"), "zpsid-verify-%d" % os.getpid(), "zpsid.service")
    os.makedirs(os.path.dirname(test_unit), exist_ok=True)
    open(test_unit, "w").write(re.sub(r"ExecStart=\S+/zpsid", "ExecStart=" + zpsid, text))
    r = subprocess.run([analyze, "verify", "--man=no", test_unit], capture_output=True, text=True, timeout=60)
    os.unlink(test_unit)
    os.rmdir(os.path.dirname(test_unit))
    check(r.returncode == 0, "systemd-analyze verify: %s%s" % (r.stdout, r.stderr))
else:
    print("note: no systemd-analyze; the unit file was not verified")
print("ok: %d golden files, the shipped zpsid.conf and unit" % len(confs))
