#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The seed's scenario end to end, on real parts: zpsid, and 10 zpsi-vmm
processes each running a real micro-VM (the `bench` payload, seed mode) that
registers with HC_PSI_REGISTER and makes 1,000 HC_PSI_UPDATE hypercalls
through the doorbell -- 10,000 updates in all -- while linked to zpsid
(--daemon).  Each VMM publishes its guest's reports into the region zpsid
samples; zpsid keeps the host-wide aggregate.

Printed: updates/s over the window from the first guest's first update to
the last guest's last update (host clock, at the console lines' arrival),
the ratio against the seed's 10,000 updates/s, and whether zpsid's
aggregate equals the exact weighted average of the guests' final ratios.
Usage: zpsid_e2e.py [BUILD]"""
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from zpsiutil import wait_until  # noqa: E402

build = sys.argv[1] if len(sys.argv) > 1 else "build"
GUESTS, UPDATES, SEED_RATE = 10, 1000, 10000.0
zpsid = os.path.join(build, "daemon", "zpsid")
zpsictl = os.path.join(build, "daemon", "zpsictl")
vmm = os.path.join(build, "vmm", "zpsi-vmm")

if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    print("zpsid e2e: SKIP: /dev/kvm is not usable here")
    sys.exit(0)

tmp = tempfile.mkdtemp(prefix="zpsid-e2e-")
sock = os.path.join(tmp, "s")
procs = []


def ctl(*args):
    r = subprocess.run([zpsictl, "--socket", sock, "--json"] + list(args), capture_output=True,
                       text=True, timeout=30)
    return json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip() else None


def vmm_overhead_kib(pid, ram_kib):
    """The VMM's resident memory that is not guest RAM: RSS minus the
    resident part of the guest-RAM mapping (the anonymous mapping of exactly
    the configured size, plus the region page mapped over it)."""
    total = ram = 0
    size = 0
    for line in open("/proc/%d/smaps" % pid):
        f = line.split()
        if f[0] == "Size:":
            size = int(f[1])
        elif f[0] == "Rss:":
            total += int(f[1])
            if size == ram_kib or size == 4 and ram:  # the region page splits the RAM mapping
                ram += int(f[1])
    return total - ram, total


try:
    d = subprocess.Popen([zpsid, "-s", sock, "-d", os.path.join(tmp, "state"), "-m", "off",
                          "-o", "cgroup_mode=none", "-o", "log_level=warning"],
                         stderr=open(os.path.join(tmp, "zpsid.log"), "w"))
    procs.append(d)
    wait_until(lambda: ctl("status") is not None, 20, "zpsid")

    final = [(i * 1111) % 10001 for i in range(GUESTS)]
    weights = [i + 1 for i in range(GUESTS)]
    sel = selectors.DefaultSelector()
    starts, dones = {}, {}
    for i in range(GUESTS):
        p = subprocess.Popen([vmm, "--payload", "bench", "--name", "seed%d" % i, "--daemon", sock,
                              "--weight", str(weights[i]), "--param", "1", "--param", str(UPDATES),
                              "--param", str(final[i]), "--param", "1", "--timeout", "120"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        procs.append(p)
        os.set_blocking(p.stdout.fileno(), False)
        sel.register(p.stdout, selectors.EVENT_READ, (i, bytearray()))
    deadline = time.monotonic() + 120
    while len(dones) < GUESTS and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            i, buf = key.data
            chunk = key.fileobj.read()
            now = time.monotonic()
            if not chunk:
                sel.unregister(key.fileobj)
                continue
            buf += chunk
            while b"\n" in buf:
                line, _, rest = bytes(buf).partition(b"\n")
                buf[:] = rest
                if line.startswith(b"updates start"):
                    starts[i] = now
                elif line.startswith(b"updates done"):
                    dones[i] = now
                    if b"failed=0" not in line:
                        raise SystemExit("zpsid e2e: guest %d: %s" % (i, line.decode()))
    if len(dones) < GUESTS:
        raise SystemExit("zpsid e2e: only %d of %d guests finished" % (len(dones), GUESTS))
    window = max(dones.values()) - min(starts.values())
    rate = GUESTS * UPDATES / window

    # every guest now sits in C1, registered: zpsid's aggregate must be the
    # exact weighted average of their final ratios
    sw, swb = sum(weights), sum(w * b for w, b in zip(weights, final))
    want = (2 * swb + sw) // (2 * sw)
    st = wait_until(lambda: (lambda s: s if s and s["count"] == GUESTS and s["aggregate_bp"] == want and
                             all(g["power_state"] == "C1" for g in s["guests"]) else None)
                    (ctl("status")), 20, "zpsid's aggregate to settle at %d bp, every guest in C1" % want)
    print("seed e2e: %d VMs x %d updates through real hypercalls and zpsid: %d updates in %.3f s"
          % (GUESTS, UPDATES, GUESTS * UPDATES, window))
    print("seed e2e: %.0f updates/s = %.1fx the seed's 10,000/s" % (rate, rate / SEED_RATE))
    print("seed e2e: zpsid aggregate %d bp, exact weighted average %d/%d = %.4f bp -> %d bp: %s"
          % (st["aggregate_bp"], swb, sw, swb / sw, want, "PASS" if st["aggregate_bp"] == want else "FAIL"))
    print("seed e2e: %d guests registered in zpsid, each halted in C1 (reported by its VMM)" % st["count"])
    over = [vmm_overhead_kib(p.pid, 32 << 10) for p in procs[1:]]
    worst = max(o for o, _ in over)
    print("zpsi-vmm overhead (RSS minus guest RAM): max %.2f MiB over %d VMMs (RSS %.2f MiB); "
          "ratio to Firecracker's 5 MiB = %.2f" % (worst / 1024, len(over), max(t for _, t in over) / 1024,
                                                   worst / 5120))
finally:
    for p in procs[1:]:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs[1:]:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
    if procs and procs[0].poll() is None:
        procs[0].send_signal(signal.SIGTERM)
        procs[0].wait(timeout=20)
