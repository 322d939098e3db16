# SPDX-License-Identifier: MIT
"""Helpers for zpsid's tests: start zpsid and simulated VMMs (zpsi-test-vmm),
wait for conditions by polling (never a fixed sleep), ask zpsictl."""
import array
import atexit
import fcntl
import json
import mmap
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("ZPSI_BUILD", "build")
ZPSID = os.path.join(BUILD, "daemon", "zpsid")
ZPSICTL = os.path.join(BUILD, "daemon", "zpsictl")
TESTVMM = os.path.join(BUILD, "tests", "daemon", "zpsi-test-vmm")


_procs = []


@atexit.register
def _cleanup():
    """A failing test must not leave zpsid or VMMs behind."""
    for p in _procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def skip(reason):
    print("SKIP: " + reason)
    sys.exit(77)


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)  # atexit kills what the test started


def check(cond, msg):
    if not cond:
        fail(msg)


def wait_until(cond, timeout=20.0, what="condition"):
    """Poll cond() every 20 ms until it returns a true value; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            fail("timed out waiting for " + what)
        time.sleep(0.02)


class Zpsid:
    def __init__(self, tmp, *args, config=None, wrapper=()):
        self.tmp = tmp
        self.wrapper = list(wrapper)	# e.g. setpriv: run zpsid with fewer privileges
        self.sock = os.path.join(tmp, "zpsid.sock")
        self.state = os.path.join(tmp, "state")
        self.log = os.path.join(tmp, "zpsid.log")
        self.args = list(args)
        self.config = config
        self.proc = None
        self.notify_path = os.path.join(tmp, "notify")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)

    def start(self, wait_ready=True):
        cmd = self.wrapper + [ZPSID, "-s", self.sock, "-d", self.state, "-m", "off",
               "-o", "cgroup_mode=none", "-o", "log_level=debug"] + self.args
        if self.config:
            cmd += ["-c", self.config]
        env = dict(os.environ, NOTIFY_SOCKET=self.notify_path)
        self.logf = open(self.log, "a")
        self.proc = subprocess.Popen(cmd, stderr=self.logf, env=env)
        _procs.append(self.proc)
        if wait_ready:
            self.wait_notify("READY=1")
        return self

    def wait_notify(self, what, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.notify.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                msg = self.notify.recv(4096).decode()
            except socket.timeout:
                break
            if what in msg.split("\n"):
                return msg
            if self.proc and self.proc.poll() is not None:
                break
        fail("zpsid never said %s; log:\n%s" % (what, open(self.log).read()))

    def ctl(self, *args, ok=True):
        r = subprocess.run([ZPSICTL, "--socket", self.sock, "--json"] + list(args),
                           capture_output=True, text=True, timeout=30)
        if ok and r.returncode != 0:
            fail("zpsictl %s: %s%s" % (" ".join(args), r.stdout, r.stderr))
        try:
            return json.loads(r.stdout) if r.stdout.strip() else None
        except ValueError:
            fail("zpsictl printed no JSON: " + r.stdout)

    def status(self):
        return self.ctl("status")

    def guests(self):
        return {g["name"]: g for g in self.status()["guests"]}

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            return self.proc.wait(timeout=20)
        return self.proc.returncode if self.proc else None

    def fd_count(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def raw_conn(self):
        """A control connection of our own, to speak the protocol by hand."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.connect(self.sock)
        s.settimeout(10)
        return s


def ask(s, raw, fds=()):
    """Send one packet (with fds) and return the decoded answer, None on EOF."""
    if fds:
        s.sendmsg([raw], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
    else:
        s.send(raw)
    data = s.recv(70000)
    return json.loads(data) if data else None


def memfd_region(magic=True, sealed=True):
    """A region page as a VMM would pass it (or a flawed one)."""
    fd = os.memfd_create("test-region", os.MFD_ALLOW_SEALING)
    os.ftruncate(fd, 4096)
    if magic:
        m = mmap.mmap(fd, 4096)
        m[0:8] = b"ZIMEPSI\0"
        m.close()
    if sealed:
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW)
    return fd


def hello_packet(name, pid=None, token=None, cgroup=None):
    h = {"type": "hello", "seq": 1, "proto": 1, "name": name, "pid": pid or os.getpid(),
         "weight": 1, "vcpus": 1, "memory_bytes": 1 << 20}
    if token:
        h["resume_token"] = token
    if cgroup:
        h["cgroup"] = cgroup
    return json.dumps(h).encode()


