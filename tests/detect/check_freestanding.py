#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_freestanding.py LIBRARY - the CPUID core references no libc.

Lists the undefined symbols of the freestanding build of detect_cpuid.c:
only memcpy/memset/memmove/memcmp (which every GCC/clang freestanding
environment must supply), the linker-defined _GLOBAL_OFFSET_TABLE_ and the
sanitizer runtime's hooks (instrumented builds) are allowed.
"""
import subprocess
import sys

ALLOWED = {"memcpy", "memset", "memmove", "memcmp", "_GLOBAL_OFFSET_TABLE_"}
ALLOWED_PREFIXES = ("__asan", "__ubsan", "__sanitizer", "__sancov", "__msan", "__tsan")

out = subprocess.run(["nm", "-u", sys.argv[1]], capture_output=True, text=True, check=True).stdout
syms = {line.split()[-1] for line in out.splitlines() if line.strip() and not line.endswith(":")}
bad = sorted(s for s in syms if s not in ALLOWED and not s.startswith(ALLOWED_PREFIXES))
print("undefined symbols: %s" % (", ".join(sorted(syms)) or "none"))
if bad:
    print("not freestanding, needs: %s" % ", ".join(bad))
    sys.exit(1)
