#!/usr/bin/env python3
"""abi_doc.py ABI_DUMP DOC - docs/abi.md and include/zpsi/abi.h must never
disagree: every number the document states in its tables and text is checked
against the constants the header compiles to (printed by abi_dump)."""
import re
import subprocess
import sys

dump = dict(l.split("=", 1) for l in subprocess.check_output([sys.argv[1]], text=True).splitlines())
h = {k: int(v, 16) for k, v in dump.items()}
doc = open(sys.argv[2], encoding="utf-8").read()
errors = []


def expect(what, doc_value, key):
    if doc_value != h[key]:
        errors.append(f"{what}: docs/abi.md says {doc_value:#x}, abi.h says {h[key]:#x}")


def table_rows(heading_regex):
    """Rows (as cell lists) of the first table after a heading matching the regex."""
    m = re.search(heading_regex, doc, re.M)
    if not m:
        errors.append(f"no section matching {heading_regex!r}")
        return []
    rows = []
    started = False
    for line in doc[m.end():].splitlines():
        if line.startswith("|"):
            started = True
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not set("".join(cells)) <= set("-: "):
                rows.append(cells)
        elif started:
            break
    return rows[1:]  # drop the header row


def num(s):
    m = re.search(r"0x[0-9A-Fa-f]+|-?\d+", s.replace("`", ""))
    return int(m.group(0), 0)


# MSR table
for cells in table_rows(r"^## 3\. MSRs"):
    expect(f"MSR {cells[1]}", num(cells[0]), "msr." + cells[1].strip("`"))
# Hypercall table and error table
for cells in table_rows(r"^### 4\.2 Calls"):
    name = re.match(r"`?(\w+)", cells[1]).group(1)
    expect(f"hypercall {name}", num(cells[0]), "hc." + name)
for cells in table_rows(r"Errors are KVM's numbers"):
    expect(f"error {cells[1]}", -num(cells[0]), "err." + cells[1].strip("`"))
# Feature bits
m = re.search(r"^\| EBX bit \| name.*?\n((?:\|.*\n)+)", doc, re.M)
for line in m.group(1).splitlines()[1:]:
    cells = [c.strip() for c in line.strip("|").split("|")]
    expect(f"feature {cells[1]}", 1 << int(cells[0]), "feat." + cells[0])
# Region layout
for cells in table_rows(r"^## 6\. The shared region"):
    expect(f"region field {cells[1]}", num(cells[0]), "region.off." + re.sub(r" `.*`", "", cells[1]))
# Numbers stated in the text
checks = [
    (r"`EBX = (0x[0-9A-F]+)`", "cpuid.sig_ebx"),
    (r"`ECX = (0x[0-9A-F]+)`", "cpuid.sig_ecx"),
    (r"`EDX = (0)`", "cpuid.sig_edx"),
    (r"For each base `B` from `(0x[0-9A-F]+)`", "cpuid.hv_first"),
    (r"For each base `B` from `0x[0-9A-F]+` to `(0x[0-9A-F]+)`", "cpuid.hv_last"),
    (r"in steps of\s+`(0x[0-9A-F]+)`", "cpuid.hv_step"),
    (r"this document is version \*\*(\d+)\*\*", "abi.version"),
    (r"zpsi-vmm: `(0x[0-9A-F]+)`", "doorbell.port"),
    (r"zpsi-vmm puts the block at `(0x[0-9A-F]+)`", "cpuid.base_default"),
    (r"the PSI block moves to `(0x[0-9A-F]+)`", "cpuid.base_nested"),
    (r"Reset value: delta (\d+)", "conf.default_delta"),
    (r"threshold (\d+) \(90 %\)", "conf.default_thresh"),
    (r"weight \((?:\d+)\.\.(\d+)\)", "weight.max"),
    (r"bits 7:0 region revision \((\d+)\)", "region.revision"),
    (r"bit (\d+) `AGG_VALID`", "hostinfo.agg_valid_bit"),
    (r"bit (\d+) `BALLOON`", "hostinfo.balloon_bit"),
    (r"bits 63:(\d+) the memory target", "hostinfo.target_shift"),
    (r"^\| (\d+) \| ENABLE", "ctrl.enable_bit"),
    (r"^\| (\d+) \| RESET", "ctrl.reset_bit"),
    (r"^\| (\d+) \| REGION", "ctrl.region_bit"),
    (r"^\| 11:(\d+) \| reserved", "ctrl.rsvd_lo"),
    (r"^\| (\d+):3 \| reserved", "ctrl.rsvd_hi"),
    (r"^\| 63:(\d+) \| 0 \| reserved", "state.rsvd_lo"),
    (r"^\| 35:(\d+) \| the guest's power state", "state.power_lo"),
    (r"^\| 31:(\d+) \| the host's aggregate", "state.host_lo"),
    (r"^\| 63:(\d+) \| reserved: non-zero", "conf.rsvd_lo"),
    (r"^\| 63:(\d+) \| committed", "stats.committed_lo"),
    (r"The shared region \(fixed layout, (\d+) bytes\)", "region.size"),
    (r"Bytes 64\.\.(\d+) are reserved", "region.page"),
]
for regex, key in checks:
    m = re.search(regex, doc, re.M)
    if not m:
        errors.append(f"docs/abi.md no longer states {key} (pattern {regex!r})")
        continue
    value = int(m.group(1), 0)
    if key == "region.page":
        value += 1
    expect(key, value, key)

for e in errors:
    print("MISMATCH", e)
print(f"abi_doc: {len(checks)} text facts and 5 tables checked, {len(errors)} mismatches")
sys.exit(1 if errors else 0)