class TestVmm:
    """A simulated VMM (zpsi-test-vmm): real region memfd, real socket."""

    def __init__(self, zpsid, name, *args):
        self.name = name
        self.out = os.path.join(zpsid.tmp, "vmm-%s.out" % name)
        self.proc = subprocess.Popen([TESTVMM, "--socket", zpsid.sock, "--name", name] + list(args),
                                     stdout=open(self.out, "w"), stderr=subprocess.STDOUT)
        _procs.append(self.proc)

    def lines(self):
        return open(self.out).read().splitlines()

    def wait_line(self, prefix, count=1, timeout=20.0):
        return wait_until(lambda: len([l for l in self.lines() if l.startswith(prefix)]) >= count,
                          timeout, "%s to print %s" % (self.name, prefix))

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


def tmpdir():
    return tempfile.mkdtemp(prefix="zpsid-test-")


def expected_aggregate_bp(guests):
    """sum(w*bp)/sum(w), rounded half up, exactly as the registry does."""
    sw = sum(g["weight"] for g in guests)
    swb = sum(g["weight"] * g["psi_bp"] for g in guests)
    return 0 if sw == 0 else (2 * swb + sw) // (2 * sw)


VMM = os.path.join(BUILD, "vmm", "zpsi-vmm")


def require_kvm():
    if not os.path.exists("/dev/kvm"):
        skip("no /dev/kvm: the real micro-VMs cannot run")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        skip("/dev/kvm is not usable by this user")


class RealVmm:
    """A real micro-VM: zpsi-vmm --daemon, its guest's console captured."""

    def __init__(self, zpsid, name, *args, timeout=180):
        self.name = name
        self.out = os.path.join(zpsid.tmp, "vm-%s.out" % name)
        # Under ASan, freed blocks wait in a quarantine and stay resident; the tests
        # that measure RSS (C6, balloon) need frees to reach the kernel as in a release build.
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "quarantine_size_mb=0"]))
        self.proc = subprocess.Popen([VMM, "--name", name, "--daemon", zpsid.sock,
                                      "--timeout", str(timeout)] + list(args), env=env,
                                     stdout=open(self.out, "w"), stderr=subprocess.STDOUT)
        _procs.append(self.proc)

    def lines(self):
        return open(self.out, errors="replace").read().splitlines()

    def progress(self):
        """The last 'progress' line of the workload payload as a dict."""
        for line in reversed(self.lines()):
            if line.startswith("progress "):
                return dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
        return None

    def ops(self):
        p = self.progress()
        return int(p["ops"]) if p else 0

    def wait_line(self, prefix, count=1, timeout=30.0):
        return wait_until(lambda: len([l for l in self.lines() if l.startswith(prefix)]) >= count,
                          timeout, "%s to print %s" % (self.name, prefix))

    def alive(self):
        return self.proc.poll() is None

    def vcpu_tids(self):
        """Threads of the VMM named like vCPUs are not distinguishable by
        name; zpsid's cgroup lists them.  Here: every thread."""
        return [int(t) for t in os.listdir("/proc/%d/task" % self.proc.pid)]

    def rss_kib(self):
        for line in open("/proc/%d/status" % self.proc.pid):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=20)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=20)


def spec_alloc(bp, vcpus, mem_bytes, period_us=100000):
    """SPEC component 5, the seed's table: (tier, share_bp, quota_us, memory target)."""
    tier, share = (0, 10000) if bp < 1000 else (1, 8000) if bp <= 3000 else (2, 5000)
    return tier, share, vcpus * period_us * share // 10000, mem_bytes * share // 10000 // 4096 * 4096


def cgroup_v1_usable():
    return (os.geteuid() == 0 and os.path.exists("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
            and os.path.exists("/sys/fs/cgroup/memory/memory.soft_limit_in_bytes"))


def remove_cgroup_tree(root, parent, hierarchies):
    for h in hierarchies:
        base = os.path.join(root, h, parent)
        if os.path.isdir(base):
            for sub in os.listdir(base):
                if os.path.isdir(os.path.join(base, sub)):
                    os.rmdir(os.path.join(base, sub))
            os.rmdir(base)
