"""Relay syslog datagrams from /dev/log to stdout, one line per message.

Pacemaker's subdaemons have stdout on /dev/null and log to syslog; so do resource agents.
In a container nothing reads /dev/log unless we do. The supervisor loop reads the socket
(never blocking a sender for long: it only receives and queues); a writer thread does the
possibly slow writes to stdout, so a slow `docker logs` consumer cannot back-pressure the
daemons through a full socket queue.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import socket
import threading
import time
from collections.abc import Callable

LEVELS = ("emerg", "alert", "crit", "error", "warning", "notice", "info", "debug")
# glibc and util-linux logger send "<PRI>Mmm dd hh:mm:ss TAG[PID]: MSG" to /dev/log.
_SYSLOG = re.compile(
    rb"<(?P<pri>\d{1,3})>"
    rb"(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d )?"
    rb"(?:(?P<tag>[^\s\[\]:]{1,64})(?:\[(?P<pid>\d{1,10})\])?: )?"
    rb"(?P<msg>.*)\Z",
    re.DOTALL,
)
MAX_QUEUED = 200_000  # lines held while stdout is stuck; beyond that we count drops


def parse(datagram: bytes) -> dict[str, object]:
    """One syslog datagram -> {daemon, pid, level, message}; never raises."""
    m = _SYSLOG.match(datagram)
    if not m:
        text = datagram.decode("utf-8", "replace")
        return {"daemon": "syslog", "pid": None, "level": "notice", "message": text}
    pri = int(m["pri"])
    tag = m["tag"].decode("utf-8", "replace") if m["tag"] else "syslog"
    return {
        "daemon": tag,
        "pid": int(m["pid"]) if m["pid"] else None,
        "level": LEVELS[pri & 7],
        "message": m["msg"].decode("utf-8", "replace").strip(),
    }


def format_text(record: dict[str, object]) -> str:
    pid = f"[{record['pid']}]" if record.get("pid") else ""
    message = str(record["message"]).replace("\n", "\\n")
    return f"{record['daemon']}{pid}: {message}"


def format_json(record: dict[str, object], host: str, now: float) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
    obj = {"time": stamp, "host": host, **record}
    return json.dumps(obj, ensure_ascii=False)


def launcher_line(message: str, level: str = "notice", json_host: str | None = None) -> str:
    """A line of the launcher's own, in the same format as the relayed ones."""
    if json_host is None:
        return f"[pcmk-launch] {message}"
    record = {"daemon": "pcmk-launch", "pid": os.getpid(), "level": level, "message": message}
    return format_json(record, json_host, time.time())


class Writer:
    """A thread that owns stdout: lines are queued without blocking, written in order."""

    def __init__(self, fd: int = 1):
        self.fd = fd
        self.lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self.dropped = 0
        self.thread = threading.Thread(target=self._run, name="stdout", daemon=True)
        self.thread.start()

    def put(self, line: str) -> None:
        if self.lines.qsize() >= MAX_QUEUED:
            self.dropped += 1
            return
        self.lines.put(line)

    def _run(self) -> None:
        while True:
            batch = [self.lines.get()]
            while len(batch) < 1000:
                try:
                    batch.append(self.lines.get_nowait())
                except queue.Empty:
                    break
            done = None in batch
            data = "".join(line + "\n" for line in batch if line is not None).encode()
            while data:
                try:
                    data = data[os.write(self.fd, data) :]
                except InterruptedError:
                    continue
                except OSError:
                    data = b""
            if done:
                return

    def close(self, timeout: float = 5.0, line: Callable[[str, str], str] = launcher_line) -> None:
        """Write what is queued and stop. line(message, level) formats the launcher's own
        line about dropped messages: launchlog.Logger.line, in JSON mode an object."""
        if self.dropped:
            self.lines.put(
                line(f"{self.dropped} log messages dropped: stdout was stuck", "warning")
            )
        self.lines.put(None)
        self.thread.join(timeout)


def open_socket(path: str) -> socket.socket | None:
    """Bind a datagram socket at path, unless a live listener already owns it."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        probe.connect(path)
        return None  # e.g. the host's /dev/log bind-mounted in: leave it to its owner
    except OSError:
        pass
    finally:
        probe.close()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    sock.bind(path)
    os.chmod(path, 0o666)  # pacemaker's subdaemons run as hacluster
    sock.setblocking(False)
    return sock


class Relay:
    """The /dev/log listener: drain() is called by the supervisor loop when readable."""

    def __init__(self, sock: socket.socket, writer: Writer, fmt: str = "text", host: str = ""):
        self.sock, self.writer, self.fmt, self.host = sock, writer, fmt, host

    def drain(self) -> None:
        for _ in range(10_000):  # bounded, so signals are still seen during a flood
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            record = parse(data)
            if self.fmt == "json":
                self.writer.put(format_json(record, self.host, time.time()))
            else:
                self.writer.put(format_text(record))
