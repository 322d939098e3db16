#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""compare_systemd.py ZPSI_DETECT [FIXTURES_DIR] - the side-by-side table of
zpsi-detect and systemd-detect-virt, as Markdown (docs/detect.md).

systemd-detect-virt has no sysroot option, so each fixture is shown to it
the only way it can be: in a private mount namespace, the fixture's sys/
is bind-mounted over /sys and its proc/ over /proc (needs root and
unshare(1)).  CPUID cannot be redirected: the instruction answers for this
machine.  systemd's debug log says whether it consulted CPUID; when it did,
its answer is this machine's CPUID mixed with the fixture's files, and the
table says "needs live CPUID" instead of pretending.  The last column is
what systemd 252's decision order gives on the fixture's own machine
(expected.json "systemd_detect_virt", derived from src/basic/virt.c).

Run as root:  tests/detect/compare_systemd.py build/tools/zpsi-detect/zpsi-detect
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def systemd_on(fixture, sdv):
    empty = tempfile.mkdtemp()
    sys_dir = os.path.join(fixture, "sys") if os.path.isdir(os.path.join(fixture, "sys")) else empty
    proc_dir = os.path.join(fixture, "proc") if os.path.isdir(os.path.join(fixture, "proc")) else empty
    script = 'mount --bind "$1" /sys && mount --bind "$2" /proc && exec "$3" --vm'
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
                        sys_dir, proc_dir, sdv], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, SYSTEMD_LOG_LEVEL="debug"))
    os.rmdir(empty)
    used_cpuid = "CPUID" in p.stderr
    return p.stdout.strip() or "(error: %s)" % p.stderr.strip().splitlines()[-1:], used_cpuid


def zpsi_on(exe, fixture):
    p = subprocess.run([exe, "--json", "--sysroot", fixture], capture_output=True, text=True, timeout=60)
    d = json.loads(p.stdout)
    cloud = "" if d["cloud"] == "none" else " (%s%s)" % (d["cloud"], ", bare metal" if d["bare_metal_cloud"] else "")
    return d["hypervisor"] + cloud


def main():
    exe = sys.argv[1]
    root = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "fixtures")
    sdv = shutil.which("systemd-detect-virt")
    live_z = subprocess.run([exe], capture_output=True, text=True).stdout.strip()
    print("| input | zpsi-detect | systemd-detect-virt --vm, run here | systemd 252 on that machine (derived) |")
    print("|---|---|---|---|")
    if sdv:
        live_s = subprocess.run([sdv, "--vm"], capture_output=True, text=True).stdout.strip()
        print("| **live (this machine)** | %s | %s | %s |" % (live_z, live_s, live_s))
    for name in sorted(os.listdir(root)):
        fx = os.path.join(root, name)
        if not os.path.isfile(os.path.join(fx, "expected.json")):
            continue
        with open(os.path.join(fx, "expected.json")) as fh:
            exp = json.load(fh)
        z = zpsi_on(exe, fx)
        if not sdv:
            ran = "not installed"
        else:
            word, used_cpuid = systemd_on(fx, sdv)
            ran = "needs live CPUID (said %s)" % word if used_cpuid else word
        derived = exp.get("systemd_detect_virt") or "n/a (not Linux)"
        print("| %s | %s | %s | %s |" % (name, z, ran, derived))
    return 0


if __name__ == "__main__":
    sys.exit(main())
