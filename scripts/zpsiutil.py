# SPDX-License-Identifier: MIT
"""Small helpers shared by the demo and the benchmarks (the tests have
their own in tests/daemon/zpsidtest.py)."""
import time


def wait_until(cond, timeout, what, who="zpsi"):
    """cond()'s first true value within timeout seconds, or exit saying what
    was awaited.  Polls every 10 ms: a wait for a condition, not a sleep."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.01)
    raise SystemExit("%s: timed out waiting for %s" % (who, what))


def proc_status_kib(pid, keys=("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem")):
    """The memory lines of /proc/PID/status, in KiB."""
    out = {}
    for line in open("/proc/%d/status" % pid):
        k, _, v = line.partition(":")
        if k in keys:
            out[k] = int(v.split()[0])
    return out
