#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Chaos soak (issue 15, item 2): real micro-VMs and simulated guests under
one zpsid while a driver, from a fixed random seed printed at the start,
kills VMMs and zpsid with SIGKILL and restarts them, sends C3/C6/wake,
changes weights, floods the control socket and starts misbehaving guests.
After every step it checks the invariants:

  guests        no guest lost or duplicated (zpsid's set = the live ones)
  counters      no guest's counters go backwards, zpsid restarts included
  aggregate     the aggregate is exactly the weighted mean of the guests
  cgroups       every enforced guest's cgroup files match its tier or state
  single        no VM runs twice (one zpsi-vmm per name, the pid zpsid has)
  c6-files      every guest in C6 has its state file, and wakes with its counters

At the end zpsid's fd count and RSS must be back where they were with the
same guests (no leak), and it prints each invariant's check count and each
fault's count.  A failure prints the seed and the step, to replay:
    tests/soak/soak.py --seed SEED --seconds SECONDS

The simulated guests are zpsi-test-vmm's SIMULATED VMs (real regions, real
sockets, no guest code); the micro-VMs are real zpsi-vmm on /dev/kvm.

Usage: soak.py [--seconds N] [--seed N] [--vms N] [--sim N]
       (default 600 s, a random seed, 20 VMs, 300 simulated guests)"""
import argparse
import os
import random
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "daemon"))
import zpsidtest  # noqa: E402
from zpsidtest import (RealVmm, TestVmm, Zpsid, expected_aggregate_bp, require_kvm, skip,  # noqa: E402
                       spec_alloc, tmpdir)

CG = "/sys/fs/cgroup"
QUOTA_MIN_US = 1000  # what C3/C6 keep (daemon/guest.c CPU_QUOTA_MIN_US)

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", 600)))
ap.add_argument("--seed", type=int, default=None)
ap.add_argument("--vms", type=int, default=20)
ap.add_argument("--sim", type=int, default=300)
args = ap.parse_args()
seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
rng = random.Random(seed)
print("soak: seed %d, %.0f s, %d micro-VMs, %d simulated guests" % (seed, args.seconds, args.vms, args.sim),
      flush=True)

require_kvm()
if os.geteuid() != 0:
    skip("needs root: cgroups and /dev/kvm")
if not zpsidtest.cgroup_v1_usable():
    skip("no writable cgroup v1 cpu and memory hierarchies at " + CG)

parent = "zpsi-soak-%d" % os.getpid()
tmp = tmpdir()
checks = {k: 0 for k in ("guests", "counters", "aggregate", "cgroups", "single", "c6-files")}
faults = {}
step = 0
fault = "start"


class SoakFailure(Exception):
    pass


def fail(msg):
    raise SoakFailure(msg)


def wait(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        try:
            v = cond()
        except (OSError, ValueError, KeyError, TypeError):
            v = None
        if v:
            return v
        if time.monotonic() > deadline:
            fail("timed out (%.0f s) waiting for %s" % (timeout, what))
        time.sleep(0.05)


def status():
    """zpsid's status, or None while it cannot answer."""
    try:
        import subprocess
        r = subprocess.run([zpsidtest.ZPSICTL, "--socket", d.sock, "--json", "--timeout", "5000", "status"],
                           capture_output=True, text=True, timeout=15)
        if r.returncode != 0:
            return None
        import json
        return json.loads(r.stdout)
    except (ValueError, OSError):
        return None


def ctl(*a):
    import subprocess
    return subprocess.run([zpsidtest.ZPSICTL, "--socket", d.sock, "--json", "--timeout", "20000"] + list(a),
                          capture_output=True, text=True, timeout=40)


d = Zpsid(tmp, "-o", "cgroup_mode=v1", "-o", "cgroup_root=" + CG, "-p", "/" + parent,
          "-o", "sample_hz=20", "-o", "checkpoint_interval=1", "-o", "reconnect_grace=30",
          "-o", "max_guests=4096", "-o", "log_level=info")
