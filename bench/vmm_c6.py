#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""C6 on a real VM: what hibernating and waking cost in time and memory.

zpsi-vmm runs the workload payload in a guest of MEM MiB that writes TOUCH
MiB of its RAM at start; then SIGPWR hibernates it (C6: the state file
written, RAM released) and SIGUSR1 wakes it.  Printed, with the VMM's
resident memory while running as the baseline: the peak resident memory
(VmHWM) during the save and during the wake as ratios to it (1.00 = saving
costs no memory beyond the guest's own), the RSS left in C6, the state
file's size, and the save's speed in MiB/s of guest memory.

Usage: vmm_c6.py [BUILD] [MEM_MIB TOUCH_MIB]"""
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from zpsiutil import proc_status_kib, wait_until  # noqa: E402

build = sys.argv[1] if len(sys.argv) > 1 else "build"
MEM, TOUCH = (int(sys.argv[2]), int(sys.argv[3])) if len(sys.argv) > 3 else (256, 200)
VMM = os.path.join(build, "vmm", "zpsi-vmm")

if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    print("vmm c6: SKIP: /dev/kvm is not usable here")
    sys.exit(0)


def reset_hwm(pid):
    """Writing 5 to clear_refs resets VmHWM to the current RSS."""
    with open("/proc/%d/clear_refs" % pid, "w") as f:
        f.write("5")


tmp = tempfile.mkdtemp(prefix="zpsi-c6-")
state, out = os.path.join(tmp, "vm.state"), os.path.join(tmp, "console")
p = subprocess.Popen([VMM, "--payload", "workload", "--profile", "const:5", "--param", "500",
                      "--param", str(TOUCH), "--mem", str(MEM), "--ops", "1000000000",
                      "--state-out", state, "--timeout", "300"],
                     stdout=open(out, "w"), stderr=subprocess.STDOUT)
try:
    def console():
        return open(out, errors="replace").read()
    wait_until(lambda: "workload: touched" in console() and "\nprogress " in console(), 120,
               "the guest to write %d MiB" % TOUCH, "vmm c6")
    running = proc_status_kib(p.pid)["VmRSS"]
    reset_hwm(p.pid)
    t0 = time.monotonic()
    p.send_signal(signal.SIGPWR)
    wait_until(lambda: proc_status_kib(p.pid)["VmRSS"] < running // 4, 120, "the RSS to fall in C6")
    save_s = time.monotonic() - t0
    c6 = proc_status_kib(p.pid)
    size = os.path.getsize(state)
    reset_hwm(p.pid)
    progress = console().count("\nprogress ")
    t0 = time.monotonic()
    p.send_signal(signal.SIGUSR1)
    wait_until(lambda: console().count("\nprogress ") > progress, 120, "progress after the wake")
    wake_s = time.monotonic() - t0
    woken = proc_status_kib(p.pid)
    print("C6 of a %d MiB guest with %d MiB written (zpsi-vmm, SIGPWR then SIGUSR1)" % (MEM, TOUCH))
    print("  running RSS (baseline)    %8.1f MiB" % (running / 1024))
    print("  save: peak RSS            %8.1f MiB   ratio %.2f   %.3f s, %.0f MiB/s of guest memory"
          % (c6["VmHWM"] / 1024, c6["VmHWM"] / running, save_s, TOUCH / save_s))
    print("  in C6: RSS                %8.1f MiB   ratio %.3f   state file %.1f MiB"
          % (c6["VmRSS"] / 1024, c6["VmRSS"] / running, size / 2**20))
    print("  wake: peak RSS            %8.1f MiB   ratio %.2f   %.3f s to a new progress line after the wake"
          % (woken["VmHWM"] / 1024, woken["VmHWM"] / running, wake_s))
    print("  (the wake streams the state file in bounded chunks straight into guest RAM)")
finally:
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
    for f in (state, out):
        if os.path.exists(f):
            os.unlink(f)
    os.rmdir(tmp)
