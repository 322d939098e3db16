#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Hostile peers on zpsid's control socket: oversized, truncated, garbage and
mistyped packets, fd flooding, a hello that lies about its pid or passes a bad
region, a name taken over with a wrong token, a peer with the wrong uid, and
garbage-writing or flooding guests.  Each is refused with the right error, no
fd leaks, and the well-behaved guest beside them is never disturbed."""
import json
import os
import resource
import socket
import struct
import time

from zpsidtest import (Zpsid, TestVmm, tmpdir, wait_until, check, fail, expected_aggregate_bp, ask, hello_packet,
                       memfd_region)

tmp = tmpdir()
os.chmod(tmp, 0o755)  # so that the foreign uid below reaches the socket
d = Zpsid(tmp, "-o", "socket_mode=0666").start()
good = TestVmm(d, "good", "--psi", "2000", "--weight", "3")
hostile = [TestVmm(d, "h-" + m, "--hostile", m, "--psi", "5000") for m in ("nan", "torn", "backwards", "flood")]
# a guest that resets its counts properly (PSI_CTRL_MSR.RESET, reported by
# its VMM) after 50 steps: its smaller counts are a new start, not refused
resetter = TestVmm(d, "resetter", "--psi", "2500", "--reset-at", "50")
wait_until(lambda: len(d.guests()) == 6, what="six guests")
conn = d.raw_conn
hello = hello_packet


def expect_error(s, raw, err, fds=()):
    r = ask(s, raw, fds)
    check(r and r.get("type") == "error" and r.get("error") == err,
          "%r -> %s, got %r" % (raw[:60], err, r))


fds_before = d.fd_count()
s = conn()
expect_error(s, b"x" * 70000, "EMSGSIZE")                       # oversized
expect_error(s, b'{"type":"status"', "EBADMSG")                  # truncated
expect_error(s, b"\xff\xfe garbage", "EBADMSG")                  # garbage
expect_error(s, b'[1,2,3]', "EBADMSG")                           # not an object
expect_error(s, b'{"type":"launch-missiles"}', "EOPNOTSUPP")     # unknown type
expect_error(s, b'{"type":"guest","name":7}', "EINVAL")          # wrong type
expect_error(s, b'{"type":"guest","name":"../etc"}', "EINVAL")   # bad name
expect_error(s, b'{"type":"guest","name":"nobody"}', "ENOENT")
expect_error(s, b'{"type":"set","name":"good","key":"weight","value":"0"}', "EINVAL")
expect_error(s, b'{"type":"set","name":"good","key":"colour","value":"red"}', "EINVAL")
# fd flooding: fds on a packet that carries none, and more than a packet may
devnull = [os.open("/dev/null", os.O_RDONLY) for _ in range(200)]
expect_error(s, b'{"type":"status","seq":1}', "EBADF", devnull[:3])
expect_error(s, b'{"type":"status","seq":2}', "EMSGSIZE", devnull)
# the same connection still works after all that
r = ask(s, b'{"type":"status","seq":9}')
check(r["type"] == "reply" and r["re"] == 9 and r["count"] == 6, "status after abuse: %r" % r)
s.close()
for f in devnull:
    os.close(f)

# too many bad packets: the connection is closed
s = conn()
for i in range(40):
    try:
        s.send(b"junk")
    except OSError:
        break


def closed(sock):
    try:
        return sock.recv(70000) == b""
    except ConnectionResetError:
        return True


wait_until(lambda: closed(s), what="a persistent offender to be cut off")
s.close()


rfd = memfd_region()
expect_error(conn(), hello("liar", pid=1), "EPERM", [rfd])              # not its pid
expect_error(conn(), hello("nofd"), "EBADF")                           # no region
r, w = os.pipe()
expect_error(conn(), hello("pipe"), "EBADF", [r])                      # not a file
expect_error(conn(), hello("nomagic"), "EBADMSG", [memfd_region(False)])
# an unsealed region could be truncated under zpsid's mapping (SIGBUS): refused
unsealed = memfd_region(sealed=False)
expect_error(conn(), hello("unsealed"), "EPERM", [unsealed])
os.ftruncate(unsealed, 0)
expect_error(conn(), hello("good"), "EEXIST", [rfd])                   # a connected name
# a detached name cannot be taken with a wrong token
good.proc.send_signal(19)  # SIGSTOP: alive, silent
os.kill(d.proc.pid, 0)
# a well-formed hello of our own: accepted, then hijack attempts on it
s = conn()
rep = ask(s, hello("mine"), [rfd])
check(rep["type"] == "welcome", "a proper hello is welcomed: %r" % rep)
s.close()
wait_until(lambda: not d.guests()["mine"]["connected"], what="mine detached")
expect_error(conn(), hello("mine", token="0" * 32), "EPERM", [rfd])
rep = ask(conn(), hello("mine", token=rep["resume_token"]), [rfd])
check(rep["type"] == "welcome" and rep["restored"], "the right token resumes: %r" % rep)
good.proc.send_signal(18)

# a peer with another uid: refused by SO_PEERCRED although the mode lets it in
pid = os.fork()
if pid == 0:
    try:
        os.setgid(65534)
        os.setuid(65534)
        c = conn()  # zpsid answers at once with EPERM and closes
        r1 = json.loads(c.recv(70000))
        os._exit(0 if r1.get("error") == "EPERM" and closed(c) else 1)
    except Exception as e:  # noqa
        print(e)
        os._exit(2)
_, st = os.waitpid(pid, 0)
check(os.WEXITSTATUS(st) == 0, "a foreign uid is refused")

# hostile guests disturb no one: the good guest is sampled and exact
g0 = d.guests()["good"]["samples_total"]
wait_until(lambda: d.guests()["good"]["samples_total"] > g0 + 10, what="good guest still sampled")
gs = d.guests()
check(gs["good"]["psi_bp"] == 2000, "good guest's ratio exact")
check(gs["h-nan"]["samples_rejected_total"] > 0 and gs["h-nan"]["samples_total"] == 0, "NaN refused")
check(gs["h-torn"]["samples_torn_total"] > 0 and gs["h-torn"]["samples_total"] == 0, "torn refused")
check(gs["h-backwards"]["samples_rejected_total"] > 0, "backwards counts refused")
# every backwards copy is refused, not just the first (it goes back every other step)
b0 = gs["h-backwards"]
wait_until(lambda: d.guests()["h-backwards"]["samples_rejected_total"] >= b0["samples_rejected_total"] + 10,
           what="more backwards samples")
b1 = d.guests()["h-backwards"]
check(b1["counter_resets_total"] == 0 and b1["committed"] >= b0["committed"],
      "backwards counts never re-base the registry: %r" % b1)
wait_until(lambda: "RESET resetter" in resetter.lines(), what="the resetter to reset")
rs = wait_until(lambda: (lambda g: g if g["counter_resets_total"] == 1 and g["committed"] > 0 else None)
                (d.guests()["resetter"]), what="the reset to be taken")
wait_until(lambda: d.guests()["resetter"]["samples_total"] > rs["samples_total"] + 10,
           what="the resetter sampled after its reset")
rs2 = d.guests()["resetter"]
check(rs2["samples_rejected_total"] <= 2 and rs2["psi_bp"] == 2500,
      "a reported reset is a new start (rejected %d)" % rs2["samples_rejected_total"])
check(gs["h-flood"]["psi_bp"] == 5000, "a flooding guest is read like any other")
st = d.status()
check(st["aggregate_bp"] == expected_aggregate_bp(st["guests"]), "exact aggregate with hostile guests")
check(d.proc.poll() is None, "zpsid alive")
os.close(r)
os.close(w)
check(d.fd_count() <= fds_before + 2, "no fd leaked: %d -> %d" % (fds_before, d.fd_count()))

# out of fds: accept(2) fails with EMFILE while the peer waits in the
# backlog; zpsid must not spin on the readable listening socket, and it
# takes the peer once an fd is free again
def cpu_ticks(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


soft, hard = resource.prlimit(d.proc.pid, resource.RLIMIT_NOFILE)
resource.prlimit(d.proc.pid, resource.RLIMIT_NOFILE, (d.fd_count(), hard))
waiting = [conn() for _ in range(4)]
wait_until(lambda: "not accepting for a moment" in open(d.log).read(), what="zpsid to run out of fds")
t0, c0 = time.monotonic(), cpu_ticks(d.proc.pid)
wait_until(lambda: time.monotonic() - t0 >= 1.0, what="a one-second window")
used = (cpu_ticks(d.proc.pid) - c0) / os.sysconf("SC_CLK_TCK")
check(used < 0.5, "out of fds, zpsid used %.2f s of CPU in 1 s (a busy loop?)" % used)
resource.prlimit(d.proc.pid, resource.RLIMIT_NOFILE, (soft, hard))
r0 = ask(waiting[0], b'{"type":"status","seq":5}')
check(r0 and r0["type"] == "reply", "the waiting peer is served once fds are free: %r" % r0)
for c in waiting:
    c.close()
for v in [good, resetter] + hostile:
    v.stop()
d.stop()
print("ok")
