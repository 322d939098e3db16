# SPDX-License-Identifier: MIT
"""The demo's report: demo-report/index.html, one self-contained page (the
plots are inlined as SVG data URIs), drawn by gnuplot from what zpsid
reported while the demo ran (its `zpsictl --json status`, sampled by the
demo's recorder) and ending with the results table.

write_report(outdir, timeline, rows, meta) returns the path of index.html,
or raises ReportError saying what failed (gnuplot missing, a plot that did
not render)."""
import base64
import html
import os
import shutil
import subprocess

POWER_LEVEL = {"C0": 0, "C1": 1, "C3": 3, "C6": 6}
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf", "#000000", "#aec7e8"]


class ReportError(Exception):
    pass


def _series(timeline, names, value):
    """One data file body per guest: "t value" lines, with a blank line
    where the guest was absent (gnuplot then breaks the line)."""
    out = {}
    for n in names:
        lines = []
        for t, snap in timeline:
            g = snap["guests"].get(n)
            if g is None:
                if lines and lines[-1] != "":
                    lines.append("")
                continue
            lines.append("%.3f %s" % (t, value(g)))
        out[n] = "\n".join(lines) + "\n"
    return out


def _gnuplot(workdir, name, script):
    """Render one plot to SVG; returns its text."""
    svg = os.path.join(workdir, name + ".svg")
    gp = os.path.join(workdir, name + ".gp")
    with open(gp, "w") as f:
        f.write("set terminal svg size 960,340 dynamic noenhanced font 'sans,11' background '#ffffff'\n")
        f.write("set output '%s'\n" % svg)
        f.write("set grid lc rgb '#dddddd'\nset key outside right top\nset border lc rgb '#555555'\n")
        # one colour a guest, distinct enough for a dozen lines
        for i, c in enumerate(PALETTE):
            f.write("set linetype %d lc rgb '%s'\n" % (i + 1, c))
        f.write("set linetype cycle %d\n" % len(PALETTE))
        f.write(script)
    r = subprocess.run(["gnuplot", gp], capture_output=True, text=True, timeout=60)
    if r.returncode != 0 or not os.path.exists(svg) or os.path.getsize(svg) < 200:
        raise ReportError("gnuplot failed on %s: %s" % (name, (r.stderr or "no output").strip()[-400:]))
    return open(svg).read()


def _plot_lines(workdir, tag, series, title, ylabel, extra=""):
    files = []
    for n, body in series.items():
        p = os.path.join(workdir, "%s-%s.dat" % (tag, n))
        with open(p, "w") as f:
            f.write(body)
        files.append((n, p))
    plots = ", ".join("'%s' using 1:2 with steps lw 2 title '%s'" % (p, n) for n, p in files)
    return _gnuplot(workdir, tag, "set title '%s'\nset xlabel 'seconds since zpsid started'\n"
                    "set ylabel '%s'\n%s\nplot %s\n" % (title, ylabel, extra, plots))


