#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`make demo`: the seed's scenario, then the whole stack on real parts, each
result checked, ending with a results table in the seed's style and the
report demo-report/index.html.

1. the seed's scenario through libzpsi's dispatcher (10 guests, 10,000
   updates, the exact aggregate);
2. zpsid with a real Prometheus scraping it, ten zpsi-vmm micro-VMs on
   /dev/kvm reporting through the three transports (port-I/O doorbell
   hypercalls, MSRs, the shared region), their cgroups under a demo parent;
   a recorder samples zpsid's status for the report;
3. checks: registrations, updates per transport, the exact aggregate in
   every sample, each guest's tier and cgroup values against the seed's
   table, a guest's own C1 -> C3 -> C6 and a wake, a host C6 and wake with
   counters kept, the balloon, the Prometheus scrape;
4. one CPU-bound guest alone, at the 100 % and then the 50 % tier: its
   measured progress ratio;
5. a clean stop, the table, the report.

Exit status 0 only when every check held; a check that cannot run here (no
/dev/kvm, not root, no cgroup controller, no Prometheus) is a SKIP that says
why.  Usage: demo.py [BUILD] [--report DIR]"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zpsiutil import proc_status_kib  # noqa: E402
import demo_report  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("build", nargs="?", default="build")
ap.add_argument("--report", default="demo-report", help="where index.html goes (default demo-report)")
args = ap.parse_args()

build = args.build
ZPSID = os.path.join(build, "daemon", "zpsid")
ZPSICTL = os.path.join(build, "daemon", "zpsictl")
VMM = os.path.join(build, "vmm", "zpsi-vmm")
STRESS = os.path.join(build, "bench", "zpsi-stress")
CG = "/sys/fs/cgroup"
MEM_MIB = 32
PAGE = 4096
TTY = sys.stdout.isatty()

# name, profile, report path, weight, extra options.  ml-eval writes 24 MiB
# of its RAM (--param: idle alarm ms, MiB to touch) so that the balloon (a
# target in the region, so a region guest) has something to give back at its
# 50 % tier; batch-1 writes 12 MiB so its C6 frees something worth seeing;
# idle-1 asks for C1, C3, C6 by itself and ends once woken.
PLAN = [
    ("web-1", "const:3", "hypercall", 4, []),
    ("web-2", "const:8", "msr", 4, []),
    ("batch-1", "const:20", "region", 2, ["--param", "100", "--param", "12"]),
    ("batch-2", "const:25", "hypercall", 2, []),
    ("ml-train", "const:45", "msr", 8, []),
    ("ml-eval", "const:70", "region", 1, ["--param", "100", "--param", "24"]),
    ("spiky", "step:5,60,4", "hypercall", 3, []),
    ("warming", "ramp:0,60,8", "msr", 3, []),
    ("idle-1", "idle:1", "region", 1, ["--param", "400"]),
    ("cache", "const:0", "hypercall", 6, []),
]
TRANSPORTS = [("hypercall", "port-I/O doorbell hypercalls"), ("msr", "PSI MSRs (WRMSR)"),
              ("region", "shared region (seqlock)")]
# SPEC section 5, the seed's table
TIERS = [(999, 0, 10000), (3000, 1, 8000), (10000, 2, 5000)]

rows = []		# (check, expected, measured, PASS|FAIL|SKIP)
facts = []		# (what, value) for the report's head


def say(text=""):
    print(text, flush=True)


def title(text):
    say()
    say("== " + text)


def row(check, expected, measured, ok):
    status = ok if isinstance(ok, str) else ("PASS" if ok else "FAIL")
    rows.append((check, expected, measured, status))
    say("  %-4s %s: %s" % (status, check, measured))


class Progress:
    """A waiting line for anything that takes more than a second: redrawn in
    place on a terminal, one line every two seconds in a log."""

    def __init__(self, what):
        self.what, self.t0, self.shown, self.last = what, time.monotonic(), False, 0.0

    def update(self, detail=""):
        now = time.monotonic()
        if now - self.t0 < 1.0 or (not TTY and now - self.last < 2.0):
            return
        self.last, self.shown = now, True
        text = "  ... %s %s(%.0f s)" % (self.what, detail + " " if detail else "", now - self.t0)
        if TTY:
            sys.stdout.write("\r\033[K" + text)
            sys.stdout.flush()
        else:
            say(text)

    def end(self):
        if self.shown and TTY:
            sys.stdout.write("\r\033[K")
            sys.stdout.flush()


