#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""man_pages.py BUILD_DIR - every installed program has a man page that
matches it.

What `meson install` would install is read from meson's own record
(BUILD_DIR/meson-info/intro-installed.json), so a new program is checked
the day it is added.  For each program in bin/ or sbin/:

  - a man page of the same name is installed in man1/ or man8/, and its .TH
    line names the program and that section;
  - `PROGRAM --help` exits 0, and every option it lists (long and short)
    appears in the man page;
  - every option the man page's OPTIONS section describes (its .TP tags)
    appears in --help, so a removed option does not live on in the page;
  - `groff -man -ww -z` reads the page without a warning (skipped, with a
    line saying so, when groff is not installed: Debian's man-db depends on
    groff-base, so it normally is).
"""
import json
import os
import re
import shutil
import subprocess
import sys

LONG = re.compile(r"(?<![\w-])--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)")
SHORT = re.compile(r"(?<![\w-])-([A-Za-z])(?![\w-])")


def roff_text(src):
    """The page's source with the escapes that hide option names undone."""
    t = src.replace("\\-", "-").replace("\\(en", "-").replace("\\&", "")
    t = re.sub(r"\\f(\[[^]]*\]|\(..|.)", "", t)   # font changes
    t = re.sub(r'\\[" ]', " ", t)
    return t


def options_section_tags(src):
    """The option names in the .TP tags of the OPTIONS section."""
    lines = src.splitlines()
    tags, in_opts = [], False
    for i, line in enumerate(lines):
        if line.startswith(".SH"):
            in_opts = line.split(None, 1)[1:] == ["OPTIONS"]
            continue
        if in_opts and line.startswith(".TP") and i + 1 < len(lines):
            tags.append(roff_text(lines[i + 1]))
    return tags


def has_option(text, opt):
    """Is `opt` ("--json", "-n") in text as a whole word?"""
    return re.search(r"(?<![\w-])" + re.escape(opt) + r"(?![\w-])", text) is not None


def check_program(prog, page, section, groff, failures):
    name = os.path.basename(prog)
    try:
        p = subprocess.run([prog, "--help"], capture_output=True, text=True, timeout=30)
    except OSError as e:
        failures.append(f"{name}: cannot run --help: {e}")
        return
    if p.returncode != 0:
        failures.append(f"{name}: --help exited {p.returncode}")
    help_text = p.stdout + p.stderr
    with open(page, encoding="utf-8") as f:
        src = f.read()
    text = roff_text(src)

    th = re.search(r"^\.TH\s+(\S+)\s+(\S+)", src, re.M)
    if not th:
        failures.append(f"{page}: no .TH line")
    elif th.group(1).strip('"').lower() != name.lower() or th.group(2).strip('"') != section:
        failures.append(f"{page}: .TH says {th.group(1)}({th.group(2)}), installed as {name}({section})")

    longs = sorted(set(LONG.findall(help_text)))
    shorts = sorted(set(SHORT.findall(help_text)))
    if not longs:
        failures.append(f"{name}: --help lists no long option")
    for o in longs:
        if not has_option(text, "--" + o):
            failures.append(f"{name}: --{o} is in --help but not in {os.path.basename(page)}")
    for o in shorts:
        if not has_option(text, "-" + o):
            failures.append(f"{name}: -{o} is in --help but not in {os.path.basename(page)}")
    tags = options_section_tags(src)
    if not tags:
        failures.append(f"{page}: no OPTIONS section with .TP entries")
    for tag in tags:
        for o in LONG.findall(tag):
            if not has_option(help_text, "--" + o):
                failures.append(f"{page}: OPTIONS describes --{o}, which {name} --help does not list")
    print(f"{name}: {len(longs)} long and {len(shorts)} short options in --help, "
          f"{len(tags)} entries in OPTIONS: checked against {os.path.basename(page)}")

    if groff:
        g = subprocess.run([groff, "-man", "-ww", "-z", page], capture_output=True, text=True,
                           timeout=60)
        if g.returncode != 0 or g.stderr.strip():
            failures.append(f"{page}: groff -man -ww: rc {g.returncode}: {g.stderr.strip()}")


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    build = sys.argv[1]
    with open(os.path.join(build, "meson-info", "intro-installed.json"), encoding="utf-8") as f:
        installed = json.load(f)

    programs, pages = {}, {}
    for src, dst in installed.items():
        d = os.path.dirname(dst)
        if os.path.basename(d) in ("bin", "sbin"):
            programs[os.path.basename(dst)] = src
        m = re.search(r"/man([1-8])/([^/]+)\.([1-8])$", dst)
        if m and m.group(1) == m.group(3):
            pages[m.group(2)] = (src, m.group(1))

    groff = shutil.which("groff")
    if not groff:
        print("SKIP (part): groff is not installed; the pages' roff is not checked "
              "(apt-get install groff-base)")
    failures = []
    if not programs:
        failures.append("meson installs no program (intro-installed.json)")
    for name, prog in sorted(programs.items()):
        if name not in pages:
            failures.append(f"{name}: installed without a man page (install_man in its meson.build)")
            continue
        page, section = pages[name]
        check_program(prog, page, section, groff, failures)
    for name in sorted(set(pages) - set(programs)):
        print(f"note: {name}({pages[name][1]}) is a page without an installed program")

    for f in failures:
        print("FAIL:", f)
    print(f"{len(programs)} programs, {len(failures)} problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
