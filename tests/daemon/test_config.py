#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`zpsid -n` against golden files (as OpenBSD's vmd regress does): each
config/NAME.conf is checked and its output (stdout, stderr, exit status) must
equal config/NAME.out.  `test_config.py --update` rewrites the goldens."""
import os
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
print("ok: %d golden files" % len(confs))