def wait_for(cond, timeout, what, detail=None):
    """cond()'s first true value within `timeout` seconds, else None; shows
    progress while it waits (polling, not sleeping a fixed time)."""
    p = Progress(what)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            v = cond()
            if v:
                return v
            p.update(detail() if detail else "")
            time.sleep(0.02)
        return None
    finally:
        p.end()


def tier_of(bp):
    for top, tier, share in TIERS:
        if bp <= top:
            return tier, share
    return TIERS[-1][1], TIERS[-1][2]


def exact_aggregate(guests):
    """zpsid's rule (docs/abi.md): sum(w*bp)/sum(w) rounded half up."""
    sw = sum(g["weight"] for g in guests)
    swbp = sum(g["weight"] * g["psi_bp"] for g in guests)
    return ((2 * swbp + sw) // (2 * sw) if sw else 0), swbp, sw


# ---------------------------------------------------------------- seed
def seed_scenario():
    title("1. the seed's scenario through libzpsi's dispatcher (in process)")
    r = subprocess.run([STRESS, "--seed"], capture_output=True, text=True, timeout=120)
    for line in r.stdout.rstrip("\n").split("\n"):
        say("  " + line)
    j = json.loads(subprocess.run([STRESS, "--seed", "--json"], capture_output=True, text=True,
                                  timeout=120).stdout)["seed"]
    row("seed: registrations", "10 of 10", "%d of %d" % (j["registrations_ok"], j["registrations_attempted"]),
        j["registrations_ok"] == j["registrations_attempted"] == 10)
    row("seed: updates", "10,000 accepted", "%d of %d accepted" % (j["updates_accepted"], j["updates_sent"]),
        j["updates_accepted"] == j["updates_sent"] == 10000)
    row("seed: throughput", "> 10,000 updates/s", "%.1f M updates/s (%.0fx the seed)"
        % (j["updates_per_sec"] / 1e6, j["ratio_vs_seed"]), j["updates_per_sec"] > 10000)
    row("seed: aggregate (HC_PSI_QUERY)", "%d/%d rounded = %d bp" % (j["exact_num"], j["exact_den"],
                                                                   j["exact_rounded_bp"]),
        "%d bp" % j["query_bp"], j["query_bp"] == j["exact_rounded_bp"])


# ---------------------------------------------------------------- the stack
class Stack:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="zpsi-demo-")
        self.sock = os.path.join(self.tmp, "zpsid.sock")
        self.state = os.path.join(self.tmp, "state")
        self.parent = "zpsi-demo-%d" % os.getpid()
        self.procs = {}
        self.outputs = {}
        self.mode = None
        self.prom = None
        self.timeline = []
        self.t0 = None
        self._stop_rec = threading.Event()
        self._rec = None

    # -- zpsictl
    def ctl(self, *a, json_out=True, timeout=30):
        cmd = [ZPSICTL, "--socket", self.sock] + (["--json"] if json_out else []) + list(a)
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        if r.returncode != 0:
            return None
        return json.loads(r.stdout) if json_out else r.stdout

    def status(self):
        s = self.ctl("status")
        if s is None:
            return None
        s["by_name"] = {g["name"]: g for g in s["guests"]}
        return s

    def guest(self, name):
        g = self.ctl("guest", name)
        return g["guest"] if g else None

    # -- cgroups
    def cgroup_args(self):
        """v1 cpu+memory hierarchies if writable, else a cgroup2 tree with
        the cpu controller, else none (the checks say which)."""
        if os.geteuid() != 0:
            return None, ["-o", "cgroup_mode=none"], "not root: cgroups are not written"
        if os.access(os.path.join(CG, "cpu", "cpu.cfs_quota_us"), os.R_OK) \
                and os.path.isdir(os.path.join(CG, "memory")):
            return "v1", ["-o", "cgroup_mode=v1", "-o", "cgroup_root=" + CG, "-p", "/" + self.parent], None
        try:
            ctrls = open(os.path.join(CG, "cgroup.controllers")).read().split()
        except OSError:
            ctrls = []
        if "cpu" in ctrls:
            return "v2", ["-o", "cgroup_mode=v2", "-o", "cgroup_root=" + CG, "-p", "/" + self.parent], None
        return None, ["-o", "cgroup_mode=none"], "no writable cgroup v1 cpu+memory, nor v2 with the cpu controller"

    def cgroup_values(self, name):
        """(cpu quota us, memory bytes) as zpsid wrote them into the files."""
        if self.mode == "v1":
            q = open(os.path.join(CG, "cpu", self.parent, name, "cpu.cfs_quota_us")).read().strip()
            m = open(os.path.join(CG, "memory", self.parent, name, "memory.soft_limit_in_bytes")).read().strip()
            return int(q), int(m)
        d = os.path.join(CG, self.parent, name)
        q = open(os.path.join(d, "cpu.max")).read().split()[0]
        m = open(os.path.join(d, "memory.high")).read().strip() if os.path.exists(d + "/memory.high") else "max"
        return (-1 if q == "max" else int(q)), (-1 if m == "max" else int(m))

    def remove_cgroups(self):
        dirs = [os.path.join(CG, h, self.parent) for h in ("cpu", "memory")] if self.mode == "v1" \
            else [os.path.join(CG, self.parent)] if self.mode == "v2" else []
        for base in dirs:
            if os.path.isdir(base):
                for sub in os.listdir(base):
                    if os.path.isdir(os.path.join(base, sub)):
                        try:
                            os.rmdir(os.path.join(base, sub))
                        except OSError:
                            pass
                try:
                    os.rmdir(base)
                except OSError:
                    pass

    # -- processes
    def start_zpsid(self, port):
        self.mode, cg_args, why = self.cgroup_args()
        self.cg_why = why
        self.procs["zpsid"] = subprocess.Popen(
            [ZPSID, "-s", self.sock, "-d", self.state, "-m", "127.0.0.1:%d" % port,
             "-o", "sample_hz=20", "-o", "log_level=notice"] + cg_args,
            stderr=open(os.path.join(self.tmp, "zpsid.log"), "w"))
        s = wait_for(self.status, 20, "zpsid to answer")
        if not s:
            raise SystemExit("demo: zpsid did not answer; its log: %s/zpsid.log" % self.tmp)
        self.t0 = time.monotonic() - s["uptime_seconds"]

    def start_vmm(self, name, *opts, outfile=None):
        f = open(outfile or os.path.join(self.tmp, name + ".out"), "w")
        self.outputs[name] = f.name
        self.procs[name] = subprocess.Popen([VMM, "--name", name, "--daemon", self.sock, "--stats"] + list(opts),
                                            stdout=f, stderr=subprocess.STDOUT)

    def output(self, name):
        try:
            return open(self.outputs[name]).read()
        except OSError:
            return ""

    def stop(self, name, timeout=20):
        p = self.procs.get(name)
        if p is None or p.poll() is not None:
            return p.returncode if p else None
        p.send_signal(signal.SIGTERM)
        try:
            return p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            return p.wait()

    def stop_all(self):
        self.recorder_stop()
        for name in list(self.procs):
            if name not in ("zpsid", "prometheus"):
                self.stop(name)
        for name in ("prometheus", "zpsid"):
            self.stop(name)

    # -- the recorder: zpsid's status, sampled for the report
    def recorder_start(self):
        def run():
            while not self._stop_rec.is_set():
                s = self.ctl("status", timeout=5)
                if s:
                    self.timeline.append((time.monotonic() - self.t0,
                                          {"aggregate_bp": s["aggregate_bp"],
                                           "guests": {g["name"]: g for g in s["guests"]}}))
                self._stop_rec.wait(0.2)
        self._rec = threading.Thread(target=run, daemon=True)
        self._rec.start()

    def recorder_stop(self):
        self._stop_rec.set()
        if self._rec:
            self._rec.join(10)
            self._rec = None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(url, timeout=5):
    try:
        return json.loads(urllib.request.urlopen(url, timeout=timeout).read().decode())
    except (OSError, ValueError):
        return None


