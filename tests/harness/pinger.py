"""Echo requests to a VIP from inside a host, timed on the caller's monotonic clock.

Used by the cluster tests and the benchmark, so both measure failover the same way:
a raw-socket pinger every 50 ms from a client host, not a `ping -W1` loop whose
one-second wait would hide up to a second of the result.

Stdlib only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading

from .hosts import Host

VIP = "192.0.2.100"

# ICMP echo with a raw socket (root inside the host's netns; no ping binary needed).
# argv: ADDR COUNT INTERVAL WAIT; COUNT 0 = until killed. Prints "reply SEQ MONOTONIC".
PING_PY = r"""
import os, select, socket, struct, sys, time
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF
addr, count, interval, wait = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
ident, seq = os.getpid() & 0xFFFF, 0
while count == 0 or seq < count:
    t = time.monotonic()
    body = struct.pack("!HH", ident, seq & 0xFFFF) + b"pdping"
    try:
        s.sendto(struct.pack("!BBH", 8, 0, csum(b"\x08\x00\x00\x00" + body)) + body, (addr, 0))
    except OSError:
        pass
    deadline = t + wait
    while (left := deadline - time.monotonic()) > 0:
        if not select.select([s], [], [], left)[0]:
            break
        data = s.recv(1500)
        ihl = (data[0] & 15) * 4
        typ, _, _, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
        if typ == 0 and rid == ident and rseq == seq & 0xFFFF:
            print("reply %d %.3f" % (seq, time.monotonic()), flush=True)
            break
    seq += 1
    time.sleep(max(0.0, t + interval - time.monotonic()))
"""


def replies(src: Host, addr: str = VIP, count: int = 3, wait: float = 1.0) -> int:
    """Echo replies ``src`` gets from ``addr`` out of ``count`` (bounded: count x wait)."""
    res = src.run(
        ["python3", "-c", PING_PY, addr, str(count), "0.2", str(wait)],
        timeout=count * (wait + 0.2) + 10,
    )
    return res.stdout.count("reply ")


class Pinger:
    """Pings ``addr`` from inside ``src`` every ``interval`` s in the background and
    records the (time.monotonic) time of every reply; times share our clock."""

    def __init__(self, src: Host, addr: str = VIP, interval: float = 0.05):
        self.interval = interval
        self.times: list[float] = []
        self.proc = subprocess.Popen(
            src.nsenter_argv() + ["python3", "-c", PING_PY, addr, "0", str(interval), "0.05"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("reply "):
                self.times.append(float(line.split()[2]))

    def replies_after(self, t: float) -> int:
        return sum(1 for x in list(self.times) if x > t)

    def stop(self) -> list[float]:
        if self.proc.poll() is None:
            killpg(self.proc.pid)
        self.proc.wait(10)
        self.thread.join(5)
        return list(self.times)

    def longest_gap(self, since: float) -> float:
        """Longest stretch without a reply, from the last reply before ``since`` on."""
        times = list(self.times)
        before = [x for x in times if x <= since]
        series = before[-1:] + [x for x in times if x > since]
        if len(series) < 2:
            raise AssertionError(f"not enough replies to measure a gap: {series}")
        return max(b - a for a, b in zip(series, series[1:], strict=False))


def killpg(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
