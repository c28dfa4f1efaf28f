"""Capture the frames the simulated hosts send through the switch, without tcpdump.

A raw ``AF_PACKET`` socket in the switch namespace (``ip netns exec SWITCH python -c ...``)
sees every frame that enters a switch port (``h1``, ``h2``...: the veth ends the hosts'
``eth0`` are plugged into), i.e. each frame a host sends exactly once.  Frames are written
to a classic pcap file (Ethernet link type; open it with wireshark to look closer) and read
back with :func:`read_pcap`; :func:`udp_datagrams` pulls out the IPv4 UDP payloads.

The capture is bounded: it ends after ``max_seconds``, after ``max_packets`` frames, or
when :meth:`Capture.stop` is called, whichever comes first.  Stdlib only.

Example::

    with Capture(cluster.network, cluster.base_dir / "x.pcap", max_seconds=60) as cap:
        cluster.start_launchers()
        cluster.wait_converged(timeout=60)
    payloads = [d.payload for d in udp_datagrams(cap.frames(), port=5405)]
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import hosts
from .hosts import BASE_ENV, HarnessError, Network

COROSYNC_PORT = 5405  # knet/udpu default (totem.interface.mcastport)

# Runs inside the switch netns.  argv: PCAP_PATH MAX_PACKETS MAX_SECONDS.
# Prints "ready" once the socket is bound, and a JSON summary at the end.
_SCRIPT = r"""
import json, os, signal, socket, struct, sys, time
path, max_packets, max_seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append("stopped"))
signal.signal(signal.SIGINT, lambda *_: stop.append("stopped"))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))  # ETH_P_ALL
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
s.settimeout(0.2)
n = seen = 0
deadline = time.monotonic() + max_seconds
with open(path, "wb") as out:
    out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    out.flush()
    print("ready", flush=True)
    why = "max_seconds"
    while not stop:
        if time.monotonic() >= deadline:
            break
        try:
            data, addr = s.recvfrom(65535)
        except (socket.timeout, InterruptedError):
            continue
        seen += 1
        ifname, pkttype = addr[0], addr[2]
        if pkttype == socket.PACKET_OUTGOING or ifname == "br0" or ifname == "lo":
            continue  # count each frame once: as it enters the switch from a host
        now = time.time()
        out.write(struct.pack("<IIII", int(now), int(now % 1 * 1e6), len(data), len(data)))
        out.write(data)
        n += 1
        if n >= max_packets:
            why = "max_packets"
            break
    else:
        why = "stopped"
print(json.dumps({"packets": n, "seen": seen, "ended_by": why}), flush=True)
"""


@dataclass(frozen=True)
class Datagram:
    """One IPv4 UDP datagram seen on the switch."""

    time: float
    src: str
    sport: int
    dst: str
    dport: int
    payload: bytes


def read_pcap(path: str | os.PathLike) -> list[tuple[float, bytes]]:
    """(timestamp, frame) pairs of a classic little- or big-endian pcap file."""
    data = Path(path).read_bytes()
    if len(data) < 24:
        raise ValueError(f"{path}: not a pcap file ({len(data)} bytes)")
    magic = struct.unpack("<I", data[:4])[0]
    if magic == 0xA1B2C3D4:
        endian = "<"
    elif magic == 0xD4C3B2A1:
        endian = ">"
    else:
        raise ValueError(f"{path}: not a pcap file (magic {magic:#x})")
    frames = []
    off = 24
    while off + 16 <= len(data):
        sec, usec, incl, _orig = struct.unpack(endian + "IIII", data[off : off + 16])
        off += 16
        if off + incl > len(data):
            break  # a record cut short (capture killed while writing)
        frames.append((sec + usec / 1e6, data[off : off + incl]))
        off += incl
    return frames


def udp_datagrams(
    frames: Iterable[tuple[float, bytes]], port: int | None = None
) -> Iterator[Datagram]:
    """IPv4 UDP datagrams in Ethernet frames (optionally only to or from ``port``).

    Fragments other than the first are skipped (corosync/knet keep datagrams below the
    path MTU, so there are none in practice)."""
    for ts, frame in frames:
        if len(frame) < 14:
            continue
        ethertype = struct.unpack("!H", frame[12:14])[0]
        ip = frame[14:]
        if ethertype != 0x0800 or len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        if struct.unpack("!H", ip[6:8])[0] & 0x1FFF:
            continue  # a later fragment: no UDP header
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        udp = ip[ihl:total]
        if len(udp) < 8:
            continue
        sport, dport = struct.unpack("!HH", udp[:4])
        if port is not None and port not in (sport, dport):
            continue
        yield Datagram(
            ts, socket.inet_ntoa(ip[12:16]), sport, socket.inet_ntoa(ip[16:20]), dport, udp[8:]
        )


class Capture:
    """A bounded packet capture on ``network``'s switch, written to ``path`` (pcap)."""

    def __init__(
        self,
        network: Network,
        path: str | os.PathLike,
        max_packets: int = 50_000,
        max_seconds: float = 120,
    ):
        self.network = network
        self.path = Path(path)
        self.max_packets = max_packets
        self.max_seconds = max_seconds
        self.proc: subprocess.Popen | None = None
        self.summary: dict | None = None

    def start(self, ready_timeout: float = 10) -> Capture:
        if self.proc is not None:
            raise HarnessError("capture already started")
        argv = [
            "ip", "netns", "exec", self.network.switch_ns,
            sys.executable, "-I", "-c", _SCRIPT,
            str(self.path), str(self.max_packets), str(self.max_seconds),
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=BASE_ENV,
            start_new_session=True,
        )
        hosts._track(self.proc.pid)  # so hosts.leftovers() reports it if it survives
        assert self.proc.stdout is not None
        r, _, _ = select.select([self.proc.stdout], [], [], ready_timeout)
        line = self.proc.stdout.readline() if r else ""
        if line.strip() != "ready":
            err = self._finish(5)
            raise HarnessError(f"capture did not start within {ready_timeout}s: {err}")
        return self

    def stop(self, timeout: float = 10) -> dict:
        """End the capture (if still running); return its summary
        ``{"packets": N, "seen": M, "ended_by": "stopped" | "max_seconds" | "max_packets"}``."""
        if self.proc is None:
            raise HarnessError("capture never started")
        if self.summary is None:
            if self.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, signal.SIGTERM)
            err = self._finish(timeout)
            if self.summary is None:
                raise HarnessError(f"capture ended without a summary: {err}")
        return self.summary

    def _finish(self, timeout: float) -> str:
        assert self.proc is not None
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            out, err = self.proc.communicate()
        for line in out.splitlines():
            with contextlib.suppress(ValueError):
                self.summary = json.loads(line)
        return err.strip() or f"exit code {self.proc.returncode}"

    def frames(self) -> list[tuple[float, bytes]]:
        return read_pcap(self.path)

    def __enter__(self) -> Capture:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.summary is None:
            try:
                self.stop()
            except HarnessError:
                if exc[0] is None:
                    raise
