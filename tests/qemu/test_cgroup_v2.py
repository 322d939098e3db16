#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""cgroup v2 enforced for real (issue 15, item 4).  This host's cgroup2 has
no controllers, so Debian's own kernel boots under QEMU (TCG) with a busybox
initramfs (tests/qemu/mkimage.sh) whose /init (cgroup-v2-init.sh) mounts
cgroup2 with cpu and memory, delegates a subtree as systemd does
(zpsi.slice: zpsid in its leaf zpsid.service, VMs under vms/), and runs
zpsid enforcing on two simulated VMs that each burn a CPU: one at 50 % PSI
(tier 2), one at 0 %.  Checks the cpu.max and memory.high zpsid wrote, that
each burner runs in its VM's cgroup, and that the kernel really throttled
the 50 % one to half a CPU (cpu.stat), against the unthrottled one."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "daemon"))
from zpsidtest import BUILD, fail, skip  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


for tool in ("qemu-system-x86_64", "cpio", "busybox"):
    if not shutil.which(tool):
        skip("no %s (scripts/deps.sh e2e installs it)" % tool)
if os.geteuid() != 0:
    skip("needs root (apt-get download of the kernel into /var/cache/zpsi)")

out = tempfile.mkdtemp(prefix="zpsi-qemu-")
mk = subprocess.run([os.path.join(HERE, "mkimage.sh"), BUILD, out, os.path.join(HERE, "cgroup-v2-init.sh")],
                    capture_output=True, text=True)
if mk.returncode != 0:
    fail("mkimage.sh: " + mk.stderr)
kernel = mk.stdout.strip()
try:
    r = subprocess.run(["qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-smp", "2", "-nographic",
                        "-no-reboot", "-net", "none", "-kernel", os.path.join(out, "vmlinuz"),
                        "-initrd", os.path.join(out, "initrd.img"),
                        "-append", "console=ttyS0 quiet panic=-1 rdinit=/init"],
                       capture_output=True, text=True, errors="replace", timeout=240)
except subprocess.TimeoutExpired as e:
    fail("the guest did not power off within 240 s:\n%s" % (e.stdout or "")[-3000:])
finally:
    shutil.rmtree(out, ignore_errors=True)
res = {}
# the firmware's terminal escapes may precede the first line on the serial console
lines = [l.strip() for l in r.stdout.splitlines()]
for line in lines:
    if "RESULT " in line:
        k, _, v = line[line.index("RESULT ") + 7:].partition("=")
        res[k] = v
console = "\n".join(l for l in lines if "RESULT " in l or l.startswith("zpsid:"))


def check(cond, what):
    if not cond:
        fail("%s\n%s" % (what, console or r.stdout[-3000:]))


check(res.get("done") == "ok", "the guest's script did not finish (done=%s)" % res.get("done"))
check({"cpu", "memory"} <= set(res["controllers"].split(",")), "cpu and memory in cgroup.controllers")
mib = 1 << 20
check(res["half.cpu.max"] == "50000/100000", "50 %% tier: cpu.max %s, want 50000 100000" % res["half.cpu.max"])
check(res["full.cpu.max"] == "100000/100000", "0 %% PSI: cpu.max %s, want 100000 100000" % res["full.cpu.max"])
check(int(res["half.memory.high"]) == 128 * mib, "50 %% tier: memory.high %s, want 128 MiB" % res["half.memory.high"])
check(int(res["full.memory.high"]) == 256 * mib, "0 %% PSI: memory.high %s, want 256 MiB" % res["full.memory.high"])
for vm in ("half", "full"):
    check(res[vm + ".cgroup"] == "/zpsi.slice/vms/" + vm, "%s runs in %s" % (vm, res[vm + ".cgroup"]))
window = int(res["window_usec"])
half = int(res["half.usage_usec"]) / window
full = int(res["full.usage_usec"]) / window
check(int(res["half.nr_throttled"]) > 0, "the kernel throttled the 50 % burner (cpu.stat nr_throttled)")
# the quota is an upper bound the kernel enforces each 100 ms period
check(half <= 0.6, "a 50 %% cpu.max let the burner use %.2f of a CPU" % half)
check(full > half, "the unthrottled burner got more CPU (%.2f) than the throttled one (%.2f)" % (full, half))
check(int(res.get("zpsid_warnings", "1")) == 0, "zpsid logged warnings or errors")
print("ok: cgroup v2 under QEMU TCG (%s): cpu.max 50000/100000, memory.high 128 MiB in /zpsi.slice/vms/half; "
      "CPU per second: 50 %% tier %.3f (throttled %s times), 100 %% %.3f (its quota is one CPU), ratio %.3f"
      % (kernel, half, res["half.nr_throttled"], full, half / full))