def write_report(outdir, timeline, rows, meta):
    """timeline: [(seconds, {"aggregate_bp": N, "guests": {name: guest json}})]
    rows: [(check, expected, measured, status)]; meta: {"title":…, "facts": [(k, v)]}."""
    if not shutil.which("gnuplot"):
        raise ReportError("gnuplot is not installed (scripts/deps.sh demo installs gnuplot-nox)")
    if not timeline:
        raise ReportError("no samples were recorded")
    os.makedirs(outdir, exist_ok=True)
    work = os.path.join(outdir, "data")
    os.makedirs(work, exist_ok=True)
    names = sorted({n for _, s in timeline for n in s["guests"]})
    t_end = timeline[-1][0]
    xr = "set xrange [%.3f:%.3f]\n" % (timeline[0][0], t_end + 0.001)

    plots = []
    # PSI with the tier boundaries drawn in (SPEC section 5: < 10 %, 10-30 %, > 30 %)
    plots.append(("psi", "Each guest's PSI, with the tier boundaries (10 %, 30 %)", _plot_lines(
        work, "psi", _series(timeline, names, lambda g: "%.2f" % (g["psi_bp"] / 100.0)),
        "PSI per guest", "PSI %",
        xr + "set yrange [0:105]\n"
        "set arrow from graph 0, first 10 to graph 1, first 10 nohead dt 2 lw 2 lc rgb '#c0392b' front\n"
        "set arrow from graph 0, first 30 to graph 1, first 30 nohead dt 2 lw 2 lc rgb '#c0392b' front\n"
        "set label '10 % (100 % -> 80 %)' at graph 0.01, first 12 tc rgb '#c0392b'\n"
        "set label '30 % (80 % -> 50 %)' at graph 0.01, first 32 tc rgb '#c0392b'\n")))
    plots.append(("share", "Each guest's CPU share (cgroup quota / its vCPUs' period)", _plot_lines(
        work, "share", _series(timeline, names, lambda g: "%.1f" % (100.0 * g["cpu_quota_us"]
                                                                  / max(1, g["cpu_period_us"] * g["vcpus"]))),
        "CPU share per guest", "% of its vCPUs", xr + "set yrange [0:105]\n")))
    plots.append(("memory", "Each guest's memory target (cgroup soft limit and balloon target)", _plot_lines(
        work, "memory", _series(timeline, names, lambda g: "%.2f" % (g["memory_target_bytes"] / 2**20)),
        "Memory target per guest", "MiB", xr + "set yrange [0:*]\n")))
    agg = os.path.join(work, "aggregate.dat")
    with open(agg, "w") as f:
        for t, s in timeline:
            f.write("%.3f %.2f\n" % (t, s["aggregate_bp"] / 100.0))
    plots.append(("aggregate", "The host's aggregate: the weighted average over every registered guest",
                  _gnuplot(work, "aggregate", xr + "set title 'Aggregate PSI (what HC_PSI_QUERY answers)'\n"
                           "set xlabel 'seconds since zpsid started'\nset ylabel 'PSI %%'\nset yrange [0:*]\n"
                           "plot '%s' using 1:2 with steps lw 3 lc rgb '#2c3e50' title 'aggregate'\n" % agg)))
    # the power timeline: one row a guest, coloured by state
    pw = os.path.join(work, "power.dat")
    with open(pw, "w") as f:
        for t, s in timeline:
            for i, n in enumerate(names):
                g = s["guests"].get(n)
                if g is not None:
                    f.write("%.3f %d %d\n" % (t, i, POWER_LEVEL.get(g["power_state"], 0)))
    ytics = ", ".join("'%s' %d" % (n, i) for i, n in enumerate(names))
    plots.append(("power", "Power states over time (C0 running, C1 halted, C3 paused, C6 saved to disk)",
                  _gnuplot(work, "power", xr + "set title 'Power state per guest'\n"
                           "set xlabel 'seconds since zpsid started'\nset ytics (%s)\nset yrange [-1:%d]\n"
                           "set palette defined (0 '#27ae60', 1 '#f1c40f', 3 '#e67e22', 6 '#8e44ad')\n"
                           "set cbrange [0:6]\nset cbtics ('C0' 0, 'C1' 1, 'C3' 3, 'C6' 6)\nunset key\n"
                           "plot '%s' using 1:2:3 with points pt 5 ps 0.9 palette\n" % (ytics, len(names), pw))))

    passed = sum(1 for r in rows if r[3] == "PASS")
    failed = sum(1 for r in rows if r[3] == "FAIL")
    skipped = sum(1 for r in rows if r[3] == "SKIP")
    verdict = "PASS" if failed == 0 else "FAIL"
    e = html.escape
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             "<title>%s</title>" % e(meta.get("title", "zpsi demo")),
             "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:4px 8px;"
             "text-align:left;font-size:14px;vertical-align:top}th{background:#eee}"
             ".PASS{color:#1e8449;font-weight:bold}.FAIL{color:#c0392b;font-weight:bold}"
             ".SKIP{color:#7f8c8d;font-weight:bold}figure{margin:1.5em 0}img{max-width:100%;"
             "border:1px solid #ddd}figcaption{color:#555;font-size:14px}</style></head><body>",
             "<h1>%s</h1>" % e(meta.get("title", "zpsi demo")),
             "<p id='verdict' class='%s'>Result: %s — %d passed, %d failed, %d skipped</p>"
             % (verdict, verdict, passed, failed, skipped),
             "<table><tr><th>fact</th><th>value</th></tr>"]
    for k, v in meta.get("facts", []):
        parts.append("<tr><td>%s</td><td>%s</td></tr>" % (e(k), e(str(v))))
    parts.append("</table>")
    for key, caption, svg in plots:
        data = base64.b64encode(svg.encode()).decode()
        parts.append("<figure><img class='plot' id='plot-%s' alt='%s' src='data:image/svg+xml;base64,%s'>"
                     "<figcaption>%s</figcaption></figure>" % (key, e(caption), data, e(caption)))
    parts.append("<h2>Results</h2><table id='results'><tr><th>check</th><th>expected</th>"
                 "<th>measured</th><th>result</th></tr>")
    for check, want, got, status in rows:
        parts.append("<tr><td>%s</td><td>%s</td><td>%s</td><td class='%s'>%s</td></tr>"
                     % (e(check), e(want), e(got), status, status))
    parts.append("</table>")
    # Written by the page itself once its images decoded, so a headless
    # browser's DOM dump shows whether every plot rendered.
    parts.append("<p id='plots-status'>plots: not checked (no script)</p><script>"
                 "window.addEventListener('load',function(){var im=document.querySelectorAll('img.plot'),"
                 "ok=0;for(var i=0;i<im.length;i++)if(im[i].complete&&im[i].naturalWidth>0)ok++;"
                 "document.getElementById('plots-status').textContent='plots loaded: '+ok+'/'+im.length;});"
                 "</script></body></html>")
    path = os.path.join(outdir, "index.html")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")
    return path