vms = {}          # name -> RealVmm (the live one)
vm_spec = {}      # name -> (args, weight)
sims = []         # TestVmm processes, each with several guests
sim_names = set()
temp = []         # short-lived misbehaving TestVmm: (proc, names)
last = {}         # name -> (committed, deferred) last seen
epoch = {}        # name -> a new VMM was started: its counters begin anew
c6_held = {}      # name -> counters when zpsid reported it in C6
baseline = None   # (fd count, RSS KiB) of zpsid with the whole population


def start_vm(name):
    a, w = vm_spec[name]
    vms[name] = RealVmm(d, name, *a, "--weight", str(w), timeout=int(args.seconds) + 300)
    epoch[name] = True


def expected_names():
    n = set(vms) | sim_names
    for p, names in temp:
        if p.alive():
            n |= names
    return n


def settled():
    """A status in which every expected guest is there and connected."""
    s = status()
    if not s:
        return None
    names = [g["name"] for g in s["guests"]]
    want = expected_names()
    if set(names) != want or len(names) != len(set(names)):
        return None
    if not all(g["connected"] for g in s["guests"]):
        return None
    return s


def check_all(s):
    global last
    names = [g["name"] for g in s["guests"]]
    want = expected_names()
    if len(names) != len(set(names)):
        fail("a guest is listed twice: %s" % sorted(n for n in names if names.count(n) > 1))
    if set(names) != want:
        fail("guests lost %s, unknown %s" % (sorted(want - set(names))[:5], sorted(set(names) - want)[:5]))
    checks["guests"] += 1

    for g in s["guests"]:
        n = g["name"]
        cur = (g["committed"], g["deferred"])
        if n in last and not epoch.get(n) and (cur[0] < last[n][0] or cur[1] < last[n][1]):
            fail("%s: counters went backwards %s -> %s" % (n, last[n], cur))
        last[n] = cur
        epoch[n] = False
    checks["counters"] += 1

    if s["aggregate_bp"] != expected_aggregate_bp(s["guests"]):
        fail("aggregate %d bp, the guests give %d" % (s["aggregate_bp"], expected_aggregate_bp(s["guests"])))
    checks["aggregate"] += 1

    for g in s["guests"]:
        if not g.get("enforced") or not g.get("cgroup") or g["name"] not in vms:
            continue
        path = os.path.join(CG, "cpu", g["cgroup"].lstrip("/"), "cpu.cfs_quota_us")
        quota = int(open(path).read())
        if g["power_state"] in ("C3", "C6"):
            want_q = QUOTA_MIN_US
        elif g["power_state"] == "C0":
            want_q = spec_alloc(g["psi_bp"], g["vcpus"], g["memory_bytes"], g["cpu_period_us"])[2]
        else:
            continue
        if quota != want_q:
            # zpsid writes on its next tick after a new sample: one retry
            return "cgroup %s: quota %d, want %d (%s, %d bp)" % (g["name"], quota, want_q, g["power_state"],
                                                                 g["psi_bp"])
    checks["cgroups"] += 1

    running = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            argv = open("/proc/%s/cmdline" % pid, "rb").read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"zpsi-vmm") and b"--name" in argv and b"--daemon" in argv:
            i = argv.index(b"--name")
            if argv[argv.index(b"--daemon") + 1].decode() == d.sock:
                running.setdefault(argv[i + 1].decode(), []).append(int(pid))
    by_name = {g["name"]: g for g in s["guests"]}
    for n, pids in running.items():
        if len(pids) > 1:
            fail("VM %s runs twice: pids %s" % (n, pids))
        if n in by_name and by_name[n]["pid"] != pids[0]:
            fail("VM %s: zpsid has pid %d, the VMM is %d" % (n, by_name[n]["pid"], pids[0]))
    checks["single"] += 1

    for g in s["guests"]:
        if g["power_state"] == "C6" and g["name"] in vms:
            f = os.path.join(d.state, "snapshots", g["name"] + ".c6")
            if not (os.path.exists(f) and os.path.getsize(f) > 0):
                fail("%s is in C6 but its state file %s is gone" % (g["name"], f))
    checks["c6-files"] += 1
    return None


