#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The second half of `make demo`: the whole stack on real parts.

zpsid starts (its own socket, state directory and Prometheus endpoint; the
VMs' cgroups under a demo parent when cgroup v1 or v2 is writable), ten
zpsi-vmm processes each boot a micro-VM running the `workload` payload with
its own PSI profile and report path, and register with zpsid.  The demo then
shows what an operator sees: `zpsictl status` as the profiles move, the cgroup
files zpsid wrote, one VM put into C6 (state file, RSS) and woken, the
aggregate as Prometheus text, and a clean stop.  It takes about 15 s.

Usage: demo.py [BUILD]"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zpsiutil import proc_status_kib, wait_until  # noqa: E402

build = sys.argv[1] if len(sys.argv) > 1 else "build"
ZPSID = os.path.join(build, "daemon", "zpsid")
ZPSICTL = os.path.join(build, "daemon", "zpsictl")
VMM = os.path.join(build, "vmm", "zpsi-vmm")
CG = "/sys/fs/cgroup"
MEM_MIB = 32

# name, profile, report path, weight; batch-1 writes 12 MiB of its RAM at
# start (--param: idle alarm ms, MiB to touch), so its C6 frees something
# worth seeing
PLAN = [
    ("web-1", "const:3", "hypercall", 4),
    ("web-2", "const:8", "msr", 4),
    ("batch-1", "const:20", "region", 2),
    ("batch-2", "const:25", "hypercall", 2),
    ("ml-train", "const:45", "msr", 8),
    ("ml-eval", "const:70", "region", 1),
    ("spiky", "step:5,60,6", "hypercall", 3),
    ("warming", "ramp:0,60,12", "msr", 3),
    ("idle-1", "idle:1", "region", 1),
    ("cache", "const:0", "hypercall", 6),
]


def say(text=""):
    print(text, flush=True)


def title(text):
    say()
    say("== " + text)


if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    title("real stack: skipped: /dev/kvm is missing or not usable by this user")
    sys.exit(0)

tmp = tempfile.mkdtemp(prefix="zpsi-demo-")
sock = os.path.join(tmp, "zpsid.sock")
state = os.path.join(tmp, "state")
parent = "zpsi-demo-%d" % os.getpid()
procs = {}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cgroup_args():
    """v1 cpu+memory hierarchies if writable, else a cgroup2 tree with the cpu
    controller, else none (the demo says which)."""
    if os.geteuid() == 0 and os.access(os.path.join(CG, "cpu", "cpu.cfs_quota_us"), os.R_OK) \
            and os.path.isdir(os.path.join(CG, "memory")):
        return "v1", ["-o", "cgroup_mode=v1", "-o", "cgroup_root=" + CG, "-p", "/" + parent]
    try:
        ctrls = open(os.path.join(CG, "cgroup.controllers")).read().split()
    except OSError:
        ctrls = []
    if os.geteuid() == 0 and "cpu" in ctrls:
        return "v2", ["-o", "cgroup_mode=v2", "-o", "cgroup_root=" + CG, "-p", "/" + parent]
    return None, ["-o", "cgroup_mode=none"]


def ctl(*args, json_out=True):
    cmd = [ZPSICTL, "--socket", sock] + (["--json"] if json_out else []) + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout) if json_out else r.stdout


def rss_kib(pid):
    return proc_status_kib(pid)["VmRSS"]


def show_status():
    out = ctl("status", json_out=False)
    for line in (out or "zpsictl status failed\n").rstrip("\n").split("\n"):
        say("  " + line)


def stop_all():
    for name, p in procs.items():
        if name != "zpsid" and p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for name, p in procs.items():
        if name == "zpsid":
            continue
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    d = procs.get("zpsid")
    if d and d.poll() is None:
        d.send_signal(signal.SIGTERM)
        try:
            d.wait(timeout=20)
        except subprocess.TimeoutExpired:
            d.kill()
            d.wait()


def remove_cgroups(mode):
    dirs = [os.path.join(CG, h, parent) for h in ("cpu", "memory")] if mode == "v1" \
        else [os.path.join(CG, parent)] if mode == "v2" else []
    for base in dirs:
        if os.path.isdir(base):
            for sub in os.listdir(base):
                if os.path.isdir(os.path.join(base, sub)):
                    os.rmdir(os.path.join(base, sub))
            os.rmdir(base)


