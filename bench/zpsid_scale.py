#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""zpsid's scale benchmark with SIMULATED writers (zpsi-test-vmm --count N:
one process holding N registered VMs, each a real region memfd updated with
the guest seqlock at --rate Hz): zpsid's CPU cost per sampled region at 10,
1,000 and 10,000 regions, as a ratio to the 10-region cost (target: linear,
<= 1 us per region sample), and its resident memory per registered guest at
the largest size (target <= 4 KiB).  Usage: zpsid_scale.py [BUILD] [N...]"""
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from zpsiutil import proc_status_kib  # noqa: E402

build = sys.argv[1] if len(sys.argv) > 1 else "build"
sizes = [int(x) for x in sys.argv[2:]] or [10, 1000, 10000]
HZ = 100          # zpsid's sample rate
WINDOW = 3.0      # seconds measured at each size
WRITER_HZ = 10    # each simulated guest publishes 10 times a second

zpsid = os.path.join(build, "daemon", "zpsid")
zpsictl = os.path.join(build, "daemon", "zpsictl")
testvmm = os.path.join(build, "tests", "daemon", "zpsi-test-vmm")
# a writer process holds 2 fds per simulated VM (its connection, its region
# memfd), zpsid 1 (the connection): as many writer processes as the fd limit
# needs, each within it
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = max(hard, 4 * max(sizes) + 1024)
try:
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))  # root may raise the hard limit
except (ValueError, OSError):
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
NOFILE = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
PER_WRITER = max(1, (NOFILE - 64) // 2)
if max(sizes) + 64 > NOFILE:
    raise SystemExit("zpsid scale: zpsid needs %d fds, the limit here is %d" % (max(sizes) + 64, NOFILE))


def cpu_ns(pid):
    return int(open("/proc/%d/schedstat" % pid).read().split()[0])  # single-threaded


def metrics(port):
    vals = {}
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=60) as r:
        for line in r:
            line = line.decode()
            if line.startswith(("zpsid_region_reads_total ", "zpsid_sampler_seconds_total ",
                                'zpsid_guests{state="connected"}')):
                k, v = line.rsplit(" ", 1)
                vals[k] = float(v)
    return vals


def run(n):
    tmp = tempfile.mkdtemp(prefix="zpsid-bench-")
    sock = os.path.join(tmp, "s")
    d = subprocess.Popen([zpsid, "-s", sock, "-d", tmp + "/state", "-m", "127.0.0.1:0",
                          "-o", "cgroup_mode=none", "-o", "sample_hz=%d" % HZ, "-o", "log_level=warning",
                          "-o", "checkpoint_interval=3600", "-o", "max_guests=%d" % max(n, 16)],
                         stderr=open(tmp + "/log", "w"))
    while not os.path.exists(sock):
        time.sleep(0.01)
    port = None
    while not port:
        out = subprocess.run([zpsictl, "-s", sock, "--json", "status"], capture_output=True, text=True)
        if out.returncode == 0:
            import json
            port = json.loads(out.stdout)["metrics_port"]
    base = proc_status_kib(d.pid)
    writers = []
    for k, first in enumerate(range(0, n, PER_WRITER)):
        writers.append(subprocess.Popen([testvmm, "--socket", sock, "--name", "sim%c" % (97 + k),
                                         "--count", str(min(PER_WRITER, n - first)),
                                         "--rate", str(WRITER_HZ), "--psi", "2500"], stdout=subprocess.DEVNULL))
    t0 = time.monotonic()
    while metrics(port).get('zpsid_guests{state="connected"}', 0) < n:
        if time.monotonic() - t0 > 300 or any(w.poll() is not None for w in writers):
            for w in writers:
                w.kill()
            d.kill()
            raise SystemExit("simulated writers failed to register %d guests" % n)
        time.sleep(0.2)
    reg_s = time.monotonic() - t0
    m0, c0, t0 = metrics(port), cpu_ns(d.pid), time.monotonic()
    time.sleep(WINDOW)  # a measurement window, not a wait for a condition
    m1, c1, t1 = metrics(port), cpu_ns(d.pid), time.monotonic()
    mem = proc_status_kib(d.pid)
    reads = m1["zpsid_region_reads_total"] - m0["zpsid_region_reads_total"]
    loop_s = m1["zpsid_sampler_seconds_total"] - m0["zpsid_sampler_seconds_total"]
    for w in writers:
        w.send_signal(signal.SIGTERM)
    for w in writers:
        w.wait()
    d.send_signal(signal.SIGTERM)
    d.wait()
    # the window includes two /metrics renders, whose cost grows with n too
    return {"n": n, "reads": reads, "cpu_ns": c1 - c0, "wall": t1 - t0, "loop_ns": loop_s * 1e9,
            "reg_s": reg_s, "mem": mem, "base": base}


res = [run(n) for n in sizes]
b = res[0]
b_cpu = b["cpu_ns"] / b["reads"]
b_loop = b["loop_ns"] / b["reads"]
print("zpsid sampler at %d Hz, simulated writers at %d Hz each (zpsi-test-vmm), %.0f s windows"
      % (HZ, WRITER_HZ, WINDOW))
print("%8s %12s %14s %8s %16s %8s %10s" % ("regions", "reads/s", "cpu ns/read", "ratio",
                                           "sampler ns/read", "ratio", "register s"))
for r in res:
    cpu = r["cpu_ns"] / r["reads"]
    loop = r["loop_ns"] / r["reads"]
    print("%8d %12.0f %14.1f %8.2f %16.1f %8.2f %10.2f" % (r["n"], r["reads"] / r["wall"], cpu, cpu / b_cpu,
                                                       loop, loop / b_loop, r["reg_s"]))
big = res[-1]
dn = big["n"]
rss = (big["mem"]["VmRSS"] - big["base"]["VmRSS"]) * 1024 / dn
anon = (big["mem"]["RssAnon"] - big["base"]["RssAnon"]) * 1024 / dn
shm = (big["mem"]["RssShmem"] - big["base"]["RssShmem"]) * 1024 / dn
print("resident memory per registered guest at %d: %.0f bytes (anon %.0f, shared region pages %.0f: "
      "the VMM's own page, mapped, not copied)" % (dn, rss, anon, shm))