def verify(timeout=60):
    """Wait until the population is settled, then check every invariant
    (a cgroup lagging its sample by a tick gets a few more looks)."""
    deadline = time.monotonic() + timeout
    why = None
    while time.monotonic() < deadline:
        s = wait(settled, max(1, deadline - time.monotonic()), "every guest registered and connected")
        why = check_all(s)
        if not why:
            return s
        time.sleep(0.1)
    fail(why or "no settled state")


def zpsid_usage():
    rss = 0
    for line in open("/proc/%d/status" % d.proc.pid):
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    return d.fd_count(), rss


# --- the faults ----------------------------------------------------------
def f_kill_vmm():
    n = rng.choice(sorted(vms))
    vms[n].kill9()
    del vms[n]
    c6_held.pop(n, None)  # its state died with it: a new VM starts
    wait(lambda: n not in {g["name"] for g in (status() or {"guests": [{"name": n}]})["guests"]}, 40,
         "zpsid to drop %s after its VMM died" % n)
    start_vm(n)


def f_kill_zpsid():
    d.kill9()
    d.start()


def f_power():
    n = rng.choice(sorted(vms))
    g = {x["name"]: x for x in verify()["guests"]}[n]
    if g["power_state"] in ("C3", "C6"):
        r = ctl("wake", n)
        if r.returncode != 0:
            fail("wake %s: %s%s" % (n, r.stdout, r.stderr))
        if n in c6_held:
            w = {x["name"]: x for x in verify()["guests"]}[n]
            if (w["committed"], w["deferred"]) < c6_held[n]:
                fail("%s woke from C6 with counters %s, held %s" % (n, (w["committed"], w["deferred"]),
                                                                    c6_held.pop(n)))
            c6_held.pop(n, None)
        return "wake"
    target = rng.choice(["C3", "C6"])
    r = ctl("set", n, "power", target)
    if r.returncode != 0:
        fail("set %s power %s: %s%s" % (n, target, r.stdout, r.stderr))
    if target == "C6":
        g = wait(lambda: (lambda x: x if x and x["power_state"] == "C6" else None)
                 ({y["name"]: y for y in status()["guests"]}.get(n)), 30, n + " in C6")
        c6_held[n] = (g["committed"], g["deferred"])
    return target


def f_weight():
    n = rng.choice(sorted(vms))
    w = rng.randint(1, 100)
    r = ctl("set", n, "weight", str(w))
    if r.returncode != 0:
        fail("set %s weight %d: %s%s" % (n, w, r.stdout, r.stderr))
    vm_spec[n] = (vm_spec[n][0], w)


def f_flood():
    socks = []
    for _ in range(rng.randint(20, 80)):
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.settimeout(2)
            s.connect(d.sock)
            s.send(rng.choice([b"\xff" * rng.randint(1, 4000), b"{", b'{"type":"hello"}',
                               b'{"type":"status","seq":1}' * 3, os.urandom(rng.randint(1, 512))]))
            socks.append(s)
        except OSError:
            pass  # zpsid may close floods: that is its right
    for s in socks:
        s.close()


def f_misbehave():
    kind = rng.choice(["nan", "torn", "backwards", "flood"])
    name = "bad-%s-%d" % (kind, step)
    count = rng.randint(1, 5)
    p = TestVmm(d, name, "--count", str(count), "--psi", str(rng.randint(0, 10000)), "--hostile", kind,
                "--no-reconnect", "--bye")
    names = {name} if count == 1 else {"%s%d" % (name, i) for i in range(count)}
    temp.append((p, names))
    wait(lambda: all(x in {g["name"] for g in status()["guests"]} for x in names), 30, name + " registered")
    verify()
    p.stop()
    temp.remove((p, names))
    for x in names:
        last.pop(x, None)


FAULTS = [(f_kill_vmm, 3, "kill -9 a VMM"), (f_kill_zpsid, 1, "kill -9 zpsid"), (f_power, 4, "C3/C6/wake"),
          (f_weight, 3, "weight"), (f_flood, 2, "flood the socket"), (f_misbehave, 2, "misbehaving guests")]