mode, cg_args = cgroup_args()
port = free_port()
try:
    title("real stack: zpsid and ten micro-VMs on /dev/kvm")
    procs["zpsid"] = subprocess.Popen([ZPSID, "-s", sock, "-d", state, "-m", "127.0.0.1:%d" % port,
                                       "-o", "sample_hz=20", "-o", "log_level=notice"] + cg_args,
                                      stderr=open(os.path.join(tmp, "zpsid.log"), "w"))
    wait_until(lambda: ctl("status") is not None, 20, "zpsid to answer")
    say("zpsid up: socket %s, metrics http://127.0.0.1:%d/metrics, cgroups: %s"
        % (sock, port, ("%s under /%s" % (mode, parent)) if mode else "off (none writable here)"))
    for name, profile, report, weight in PLAN:
        procs[name] = subprocess.Popen([VMM, "--payload", "workload", "--name", name, "--daemon", sock,
                                        "--profile", profile, "--report", report, "--weight", str(weight),
                                        "--mem", str(MEM_MIB), "--ops", "1000000000", "--timeout", "300"]
                                       + (["--param", "100", "--param", "12"] if name == "batch-1" else []),
                                       stdout=open(os.path.join(tmp, name + ".out"), "w"),
                                       stderr=subprocess.STDOUT)
        say("  zpsi-vmm --payload workload --name %-8s --profile %-13s --report %-9s --weight %d"
            % (name, profile, report, weight))

    def all_reporting():
        s = ctl("status")
        return s if s and len(s["guests"]) == len(PLAN) and all(g["committed"] + g["deferred"] > 0
                                                                for g in s["guests"]) else None
    wait_until(all_reporting, 60, "ten guests registered and reporting")

    title("zpsictl status: every guest, its tier, share and cgroup quota")
    show_status()
    say()
    say("  ... 'spiky' steps to 60 %, 'warming' ramps, 'idle-1' steps down C1 -> C3 -> C6 ...")
    time.sleep(7)
    title("zpsictl status, 7 s later")
    show_status()

    if mode == "v1":
        title("what zpsid wrote into the VMs' cgroups (v1)")
        for name, _, _, _ in PLAN:
            d = os.path.join(CG, "cpu", parent, name)
            m = os.path.join(CG, "memory", parent, name)
            try:
                say("  %-8s cpu.cfs_quota_us=%-7s memory.soft_limit_in_bytes=%s"
                    % (name, open(d + "/cpu.cfs_quota_us").read().strip(),
                       open(m + "/memory.soft_limit_in_bytes").read().strip()))
            except OSError as e:
                say("  %-8s (%s)" % (name, e.strerror))
    elif mode == "v2":
        title("what zpsid wrote into the VMs' cgroups (v2)")
        for name, _, _, _ in PLAN:
            d = os.path.join(CG, parent, name)
            try:
                say("  %-8s cpu.max=%-14s memory.high=%s"
                    % (name, open(d + "/cpu.max").read().strip(),
                       open(d + "/memory.high").read().strip() if os.path.exists(d + "/memory.high") else "-"))
            except OSError as e:
                say("  %-8s (%s)" % (name, e.strerror))

    title("C6: zpsictl set batch-1 power C6, then zpsictl wake batch-1")
    pid = procs["batch-1"].pid
    before = rss_kib(pid)
    g = ctl("set", "batch-1", "power", "C6")
    f = os.path.join(state, "snapshots", "batch-1.c6")
    after = wait_until(lambda: (lambda r: r if r < before else None)(rss_kib(pid)), 10, "the VMM's RSS to fall")
    say("  power_state=%s  state file %s (%.1f MiB)  VMM RSS %.1f -> %.1f MiB"
        % (g["guest"]["power_state"] if g else "?", f, os.path.getsize(f) / 2**20 if os.path.exists(f) else 0,
           before / 1024, after / 1024))
    g = ctl("wake", "batch-1")
    say("  woken: power_state=%s, counters kept: committed=%s deferred=%s"
        % (g["guest"]["power_state"], g["guest"]["committed"], g["guest"]["deferred"]) if g else "  wake failed")

    title("Prometheus text from zpsid (GET /metrics, the aggregate and one guest)")
    body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10).read().decode()
    for line in body.splitlines():
        if line.startswith(("zpsid_aggregate_psi_ratio", "zpsid_guests{")) \
                or ('"ml-train"' in line and line.startswith(("zpsid_guest_psi_ratio", "zpsid_guest_share"))):
            say("  " + line)

    title("stop: SIGTERM to every VMM (each says bye to zpsid), then to zpsid")
    stop_all()
    codes = {n: p.returncode for n, p in procs.items()}
    say("  exit codes (143 = 128 + SIGTERM, stopped on request): "
        + ", ".join("%s=%s" % (n, c) for n, c in codes.items()))
    say("  logs: %s" % tmp)
finally:
    stop_all()
    remove_cgroups(mode)
