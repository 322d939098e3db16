#!/usr/bin/env python3
"""summary.py BUILDDIR... - one table and one summary line over the meson
test logs of several build directories.  Exit status 1 if anything failed
or a build did not run its tests."""
import json
import os
import sys

passed = failed = skipped = 0
lines = []
for d in sys.argv[1:]:
    status_file = os.path.join(d, "check-status")
    status = open(status_file).read().strip() if os.path.exists(status_file) else "not-run"
    if status != "ran":
        failed += 1
        lines.append(f"FAIL  {d}: {status}")
        continue
    log = os.path.join(d, "meson-logs", "testlog.json")
    if not os.path.exists(log):
        continue
    with open(log) as f:
        for raw in f:
            t = json.loads(raw)
            res = t.get("result", "")
            name = f"{d}: {t.get('name', '?')}"
            if res in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif res == "SKIP":
                skipped += 1
                lines.append(f"SKIP  {name}")
            else:
                failed += 1
                lines.append(f"{res:5} {name}")
for line in lines:
    print(line)
print(f"{skipped} skipped")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
