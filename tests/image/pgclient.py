"""A PostgreSQL client with nothing but the standard library (the test machine need not have
psql or a driver): the frontend/backend protocol 3.0, trust authentication, simple queries.

    python3 pgclient.py write HOST PORT USER DB TABLE LOG   numbered INSERTs until SIGTERM
    python3 pgclient.py query HOST PORT USER DB SQL         prints the rows, tab-separated

`write` inserts 1, 2, 3... one autocommit INSERT each, and appends `ack N MONOTONIC WALL` to
LOG (flushed) once the server has answered CommandComplete, i.e. once the commit is
acknowledged (with synchronous replication: flushed on a standby too). A row whose commit
was not acknowledged (error, reset, timeout) is logged `lost N ...` and never retried, so the
log says exactly which numbers a user was told were stored. On a broken connection it
reconnects, as an application behind a VIP does, and logs `connected T` and, once per kind
in a row, `connect-failed T ERROR`.
"""

from __future__ import annotations

import signal
import socket
import struct
import sys
import time

TIMEOUT = 2.0  # a commit or a connect that takes longer counts as not acknowledged


class PgError(Exception):
    pass


def _message(sock: socket.socket) -> tuple[bytes, bytes]:
    head = _read(sock, 5)
    kind, length = head[:1], struct.unpack("!I", head[1:])[0]
    return kind, _read(sock, length - 4)


def _read(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("server closed the connection")
        data += chunk
    return data


def _error(body: bytes) -> str:
    fields = dict((f[:1], f[1:].decode(errors="replace")) for f in body.split(b"\0") if f)
    return f"{fields.get(b'C', '')} {fields.get(b'M', '')}"


def connect(host: str, port: int, user: str, db: str) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=TIMEOUT)
    params = b"".join(k + b"\0" + v.encode() + b"\0" for k, v in
                      ((b"user", user), (b"database", db))) + b"\0"  # fmt: skip
    body = struct.pack("!I", 196608) + params  # protocol 3.0
    sock.sendall(struct.pack("!I", len(body) + 4) + body)
    while True:
        kind, body = _message(sock)
        if kind == b"R" and struct.unpack("!I", body[:4])[0] != 0:
            raise PgError("the server wants a password: the test trusts its network")
        if kind == b"E":
            raise PgError(_error(body))
        if kind == b"Z":
            return sock


def query(sock: socket.socket, sql: str) -> list[list[str | None]]:
    body = sql.encode() + b"\0"
    sock.sendall(b"Q" + struct.pack("!I", len(body) + 4) + body)
    rows: list[list[str | None]] = []
    error = None
    while True:
        kind, body = _message(sock)
        if kind == b"D":
            count, pos, row = struct.unpack("!H", body[:2])[0], 2, []
            for _ in range(count):
                size = struct.unpack("!i", body[pos : pos + 4])[0]
                pos += 4
                row.append(None if size < 0 else body[pos : pos + size].decode())
                pos += max(size, 0)
            rows.append(row)
        elif kind == b"E":
            error = _error(body)
        elif kind == b"Z":
            if error:
                raise PgError(error)
            return rows


def write(host: str, port: int, user: str, db: str, table: str, log_path: str) -> None:
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    sock = None
    n, first = 0, True
    failing = ""
    with open(log_path, "a", buffering=1) as log:
        log.write(f"start {time.monotonic():.6f} {time.time():.6f}\n")
        while not stop:
            if sock is None:
                try:
                    sock = connect(host, port, user, db)
                    if first:  # numbers go on after an earlier writer's (never a duplicate)
                        (row,) = query(sock, f"SELECT coalesce(max(id), 0) FROM {table}")
                        n, first = int(row[0] or 0), False
                    log.write(f"connected {time.monotonic():.6f}\n")
                    failing = ""
                except (OSError, PgError) as exc:
                    if sock is not None:
                        sock.close()
                        sock = None
                    # each kind of failure once per streak: the log says what the outage was
                    if type(exc).__name__ != failing:
                        failing = type(exc).__name__
                        log.write(f"connect-failed {time.monotonic():.6f} {failing}: {exc}\n")
                    time.sleep(0.05)
                    continue
            n += 1
            try:
                query(sock, f"INSERT INTO {table} (id) VALUES ({n})")
                log.write(f"ack {n} {time.monotonic():.6f} {time.time():.6f}\n")
            except (OSError, PgError) as exc:
                log.write(f"lost {n} {time.monotonic():.6f} {type(exc).__name__}: {exc}\n")
                sock.close()
                sock = None
        log.write(f"stop {time.monotonic():.6f} {time.time():.6f}\n")


def main(argv: list[str]) -> int:
    cmd, host, port, user, db, *rest = argv
    if cmd == "write":
        write(host, int(port), user, db, rest[0], rest[1])
        return 0
    sock = connect(host, int(port), user, db)
    for row in query(sock, rest[0]):
        print("\t".join("" if v is None else v for v in row))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