def start_prometheus(st, target_port):
    """A real Prometheus server scraping zpsid every second."""
    exe = shutil.which("prometheus")
    if not exe:
        return None, "prometheus is not installed (scripts/deps.sh demo installs it)"
    port = free_port()
    d = os.path.join(st.tmp, "prometheus")
    os.makedirs(d)
    with open(os.path.join(d, "prometheus.yml"), "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                "scrape_configs:\n  - job_name: zpsid\n    static_configs:\n"
                "      - targets: ['127.0.0.1:%d']\n" % target_port)
    st.procs["prometheus"] = subprocess.Popen(
        [exe, "--config.file=" + os.path.join(d, "prometheus.yml"), "--storage.tsdb.path=" + os.path.join(d, "data"),
         "--web.listen-address=127.0.0.1:%d" % port, "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "log"), "w"))
    return "http://127.0.0.1:%d" % port, None


def prom_query(base, q):
    j = http_json(base + "/api/v1/query?" + urllib.parse.urlencode({"query": q}))
    if not j or j.get("status") != "success":
        return None
    return j["data"]["result"]


def vmm_stats(text):
    m = re.findall(r"zpsi-vmm: stats (.*)", text)
    return dict(kv.split("=", 1) for kv in m[-1].split()) if m else None


def check_fleet(st):
    title("2. zpsid, a real Prometheus, and ten micro-VMs on /dev/kvm")
    mport = free_port()
    st.start_zpsid(mport)
    prom, prom_why = start_prometheus(st, mport)
    say("  zpsid up: socket %s, metrics http://127.0.0.1:%d/metrics, cgroups: %s"
        % (st.sock, mport, ("%s under /%s" % (st.mode, st.parent)) if st.mode else "off (%s)" % st.cg_why))
    say("  prometheus: %s" % (prom + " scraping zpsid every 1 s" if prom else "not started: " + prom_why))
    for name, profile, report, weight, extra in PLAN:
        st.start_vmm(name, "--payload", "workload", "--profile", profile, "--report", report,
                     "--weight", str(weight), "--mem", str(MEM_MIB), "--ops", "1000000000", "--timeout", "300",
                     *extra)
        say("  zpsi-vmm --payload workload --name %-8s --profile %-12s --report %-9s --weight %d"
            % (name, profile, report, weight))
    st.recorder_start()

    def reporting():
        s = st.status()
        if s and len(s["guests"]) == len(PLAN) and all(g["committed"] + g["deferred"] > 0 for g in s["guests"]):
            return s
        return None
    s = wait_for(reporting, 90, "ten guests registering and reporting",
                 lambda: "%d/%d" % (len((st.status() or {"guests": []})["guests"]), len(PLAN)))
    ids = sorted(g["id"] for g in s["guests"]) if s else []
    row("registrations", "10 VMs registered, distinct ids >= 1, connected",
        "%d registered, ids %s, %d connected" % (len(ids), ids, s["connected"] if s else 0),
        bool(s) and len(set(ids)) == len(PLAN) and min(ids) >= 1 and s["connected"] == len(PLAN))
    if not s:
        return
    say()
    for line in (st.ctl("status", json_out=False) or "").rstrip("\n").split("\n"):
        say("  " + line)

    # the guest's own C1 -> C3 -> C6 (idle-1), while the others run
    def idle_in_c6():
        g = st.guest("idle-1")
        return g if g and g["power_state"] == "C6" and not g.get("pending") else None
    g = wait_for(idle_in_c6, 60, "idle-1 to step down C1 -> C3 -> C6 by itself")
    steps = [x["power_state"] for x in g["decisions"]] if g else []
    seen = [p for i, p in enumerate(steps) if i == 0 or steps[i - 1] != p]
    want = ["C1", "C3", "C6"]
    it = iter(seen)
    row("power: the guest's own C1 -> C3 -> C6", "C1, C3, C6 in order (HC_PSI_HIBERNATE)",
        "decisions: " + (" -> ".join(seen) or "none"), all(w in it for w in want))
    before = (g["committed"], g["deferred"]) if g else None
    w = st.ctl("wake", "idle-1")
    # its program says how it woke, then ends (status 0)
    woke = wait_for(lambda: "idle: woke from C6 (host)" in st.output("idle-1"), 20, "idle-1 to run again")
    got = (w["guest"]["committed"], w["guest"]["deferred"]) if w else None
    row("power: wake from the guest's C6", "C0, counters as saved, the guest runs on",
        "%s, committed/deferred %s -> %s, guest: %s" % (w["guest"]["power_state"] if w else "?", before, got,
                                                       "woke from C6 (host)" if woke else "no word"),
        bool(w and woke and w["guest"]["power_state"] == "C0" and got == before))

    # steady guests: tiers, cgroups, the balloon (sample once the ramps are done)
    wait_for(lambda: st.timeline and st.timeline[-1][0] > 9.5, 30, "the step and ramp profiles to settle")
    s = st.status()
    bad = []
    for g in s["guests"]:
        tier, share = tier_of(g["psi_bp"])
        if (g["tier"], round(g["share"] * 10000)) != (tier, share):
            bad.append("%s: %d bp -> tier %d share %.0f %% (table: %d, %d %%)"
                       % (g["name"], g["psi_bp"], g["tier"], g["share"] * 100, tier, share / 100))
    row("tiers: every guest against the seed's table", "< 10 % -> 100, 10-30 % -> 80, > 30 % -> 50",
        "; ".join(bad) if bad else
        ", ".join("%s %.0f%%->%d%%" % (g["name"], g["psi_bp"] / 100, round(g["share"] * 100))
                  for g in s["guests"] if g["name"] in ("cache", "batch-1", "ml-train"))
        + " (all %d match)" % len(s["guests"]), not bad)
    if st.mode:
        bad = []
        for g in s["guests"]:
            if g["power_state"] != "C0":
                continue
            quota, mem = st.cgroup_values(g["name"])
            _, share = tier_of(g["psi_bp"])
            want_q = g["cpu_period_us"] * g["vcpus"] * share // 10000
            want_m = (g["memory_bytes"] * share // 10000) & ~(PAGE - 1)
            if (quota, mem) != (want_q, want_m):
                bad.append("%s: %s/%s want %d/%d" % (g["name"], quota, mem, want_q, want_m))
        files = "cpu.cfs_quota_us, memory.soft_limit_in_bytes" if st.mode == "v1" else "cpu.max, memory.high"
        row("cgroups (%s): the files zpsid wrote" % st.mode, "quota = share x vCPUs x period; memory = share x RAM",
            "; ".join(bad) or "%s of all 10 VMs match their tier" % files, not bad)
    else:
        row("cgroups: the files zpsid wrote", "quota and memory per tier", "skipped: " + st.cg_why, "SKIP")

    g = st.guest("ml-eval")
    rss = proc_status_kib(st.procs["ml-eval"].pid)["VmRSS"] * 1024
    # 24 MiB written, a 16 MiB target at the 50 % tier: at least 6 MiB back
    row("balloon: ml-eval at the 50 % tier", "target 16 MiB; >= 6 MiB given back, RSS under 24 MiB",
        "target %.1f MiB, %.1f MiB given back, VMM RSS %.1f MiB" % (g["memory_target_bytes"] / 2**20,
                                                                    g["balloon_bytes"] / 2**20, rss / 2**20),
        g["memory_target_bytes"] == 16 << 20 and g["balloon_bytes"] >= 6 << 20 and rss < 24 << 20)

    # the host's C6 and wake (batch-1)
    pid = st.procs["batch-1"].pid
    before_rss = proc_status_kib(pid)["VmRSS"]
    c6 = st.ctl("set", "batch-1", "power", "C6")
    f = os.path.join(st.state, "snapshots", "batch-1.c6")
    low = wait_for(lambda: (lambda r: r if r < before_rss / 2 else None)(proc_status_kib(pid)["VmRSS"]), 20,
                   "batch-1's memory to be freed")
    size = os.path.getsize(f) if os.path.exists(f) else 0
    # held in C6 until the recorder has seen it twice, so the report shows it
    n0 = len(st.timeline)
    wait_for(lambda: sum(1 for _, x in st.timeline[n0:] if x["guests"].get("batch-1", {}).get("power_state")
                         == "C6") >= 2, 10, "batch-1 resting in C6")
    # the counters as zpsid sampled them in C6: the guest is stopped, so its
    # region no longer moves (read earlier, a last update may not be sampled)
    held = st.guest("batch-1")
    w = st.ctl("wake", "batch-1")
    row("power: host C6 and wake (batch-1)", "state file written, RSS freed, C0 with counters kept",
        "%s, file %.1f MiB, RSS %.1f -> %.1f MiB, woken %s, counters %s -> %s"
        % (c6["guest"]["power_state"] if c6 else "?", size / 2**20, before_rss / 1024, (low or 0) / 1024,
           w["guest"]["power_state"] if w else "?", (held["committed"], held["deferred"]) if held else None,
           (w["guest"]["committed"], w["guest"]["deferred"]) if w else None),
        bool(c6 and low and size > 0 and w and w["guest"]["power_state"] == "C0" and held
             and (w["guest"]["committed"], w["guest"]["deferred"]) == (held["committed"], held["deferred"])))

    # the aggregate: exact in every sample the recorder took
    n = bad = 0
    for _, snap in st.timeline:
        if snap["guests"]:
            n += 1
            bad += exact_aggregate(list(snap["guests"].values()))[0] != snap["aggregate_bp"]
    agg, num, den = exact_aggregate(s["guests"])
    row("aggregate: exact weighted average", "sum(w*bp)/sum(w) rounded, in every sample",
        "%d/%d samples exact (e.g. %d/%d -> %d bp = zpsid's %d)" % (n - bad, n, num, den, agg, s["aggregate_bp"]),
        n > 10 and bad == 0 and agg == s["aggregate_bp"])

    # Prometheus: the real server's view must be zpsid's
    if prom:
        def scraped():
            r = prom_query(prom, 'up{job="zpsid"}')
            g = prom_query(prom, "zpsid_guest_psi_ratio")
            return (r, g) if r and r[0]["value"][1] == "1" and g and len(g) == len(s["guests"]) else None
        got = wait_for(scraped, 30, "Prometheus to scrape zpsid")
        if got:
            weights = {g["name"]: g["weight"] for g in s["guests"]}
            # one scrape's series, so the aggregate and the guests agree
            res = prom_query(prom, "zpsid_aggregate_psi_ratio")
            gs = prom_query(prom, "zpsid_guest_psi_ratio")
            want = sum(weights[x["metric"]["guest"]] * float(x["value"][1]) for x in gs) / sum(weights.values())
            have = float(res[0]["value"][1])
            row("Prometheus: a real server scraped /metrics", "up=1, every guest, aggregate = sum(w*psi)/sum(w)",
                "up=1, %d guest series, aggregate %.4f vs %.4f from its guest series" % (len(gs), have, want),
                abs(have - want) <= 0.00015)
        else:
            row("Prometheus: a real server scraped /metrics", "up=1, every guest", "no scrape within 30 s", False)
    else:
        row("Prometheus: a real server scraped /metrics", "up=1, 10 guests", "skipped: " + prom_why, "SKIP")

    title("zpsictl status at the end of the fleet run")
    for line in (st.ctl("status", json_out=False) or "").rstrip("\n").split("\n"):
        say("  " + line)

    # stop the fleet: each VMM says bye and prints its trap counts
    final = st.status()
    codes = {}
    p = Progress("stopping the ten VMMs")
    for name, *_ in PLAN:
        codes[name] = st.stop(name)
        p.update()
    p.end()
    for key, what in TRANSPORTS:
        names = [n for n, _, r, _, _ in PLAN if r == key]
        # the most zpsid counted for each (idle-1 ends once woken)
        upd = sum(max([snap["guests"][n]["updates_total"] for _, snap in st.timeline if n in snap["guests"]]
                      + [final["by_name"][n]["updates_total"] if final and n in final["by_name"] else 0])
                  for n in names)
        stats = {n: vmm_stats(st.output(n)) or {} for n in names}
        if key == "hypercall":
            traps = sum(int(x.get("hypercalls", 0)) for x in stats.values())
            other = sum(int(x.get("msr_writes", 0)) for x in stats.values())
            ok = traps > 0 and other == 0
            meas = "%d guests, %d updates in zpsid, %d doorbell hypercalls trapped, 0 MSR writes" % (
                len(names), upd, traps) if ok else "hypercalls=%d msr_writes=%d" % (traps, other)
        elif key == "msr":
            traps = sum(int(x.get("msr_writes", 0)) for x in stats.values())
            ok = traps > 0
            meas = "%d guests, %d updates in zpsid, %d WRMSR trapped" % (len(names), upd, traps)
        else:
            traps = sum(int(x.get("region_samples", 0)) for x in stats.values())
            ok = upd > 0
            meas = "%d guests, %d updates in zpsid, read from the region by zpsid's sampler" % (len(names), upd)
        row("updates: " + what, "every guest reports, zpsid counts them", meas, ok and upd > 0)
    # idle-1's program ends by itself once woken (status 0)
    row("stop: SIGTERM to every VMM", "each exits 143 (stopped on request), idle-1 0 (done)",
        ", ".join("%s=%s" % kv for kv in codes.items()),
        all(c == (0 if n == "idle-1" else 143) for n, c in codes.items()))


def check_throttle(st):
    """One CPU-bound guest alone: its own progress at the 100 % and at the
    50 % tier (as tests/daemon/test_throttle.py measures it)."""
    title("3. throttling measured on a guest's own progress (one CPU-bound guest, alone)")
    if st.mode is None:
        row("throttle: progress at the 50 % tier", "0.5 +- 0.1 of the 100 % rate", "skipped: " + st.cg_why, "SKIP")
        return
    st.start_vmm("burner", "--payload", "workload", "--profile", "step:0,50,5", "--mem", "16",
                 "--ops", "1000000000", "--timeout", "120")
    say("  zpsi-vmm --payload workload --name burner --profile step:0,50,5 (0 % PSI for 5 s, then 50 %)")

    def ops():
        m = re.findall(r"progress ops=(\d+)", st.output("burner"))
        return int(m[-1]) if m else None

    def rate(seconds, what):
        samples, last = [], None
        p = Progress("measuring " + what)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            o = ops()
            if o is not None and o != last:
                samples.append((time.monotonic(), o))
                last = o
            p.update()
            time.sleep(0.005)
        p.end()
        if len(samples) < 4:
            return None
        (t0, o0), (t1, o1) = samples[1], samples[-1]
        return (o1 - o0) / (t1 - t0)

    def at_tier(t):
        return lambda: (lambda g: g if g and g["tier"] == t and g["enforced"] else None)(st.guest("burner"))
    full = half = None
    if wait_for(at_tier(0), 30, "burner enforced at the 100 % tier") and wait_for(ops, 10, "burner's first progress"):
        full = rate(2.5, "the rate at 100 %")
        if wait_for(at_tier(2), 30, "burner's step to 50 % PSI and the 50 % tier"):
            half = rate(2.5, "the rate at 50 %")
    st.stop("burner")
    ratio = half / full if full and half else None
    row("throttle: a guest's progress at the 50 % tier", "0.5 +- 0.1 of its rate at 100 %",
        "%.0f -> %.0f ops/s: ratio %.3f" % (full, half, ratio) if ratio else "no measurement (%s, %s)" % (full, half),
        ratio is not None and 0.4 <= ratio <= 0.6)


def print_table():
    title("Results")
    w = max(len(r[0]) for r in rows)
    say("  %-*s  %-6s %s" % (w, "check", "result", "measured"))
    for check, _, got, status in rows:
        say("  %-*s  %-6s %s" % (w, check, status, got))
    p = sum(r[3] == "PASS" for r in rows)
    f = sum(r[3] == "FAIL" for r in rows)
    k = sum(r[3] == "SKIP" for r in rows)
    say()
    say("  result: %s (%d passed, %d failed, %d skipped)" % ("PASS" if f == 0 else "FAIL", p, f, k))
    for check, _, got, status in rows:
        if status == "SKIP":
            say("  skipped: %s: %s" % (check, got))
    return f == 0


def main():
    t_start = time.monotonic()
    seed_scenario()
    kvm = os.access("/dev/kvm", os.R_OK | os.W_OK)
    st = None
    if not kvm:
        for c in ("registrations", "updates", "aggregate", "tiers", "cgroups", "power", "balloon", "throttle",
                  "Prometheus"):
            row("real stack: " + c, "-", "skipped: /dev/kvm is missing or not usable by this user", "SKIP")
    else:
        st = Stack()
        try:
            check_fleet(st)
            check_throttle(st)
        finally:
            st.stop_all()
            st.remove_cgroups()
        zc = st.procs["zpsid"].returncode
        row("stop: zpsid on SIGTERM", "exit 0, state saved", "exit %s" % zc, zc == 0)
    ok = print_table()
    elapsed = time.monotonic() - t_start
    facts.extend([("when", time.strftime("%Y-%m-%d %H:%M:%S %Z")), ("host", os.uname().nodename),
                  ("kernel", os.uname().release), ("duration", "%.0f s" % elapsed),
                  ("cgroups", (st.mode or "none (" + st.cg_why + ")") if st else "-"),
                  ("samples recorded", len(st.timeline) if st else 0)])
    if st and st.timeline:
        try:
            path = demo_report.write_report(args.report, st.timeline, rows,
                                            {"title": "zpsi demo: zpsid and ten micro-VMs", "facts": facts})
            say("  report: %s" % path)
        except demo_report.ReportError as e:
            say("  report: not written: %s" % e)
            ok = False
    if st:
        say("  logs: %s" % st.tmp)
    say("  took %.0f s" % elapsed)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
