#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Real enforcement through zpsid.  cgroup v1 (/sys/fs/cgroup/cpu, /memory):
zpsid creates the VM's cgroup under a test parent, moves the simulated VMM's
"vCPU" thread (a real CPU-burning thread) into it, writes quota = vcpus x
period x share and the memory soft limit; the thread is really throttled
(cpu.stat nr_throttled grows, its CPU time per wall second stays near the
share); C3 drops the quota to the kernel's minimum; the cgroup goes away with
the VM.  cgroup v2 at /sys/fs/cgroup/unified (no controllers on this host):
the cgroup is created and the process really moved, and zpsid reports that
cpu.max/memory.high cannot be enforced there."""
import json
import os
import time

from zpsidtest import Zpsid, TestVmm, tmpdir, wait_until, check, skip, ask, hello_packet, memfd_region

V1 = "/sys/fs/cgroup"
if os.geteuid() != 0:
    skip("needs root to write cgroups")
if not os.path.exists(V1 + "/cpu/cpu.cfs_quota_us") or not os.path.exists(V1 + "/memory/memory.soft_limit_in_bytes"):
    skip("no cgroup v1 cpu and memory hierarchies at " + V1)

parent = "zpsi-test-%d" % os.getpid()
tmp = tmpdir()


def read(path):
    return open(path).read().strip()


def thread_cpu_ns(pid, tid):
    return int(open("/proc/%d/task/%d/schedstat" % (pid, tid)).read().split()[0])


def cleanup_parent(root):
    from zpsidtest import _procs
    for p in _procs:  # whatever a failed test left running
        if p.poll() is None:
            p.kill()
            p.wait()
    for h in (["cpu", "memory"] if root == V1 else [""]):
        base = os.path.join(root, h, parent)
        if os.path.isdir(base):
            for sub in os.listdir(base):
                if os.path.isdir(os.path.join(base, sub)):
                    os.rmdir(os.path.join(base, sub))
            os.rmdir(base)


d = Zpsid(tmp, "-o", "cgroup_mode=v1", "-o", "cgroup_root=" + V1, "-p", "/" + parent).start()
try:
    vm = TestVmm(d, "burn", "--burn", "1", "--psi", "5000", "--vcpus", "1", "--memory", str(256 << 20),
                 "--features", "c3")
    g = wait_until(lambda: (lambda x: x if x and x["psi_bp"] == 5000 and x["enforced"] else None)
                   (d.guests().get("burn")), what="burn at 50 % and enforced")
    cg_cpu = os.path.join(V1, "cpu", parent, "burn")
    cg_mem = os.path.join(V1, "memory", parent, "burn")
    check(g["cgroup"] == "/%s/burn" % parent, "cgroup path %s" % g["cgroup"])
    check(read(cg_cpu + "/cpu.cfs_period_us") == "100000", "period written")
    check(read(cg_cpu + "/cpu.cfs_quota_us") == "50000", "quota = 1 vCPU x 100 ms x 50 %")
    soft = int(read(cg_mem + "/memory.soft_limit_in_bytes"))
    check(soft == g["memory_target_bytes"] and abs(soft - (128 << 20)) <= 4096 * 16,
          "soft limit %d = the target, 50 %% of 256 MiB" % soft)
    check(read(cg_mem + "/memory.limit_in_bytes") == read(os.path.join(V1, "memory", parent, "memory.limit_in_bytes")),
          "no hard memory limit set")
    tids = [int(t) for t in read(cg_cpu + "/tasks").split()]
    check(len(tids) == 1 and tids[0] != vm.proc.pid, "only the vCPU thread is in the cpu cgroup: %s" % tids)
    check(str(vm.proc.pid) in read(cg_mem + "/cgroup.procs").split(), "the process is in the memory cgroup")

    def throttled():
        return int(dict(l.split() for l in open(cg_cpu + "/cpu.stat"))["nr_throttled"])
    n0 = throttled()
    wait_until(lambda: throttled() >= n0 + 5, what="the kernel to throttle the vCPU thread")
    c0, t0 = thread_cpu_ns(vm.proc.pid, tids[0]), time.monotonic_ns()
    wait_until(lambda: time.monotonic_ns() - t0 >= 1_000_000_000, what="a one-second window")
    ratio = (thread_cpu_ns(vm.proc.pid, tids[0]) - c0) / (time.monotonic_ns() - t0)
    # the quota is an upper bound the kernel enforces per 100 ms period
    check(ratio <= 0.6, "a 50 %% quota let the thread use %.2f of a CPU" % ratio)

    # A VMM may bring its own cgroup only if it runs in it and no other guest
    # holds it: otherwise one VMM could have zpsid throttle another VM.
    def hello_from(name, cgroup, join=None):
        """A child process (optionally moved into JOIN first) says hello."""
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                if join:
                    for h in ("cpu", "memory"):
                        with open(os.path.join(V1, h, parent, join, "cgroup.procs"), "w") as f:
                            f.write(str(os.getpid()))
                rep = ask(d.raw_conn(), hello_packet(name, cgroup=cgroup), [memfd_region()])
                os.write(w, json.dumps(rep).encode())
            finally:
                os._exit(0)
        os.close(w)
        rep = json.loads(os.read(r, 65536))
        os.close(r)
        os.waitpid(pid, 0)
        return rep
    for h in ("cpu", "memory"):
        os.mkdir(os.path.join(V1, h, parent, "own"))
    rep = hello_from("thief", "/%s/burn" % parent)
    check(rep["error"] == "EPERM" and "does not run in" in rep["message"], "another VM's cgroup: %r" % rep)
    rep = hello_from("thief", "/%s/burn" % parent, join="burn")
    check(rep["error"] == "EPERM" and "overlaps burn's" in rep["message"], "a held cgroup: %r" % rep)
    rep = hello_from("thief", "/" + parent)
    check(rep["error"] == "EPERM" and "is not under" in rep["message"], "the parent itself: %r" % rep)
    rep = hello_from("owner", "/%s/own" % parent, join="own")
    check(rep["type"] == "welcome", "its own cgroup is accepted: %r" % rep)
    wait_until(lambda: "owner" not in d.guests(), what="the exited owner to be removed")
    check(read(cg_cpu + "/cpu.cfs_quota_us") == "50000", "burn's quota untouched")

    d.ctl("set", "burn", "power", "C3")
    check(read(cg_cpu + "/cpu.cfs_quota_us") == "1000", "C3 releases the CPU allocation")
    d.ctl("wake", "burn")
    check(read(cg_cpu + "/cpu.cfs_quota_us") == "50000", "wake restores the tier's quota")
    vm.stop()
    wait_until(lambda: not os.path.exists(cg_cpu) and not os.path.exists(cg_mem),
               what="the VM's cgroups to be removed with it")
    d.stop()
finally:
    d.stop()
    cleanup_parent(V1)
print("ok: v1 quota 50 %%, thread used %.2f of a CPU" % ratio)

# cgroup v2: what this host allows
V2 = "/sys/fs/cgroup/unified"
if not os.path.exists(V2 + "/cgroup.procs"):
    print("SKIP part: no cgroup2 mount at " + V2)
    raise SystemExit(0)
tmp2 = tmpdir()
d = Zpsid(tmp2, "-o", "cgroup_mode=v2", "-o", "cgroup_root=" + V2, "-p", "/" + parent).start()
try:
    vm = TestVmm(d, "v2vm", "--psi", "2000")
    g = wait_until(lambda: (lambda x: x if x and x["psi_bp"] == 2000 else None)(d.guests().get("v2vm")),
                   what="v2vm sampled")
    cg = os.path.join(V2, parent, "v2vm")
    check(str(vm.proc.pid) in read(cg + "/cgroup.procs").split(), "v2: the VMM moved into its cgroup")
    controllers = read(V2 + "/cgroup.controllers").split()
    info = d.ctl("guest", "v2vm")["guest"]
    if "cpu" not in controllers:
        check(not info["enforced"] and info["enforce_error"] == "EOPNOTSUPP",
              "v2 without the cpu controller is reported, not faked: %s" % info)
        print("note: cgroup2 here has no cpu/memory controllers (%s): cpu.max and memory.high "
              "are exercised against a simulated tree in test_cgroup" % (controllers or "none"))
    else:
        check(read(cg + "/cpu.max") == "80000 100000", "v2 cpu.max")
    vm.stop()
    wait_until(lambda: not os.path.exists(cg), what="v2 cgroup removed")
finally:
    d.stop()
    cleanup_parent(V2)
print("ok: v2")
