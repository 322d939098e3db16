#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`make demo` end to end, and its report in a real browser (issue 11,
items 2 and 3): scripts/demo.py runs the seed's scenario and the real stack
(zpsid, Prometheus, ten micro-VMs, a throttled guest) and must exit 0 with
every row PASS; then headless Chromium loads demo-report/index.html, and
the DOM it ends with must say that every plot decoded ("plots loaded: N/N",
written by the page's own load handler) and that the table shows PASS.  The
screenshot stays in BUILD/demo-report/screenshot.png as an artefact.
Runs alone (meson: not parallel): the demo measures a throttled guest."""
import os
import re
import shutil
import subprocess
import sys

build = os.environ.get("ZPSI_BUILD", "build")
src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
report = os.path.join(build, "demo-report")


def skip(why):
    print("SKIP: " + why)
    sys.exit(77)


def fail(why):
    print("FAIL: " + why)
    sys.exit(1)


if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip("no usable /dev/kvm: the demo's real stack (and so its report) needs it")
browser = shutil.which("chromium") or shutil.which("chromium-browser")
if not browser:
    skip("chromium is not installed (scripts/deps.sh e2e installs it)")

shutil.rmtree(report, ignore_errors=True)
r = subprocess.run([sys.executable, os.path.join(src, "scripts", "demo.py"), build, "--report", report],
                   capture_output=True, text=True, timeout=600)
out = r.stdout
table = out[out.find("== Results"):] if "== Results" in out else out[-3000:]
print(table)
if r.returncode != 0:
    print(r.stderr[-3000:])
    fail("the demo exited %d" % r.returncode)
if not re.search(r"result: PASS \(\d+ passed, 0 failed", out):
    fail("the demo's table does not end in PASS")
index = os.path.join(report, "index.html")
if not os.path.exists(index):
    fail("no %s" % index)
page = open(index).read()
if "<script" not in page or re.search(r"(src|href)=['\"](https?:|//)", page):
    fail("the report is not self-contained (it loads something from outside)")

# Chromium as root needs --no-sandbox; a private profile keeps runs apart.
profile = os.path.join(report, ".chromium-profile")
common = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
          "--user-data-dir=" + profile, "--window-size=1100,3200"]
url = "file://" + os.path.abspath(index)
dom = subprocess.run(common + ["--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
m = re.search(r"plots loaded: (\d+)/(\d+)", dom)
if not m:
    fail("the page's load handler did not run in Chromium (no 'plots loaded' in the DOM)")
loaded, total = int(m.group(1)), int(m.group(2))
print("chromium: plots loaded %d/%d" % (loaded, total))
if total < 5 or loaded != total:
    fail("plots loaded %d of %d (want all, at least 5: PSI, share, memory, aggregate, power)" % (loaded, total))
if "Result: PASS" not in dom or "class=\"FAIL\"" in dom or "class='FAIL'" in dom:
    fail("the rendered table does not show PASS throughout")
rows = len(re.findall(r"<td class=\"PASS\">PASS</td>", dom))
print("chromium: results table shows %d PASS rows" % rows)
shot = os.path.join(report, "screenshot.png")
subprocess.run(common + ["--screenshot=" + shot, url], capture_output=True, timeout=120, cwd=report)
if not os.path.exists(shot) or os.path.getsize(shot) < 10000:
    fail("no screenshot written")
shutil.rmtree(profile, ignore_errors=True)
print("ok: report rendered, screenshot %s (%d bytes)" % (shot, os.path.getsize(shot)))