def main():
    global step, fault, baseline
    d.start()
    for i in range(args.vms):
        n = "vm%02d" % i
        prof = rng.choice(["const:%d" % rng.randint(0, 60), "step:%d,%d,%.1f" % (rng.randint(0, 15), rng.randint(20, 60),
                                                                                 rng.uniform(1, 4))])
        report = ["hypercall", "msr", "region"][i % 3]
        vm_spec[n] = (["--payload", "workload", "--profile", prof, "--report", report, "--mem", "4",
                       "--ops", "1000000000000", "--param", "100"], rng.randint(1, 20))
        start_vm(n)
    per = 100
    for k in range(0, args.sim, per):
        c = min(per, args.sim - k)
        name = "sim%d-" % (k // per)
        sims.append(TestVmm(d, name, "--count", str(c), "--psi", str(rng.randint(0, 6000)),
                            "--weight", str(rng.randint(1, 9)), "--rate", "5", "--features", "c3,c6"))
        sim_names.update("%s%d" % (name, i) for i in range(c))
    t0 = time.monotonic()
    s = verify(120)
    print("soak: %d guests registered in %.1f s; zpsid fds %d" % (len(s["guests"]), time.monotonic() - t0,
                                                                   d.fd_count()), flush=True)
    baseline = zpsid_usage()
    end = time.monotonic() + args.seconds
    # the last fifth: no zpsid restarts, so a leak in this instance shows
    quiet = time.monotonic() + args.seconds * 0.8
    reported = time.monotonic()
    leak_base = None
    weights = [w for _, w, _ in FAULTS]
    while time.monotonic() < end:
        step += 1
        fn, _, fault = rng.choices(FAULTS, weights)[0]
        if time.monotonic() >= quiet:
            if leak_base is None:
                # back to the start's population before measuring
                for n in list(c6_held) + [g["name"] for g in verify()["guests"]
                                          if g["name"] in vms and g["power_state"] != "C0"]:
                    ctl("wake", n)
                    c6_held.pop(n, None)
                verify()
                leak_base = zpsid_usage()
            while fn is f_kill_zpsid:
                fn, _, fault = rng.choices(FAULTS, weights)[0]
        sub = fn()
        key = fault + (" " + sub if sub else "")
        faults[key] = faults.get(key, 0) + 1
        verify()
        if time.monotonic() - reported >= 10:
            reported = time.monotonic()
            print("soak: %.0f/%.0f s, step %d, %d checks" % (args.seconds - (end - time.monotonic()), args.seconds,
                                                            step, sum(checks.values())), flush=True)
    fault = "end"
    for n in [g["name"] for g in verify()["guests"] if g["name"] in vms and g["power_state"] != "C0"]:
        ctl("wake", n)
    verify()
    fds, rss = zpsid_usage()
    base = leak_base or baseline
    print("soak: zpsid fds %d -> %d, RSS %d -> %d KiB (the last %.0f s without a zpsid restart)"
          % (base[0], fds, base[1], rss, args.seconds * 0.2))
    if fds != base[0]:
        fail("zpsid's fd count went from %d to %d with the same guests" % (base[0], fds))
    if rss > base[1] + 4096:
        fail("zpsid's RSS grew from %d to %d KiB with the same guests" % (base[1], rss))
    print("soak: %d steps; faults: %s" % (step, ", ".join("%s %d" % kv for kv in sorted(faults.items()))))
    print("soak: invariant checks: %s" % ", ".join("%s %d" % kv for kv in checks.items()))


def cleanup():
    for p in zpsidtest._procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    try:
        zpsidtest.remove_cgroup_tree(CG, parent, ["cpu", "memory"])
    except OSError as e:
        print("soak: cgroup clean-up: %s" % e)


rc = 0
try:
    main()
    print("soak: PASS (seed %d)" % seed)
except SoakFailure as e:
    print("FAIL: step %d (%s): %s" % (step, fault, e))
    print("FAIL: replay with: tests/soak/soak.py --seed %d --seconds %.0f --vms %d --sim %d  (logs: %s)"
          % (seed, args.seconds, args.vms, args.sim, tmp))
    rc = 1
finally:
    if d.proc and d.proc.poll() is None:
        d.proc.send_signal(signal.SIGTERM)
        try:
            d.proc.wait(timeout=20)
        except Exception:
            pass
    cleanup()
sys.exit(rc)
