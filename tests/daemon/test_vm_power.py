#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Power states and the balloon with real micro-VMs under zpsid (issue 5,
items 2 and 3):
- zpsictl drives a running guest to C3 (vCPUs paused: its vCPU thread uses
  no CPU; cgroup quota at the kernel's minimum), to C6 (its state in zpsid's
  state directory, its memory freed: the VMM's RSS falls), and wakes it: it
  continues where it stopped, its registration and counters kept;
- a guest that goes idle steps itself down C1, C3 and asks for C6, which
  zpsid carries out into its state directory; zpsictl wake brings it back;
- the balloon: at the 50 % tier zpsid publishes a memory target of half the
  VM's RAM, the guest gives back every page above it, and the VMM's
  resident memory really falls."""
import os
import signal
import subprocess
import time
import urllib.request

from zpsidtest import (ZPSICTL, Zpsid, RealVmm, check, cgroup_v1_usable, remove_cgroup_tree, require_kvm,
                       tmpdir, wait_until)

require_kvm()
V1 = "/sys/fs/cgroup"
use_cg = cgroup_v1_usable()
parent = "zpsi-test-power-%d" % os.getpid()
MiB = 1 << 20


def thread_cpu_ns(pid, tid):
    return int(open("/proc/%d/task/%d/schedstat" % (pid, tid)).read().split()[0])


tmp = tmpdir()
args = ["-o", "sample_hz=50", "-m", "127.0.0.1:0"]
args += (["-o", "cgroup_mode=v1", "-o", "cgroup_root=" + V1, "-p", "/" + parent] if use_cg else [])
d = Zpsid(tmp, *args).start()
snap = os.path.join(d.state, "snapshots")
vms = []
try:
    # --- host-driven C3, C6 and wake ---------------------------------
    pw = RealVmm(d, "pw", "--payload", "workload", "--profile", "const:5", "--param", "500",
                 "--param", "12", "--mem", "32", "--ops", "1000000000")
    vms.append(pw)
    wait_until(lambda: (d.guests().get("pw") or {}).get("psi_bp") == 500, 30, "pw sampled at 5 %")
    pw.wait_line("progress ", 2)
    rss_running = pw.rss_kib()
    g = d.ctl("set", "pw", "power", "C3")["guest"]
    check(g["power_state"] == "C3", "C3 acknowledged: %s" % g)
    if use_cg:
        cg = os.path.join(V1, "cpu", parent, "pw")
        check(open(cg + "/cpu.cfs_quota_us").read().strip() == "1000", "C3 releases the CPU allocation")
        tid = [int(t) for t in open(cg + "/tasks").read().split()   # the vCPU, not KVM's worker
               if open("/proc/%d/task/%s/comm" % (pw.proc.pid, t)).read().strip() == "zpsi-vmm"][0]
        c0 = thread_cpu_ns(pw.proc.pid, tid)
        time.sleep(0.5)  # observing an absence: the paused vCPU must not run
        used = thread_cpu_ns(pw.proc.pid, tid) - c0
        check(used < 20_000_000, "a paused vCPU used %.1f ms of CPU in 0.5 s" % (used / 1e6))
    ops_paused = pw.ops()
    committed_before = d.guests()["pw"]["committed"]

    g = d.ctl("set", "pw", "power", "C6")["guest"]
    check(g["power_state"] == "C6", "C6 acknowledged: %s" % g)
    dec = d.ctl("guest", "pw")["guest"]["decisions"]
    check([x["power_state"] for x in dec[-2:]] == ["C3", "C6"] and dec[-1]["cpu_quota_us"] == 1000,
          "C3 -> C6 is a decision of its own (same quota): %s" % dec[-2:])
    f = os.path.join(snap, "pw.c6")
    check(os.path.exists(f) and os.path.getsize(f) > 4096, "the VM's state is in zpsid's state directory")
    state_bytes = os.path.getsize(f)
    rss_c6 = wait_until(lambda: (lambda r: r if r < rss_running - 8 * 1024 else None)(pw.rss_kib()), 10,
                        "the VMM's RSS to fall in C6 (running: %d KiB)" % rss_running)
    check(pw.alive(), "the VMM lives on in C6")

    # a damaged state file: the wake fails, the VM stays in C6 and lives on;
    # with the good file back, it wakes
    good = open(f, "rb").read()
    bad = bytearray(good)
    for i in range(len(bad) // 2, len(bad) // 2 + 64):
        bad[i] ^= 0xFF
    open(f, "wb").write(bad)
    r = subprocess.run([ZPSICTL, "--socket", d.sock, "wake", "pw"], capture_output=True, text=True, timeout=60)
    check(r.returncode != 0 and "waking from C6 failed" in r.stderr, "a damaged file fails the wake: %r" % (r,))
    check(pw.alive() and d.guests()["pw"]["power_state"] == "C6", "the VM stays in C6 after a failed wake")
    open(f, "wb").write(good)

    g = d.ctl("wake", "pw")["guest"]
    check(g["power_state"] == "C0", "woken: %s" % g)
    check(not os.path.exists(f), "the C6 file is gone after the wake")
    wait_until(lambda: pw.ops() > ops_paused, 30, "pw to make progress again after the wake")

    # the VMM's own C6 (SIGPWR: into its own state file): zpsictl wakes it
    ops_before = pw.ops()
    pw.proc.send_signal(signal.SIGPWR)
    wait_until(lambda: d.guests()["pw"]["power_state"] == "C6", 30, "the VMM's own C6 to be reported")
    g = d.ctl("wake", "pw")["guest"]
    check(g["power_state"] == "C0", "zpsictl wakes a VMM-local C6: %s" % g)
    wait_until(lambda: pw.ops() > ops_before, 30, "pw to make progress after the local C6")
    check(d.guests()["pw"]["committed"] >= committed_before, "counters kept through C6")
    if use_cg:
        check(open(cg + "/cpu.cfs_quota_us").read().strip() == "100000", "the tier's quota is back")
    print("ok: C3, C6 (RSS %d -> %d KiB, state file %d bytes), wake" % (rss_running, rss_c6, state_bytes))

    # --- the guest steps itself down; zpsid carries out its C6 ----------
    idler = RealVmm(d, "idler", "--payload", "workload", "--profile", "idle:0.5", "--param", "200",
                    "--mem", "16")
    vms.append(idler)
    idler.wait_line("idle: woke from C1 (alarm)")
    idler.wait_line("idle: woke from C3 (alarm)")
    idler.wait_line("idle: entering C6")
    wait_until(lambda: (d.guests().get("idler") or {}).get("power_state") == "C6", 30,
               "zpsid to hibernate the guest that asked for C6")
    check(os.path.exists(os.path.join(snap, "idler.c6")), "the idle guest's state is in zpsid's directory")
    check(not [l for l in idler.lines() if l.startswith("idle: woke from C6")],
          "a guest in zpsid's C6 is not woken by its own alarm")
    d.ctl("wake", "idler")
    idler.wait_line("idle: woke from C6 (host)")
    check(idler.proc.wait(timeout=30) == 0, "the idle guest finished after the wake")
    print("ok: guest-driven C1, C3, C6 via zpsid, host wake")

    # --- balloon: a memory target the guest honours ---------------------
    bal = RealVmm(d, "bal", "--payload", "workload", "--report", "region", "--profile", "step:0,50,1.5",
                  "--param", "500", "--param", "24", "--mem", "32", "--ops", "1000000000")
    vms.append(bal)
    bal.wait_line("workload: touched")
    bal.wait_line("progress ", 2)
    rss_full = bal.rss_kib()
    bal.wait_line("balloon released=")
    line = [l for l in bal.lines() if l.startswith("balloon released=")][0]
    check(line.endswith("result=0"), "HC_PSI_BALLOON accepted: " + line)
    g = wait_until(lambda: (lambda x: x if x and x["balloon_bytes"] == 16 * MiB else None)(d.guests().get("bal")),
                   10, "the VMM to report 16 MiB given back")
    check(g["memory_target_bytes"] == 16 * MiB and g["tier"] == 2, "target = 50 %% of 32 MiB: %s" % g)
    rss_after = bal.rss_kib()
    check(rss_after <= rss_full - 8 * 1024, "RSS %d -> %d KiB: the balloon gave memory back" % (rss_full, rss_after))
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % d.status()["metrics_port"], timeout=5) as r:
        body = r.read().decode()
    check('zpsid_guest_balloon_bytes{guest="bal"} %d' % (16 * MiB) in body, "balloon in /metrics")
    rss_metric = [l for l in body.splitlines() if l.startswith('zpsid_guest_vmm_resident_bytes{guest="bal"} ')]
    check(len(rss_metric) == 1 and int(rss_metric[0].split()[1]) > 0, "VMM RSS in /metrics: %s" % rss_metric)
    print("ok: balloon, RSS %d -> %d KiB" % (rss_full, rss_after))
    for vm in vms:
        vm.stop()
    d.stop()
finally:
    d.stop()
    for vm in vms:
        if vm.alive():
            vm.kill9()
    if use_cg:
        remove_cgroup_tree(V1, parent, ["cpu", "memory"])
