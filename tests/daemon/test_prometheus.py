#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Metrics: /metrics passes `promtool check metrics` (Prometheus's own linter
of names, units and types), and a real Prometheus server (Debian's package),
on loopback with a temporary config, scrapes zpsid; the aggregate read back
through Prometheus's query API equals zpsid's own."""
import json
import os
import shutil
import socket
import subprocess
import urllib.request

from zpsidtest import Zpsid, TestVmm, tmpdir, wait_until, check, skip, _procs

prom = shutil.which("prometheus")
promtool = shutil.which("promtool")
if not prom or not promtool:
    skip("prometheus/promtool not installed (scripts/deps.sh e2e)")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


tmp = tmpdir()
d = Zpsid(tmp, "-m", "127.0.0.1:0").start()
vms = [TestVmm(d, "p%d" % i, "--psi", str(bp), "--weight", str(w))
       for i, (bp, w) in enumerate([(1000, 1), (2500, 2), (7000, 4)])]
wait_until(lambda: [g["psi_bp"] for g in sorted(d.guests().values(), key=lambda g: g["name"])]
           == [1000, 2500, 7000], what="guests at their ratios")
st = d.status()
port = st["metrics_port"]
check(port > 0, "metrics port reported")
code, ctype, body = get("http://127.0.0.1:%d/metrics" % port)
check(code == 200 and ctype.startswith("text/plain; version=0.0.4"), "content type %s" % ctype)
want = st["aggregate_psi"]
check("zpsid_aggregate_psi_ratio %.4f" % want in body, "aggregate in /metrics")
check('zpsid_guest_psi_ratio{guest="p2"} 0.7000' in body, "per-guest ratio")
check('zpsid_guest_psi_resets_total{guest="p0"} 0' in body and 'zpsid_guest_balloon_bytes{guest="p0"} 0' in body,
      "per-guest resets and balloon")
check("zpsid_guest_vmm_resident_bytes{" not in body, "no resident size the simulated VMMs never reported")
lint = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, text=True)
check(lint.returncode == 0, "promtool check metrics:\n" + lint.stdout + lint.stderr)
try:
    get("http://127.0.0.1:%d/nothing" % port)
    check(False, "404 expected")
except urllib.error.HTTPError as e:
    check(e.code == 404, "404 for other paths")

pport = free_port()
cfg = os.path.join(tmp, "prometheus.yml")
open(cfg, "w").write("""global:
  scrape_interval: 1s
scrape_configs:
  - job_name: zpsid
    static_configs:
      - targets: ['127.0.0.1:%d']
""" % port)
p = subprocess.Popen([prom, "--config.file=" + cfg, "--storage.tsdb.path=" + os.path.join(tmp, "tsdb"),
                      "--web.listen-address=127.0.0.1:%d" % pport, "--log.level=warn"],
                     stdout=open(os.path.join(tmp, "prometheus.log"), "w"), stderr=subprocess.STDOUT)
_procs.append(p)


def query():
    try:
        _, _, b = get("http://127.0.0.1:%d/api/v1/query?query=zpsid_aggregate_psi_ratio" % pport)
    except OSError:
        return None
    r = json.loads(b)
    res = r.get("data", {}).get("result", [])
    return float(res[0]["value"][1]) if res else None


got = wait_until(query, timeout=90, what="Prometheus to scrape zpsid")
check(abs(got - want) < 1e-9, "Prometheus says %s, zpsid %s" % (got, want))
_, _, b = get("http://127.0.0.1:%d/api/v1/query?query=sum(zpsid_guest_weight)" % pport)
check(float(json.loads(b)["data"]["result"][0]["value"][1]) == 7, "weights through Prometheus")
p.terminate()
p.wait(timeout=30)
for v in vms:
    v.stop()
d.stop()
print("ok: Prometheus read aggregate %.4f" % got)
