#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""run_fixtures.py ZPSI_DETECT FIXTURES_DIR - zpsi-detect on every fixture.

For each tree: `zpsi-detect --json --sysroot DIR` must print strict JSON
whose answers match expected.json (virtualized, hypervisor, cloud,
bare_metal_cloud, vmm, xen_dom0, psi, the CPUID stack, and exactly the
expected contradiction ids), with a non-empty evidence list whose entries
are complete; the default mode must print the same hypervisor word and
exit 0 in a guest, 1 outside; --cloud likewise for the cloud.
"""
import json
import os
import subprocess
import sys

ANSWERS = ("virtualized", "hypervisor", "cloud", "bare_metal_cloud", "vmm", "xen_dom0", "psi")
EVIDENCE_KEYS = {"source", "where", "value", "kind", "name", "conclusion"}


def run(exe, *args):
    p = subprocess.run([exe, *args], capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode("utf-8"), p.stderr.decode("utf-8", "replace")


def reject_constant(name):
    raise ValueError("non-standard JSON constant " + name)


def check(exe, d):
    errors = []
    with open(os.path.join(d, "expected.json")) as fh:
        want = json.load(fh)
    rc, out, err = run(exe, "--json", "--sysroot", d)
    if rc not in (0, 1):
        return ["--json exited %d: %s" % (rc, err.strip())]
    try:
        got = json.loads(out, parse_constant=reject_constant)
    except ValueError as e:
        return ["invalid JSON: %s" % e]

    for k in ANSWERS:
        if k in want and got.get(k) != want[k]:
            errors.append("%s: got %r, want %r" % (k, got.get(k), want[k]))
    if want.get("psi") is not None:
        # feature_names must agree with the bits
        names = got["psi"].get("feature_names", [])
        bits = int(got["psi"]["features"], 16)
        if len(names) != bin(bits).count("1"):
            errors.append("psi.feature_names %r do not match features %s" % (names, got["psi"]["features"]))
    if want.get("stack") is not None:
        st = [{k: b.get(k) for k in ("base", "signature", "max_leaf", "name")} for b in got.get("stack", [])]
        if st != want["stack"]:
            errors.append("stack: got %r, want %r" % (st, want["stack"]))
    ids = sorted(c["id"] for c in got.get("contradictions", []))
    if ids != sorted(want.get("contradictions", [])):
        errors.append("contradictions: got %r (%s), want %r" % (
            ids, "; ".join(c["detail"] for c in got.get("contradictions", [])), want["contradictions"]))
    ev = got.get("evidence", [])
    if not ev:
        errors.append("evidence is empty")
    for e in ev:
        if set(e) != EVIDENCE_KEYS or not e["conclusion"]:
            errors.append("incomplete evidence entry %r" % e)
            break
    if got.get("virtualized") != (rc == 0):
        errors.append("--json exit status %d does not match virtualized=%r" % (rc, got.get("virtualized")))
    if not got.get("reason"):
        errors.append("no reason given")

    rc2, word, _ = run(exe, "--sysroot", d)
    if word.strip() != got.get("hypervisor") or rc2 != rc:
        errors.append("default mode printed %r exit %d, --json says %r exit %d" % (
            word.strip(), rc2, got.get("hypervisor"), rc))
    rc3, cloud, _ = run(exe, "--cloud", "--sysroot", d)
    if cloud.strip() != got.get("cloud") or rc3 != (0 if got.get("cloud") != "none" else 1):
        errors.append("--cloud printed %r exit %d" % (cloud.strip(), rc3))
    return errors


def cli_errors(exe, root):
    """The program's own contract: usage, lists, errors with exit 2."""
    import tempfile
    errs = []
    rc, out, _ = run(exe, "--help")
    if rc != 0 or "--sysroot" not in out:
        errs.append("--help: exit %d" % rc)
    rc, out, _ = run(exe, "--version")
    if rc != 0 or not out.startswith("zpsi-detect "):
        errs.append("--version: exit %d %r" % (rc, out))
    rc, out, _ = run(exe, "--list")
    names = out.split()
    if rc != 0 or not {"kvm", "xen", "microsoft", "vmware", "oracle", "vmm", "vm-other", "none"} <= set(names):
        errs.append("--list: exit %d %r" % (rc, names))
    rc, out, _ = run(exe, "--list-clouds")
    if rc != 0 or not {"aws", "gcp", "azure", "oracle-cloud", "none"} <= set(out.split()):
        errs.append("--list-clouds: exit %d" % rc)
    rc, out, _ = run(exe, "--list-signatures")
    if rc != 0 or "KVMKVMKVM\\0\\0\\0" not in out or "ZIMEPSI" not in out:
        errs.append("--list-signatures: exit %d" % rc)
    for args in (["--bogus"], ["extra"], ["--sysroot"], ["--sysroot", os.path.join(root, "does-not-exist")]):
        rc, _, err = run(exe, *args)
        if rc != 2 or not err:
            errs.append("%r: exit %d, want 2 with a message" % (args, rc))
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "cpuid.txt"), "w") as fh:
            fh.write("this is not a cpuid dump\n")
        rc, _, err = run(exe, "--sysroot", d)
        if rc != 2 or "cpuid -r -1" not in err:
            errs.append("bad cpuid.txt: exit %d %r" % (rc, err))
        os.unlink(os.path.join(d, "cpuid.txt"))
        rc, out, _ = run(exe, "--sysroot", d, "--quiet")     # an empty tree: nothing says guest
        if rc != 1 or out:
            errs.append("empty sysroot --quiet: exit %d output %r" % (rc, out))
        rc, _, err = run(exe, "--sysroot", d, "--cpuid-json")
        if rc != 2:
            errs.append("--cpuid-json without CPUID: exit %d" % rc)
    rc, out, _ = run(exe, "--sysroot", os.path.join(root, "zpsi-psi-nested"), "--cpuid-json")
    try:
        d = json.loads(out)
        if rc != 0 or d["psi"]["base"] != "0x40000100" or d["outer"] != "kvm":
            errs.append("--cpuid-json: %r" % d)
    except ValueError as e:
        errs.append("--cpuid-json: invalid JSON %s" % e)
    return errs


def main():
    exe, root = sys.argv[1], sys.argv[2]
    names = sorted(n for n in os.listdir(root) if os.path.isfile(os.path.join(root, n, "expected.json")))
    if len(names) < 20:
        print("only %d fixtures found under %s (the issue asks for at least 20)" % (len(names), root))
        return 1
    failed = 0
    for i, n in enumerate(names, 1):
        errs = check(exe, os.path.join(root, n))
        print("%s %d - %s" % ("not ok" if errs else "ok", i, n))
        for e in errs:
            print("#   " + e)
        failed += bool(errs)
    errs = cli_errors(exe, root)
    print("%s %d - command line" % ("not ok" if errs else "ok", len(names) + 1))
    for e in errs:
        print("#   " + e)
    failed += bool(errs)
    print("1..%d" % (len(names) + 1))
    print("# %d fixtures, %d failed" % (len(names), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
