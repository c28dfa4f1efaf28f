"""A Docker Engine API filter: fence_docker_api's requests, for an allow-list of containers.

Mounting the engine's socket into a node gives that node root on the Docker host. This proxy
listens on its own unix socket, forwards to the engine's, and lets through only what
fence_docker_api sends (ping, version, inspect, kill with SIGKILL, start, list) for the
allowed containers; everything else gets a 403 and never reaches the engine. A compromised
node can then kill or start those containers and nothing more.

    python -m pcmk_launch.enginefilter --listen /run/pcmk-filter/docker.sock \\
        --engine /var/run/docker.sock --allow node1,node2,node3 [--group GROUP]

The engine is asked for exactly the request the filter rebuilt from what it checked, never
the client's bytes or headers. fence_docker_api kills and polls a container by the full id that
inspecting its name returned, so a 64-hex id is accepted too, but only once the engine says it
is an allowed container; a kill or start always goes to the id the engine resolved the name to.
"""

from __future__ import annotations

import argparse
import dataclasses
import grp
import http.client
import json
import os
import re
import signal
import socket
import socketserver
import stat
import sys
import urllib.parse
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol

from pcmk_launch.errors import ConfigError

NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
FULL_ID = re.compile(r"[0-9a-f]{64}")
# kind: (its method, its path after the optional /vX.Y prefix, its only query; None: no "?")
ENDPOINTS = {
    "ping": ("GET", "/_ping", None),
    "version": ("GET", "/version", None),
    "list": ("GET", "/containers/json", "all=1"),
    "inspect": ("GET", "/containers/{}/json", None),
    "kill": ("POST", "/containers/{}/kill", "signal=KILL"),
    "start": ("POST", "/containers/{}/start", None),
}
_ROUTE = re.compile(
    r"(?P<prefix>/v[0-9]{1,2}\.[0-9]{1,3})?(?:/(?P<ping>_ping)|/(?P<version>version)|/containers/"
    r"(?:(?P<list>json)|(?P<ref>[^/]+)/(?:(?P<inspect>json)|(?P<kill>kill)|(?P<start>start))))"
)
# Not relayed from the engine's answer: hop-by-hop, or recomputed here (Content-Length).
_DROPPED = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
            "trailer", "trailers", "transfer-encoding", "upgrade", "content-length"}  # fmt: skip
ENGINE_TIMEOUT = 30.0
MAX_ANSWER = 64 << 20  # a list of every container on a big host fits; more is not an answer


@dataclasses.dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    kind: str = ""  # ping, version, list, inspect, kill, start
    prefix: str = ""  # the API version prefix, "/v1.47", or ""
    ref: str = ""  # the container, URL-decoded: an allowed name or a full id

    def target(self, ref: str | None = None, kind: str | None = None) -> str:
        """The request line's target for the engine, rebuilt from what was checked."""
        _, path, query = ENDPOINTS[kind or self.kind]
        path = path.format(self.ref if ref is None else ref)
        return self.prefix + path + (f"?{query}" if query else "")


class Headers(Protocol):
    """What decide() reads of a request's headers: every (name, value), a repeated header
    once per copy (http.server's email.message.Message; a dict will do in tests)."""

    def items(self) -> Iterable[tuple[str, str]]: ...


def decide(method: str, target: str, headers: Headers, allowed: frozenset[str]) -> Decision:
    """Whether a request is one fence_docker_api makes, for an allowed container."""
    if method not in ("GET", "POST"):
        return Decision(False, "only GET and POST are forwarded")
    for key, value in headers.items():  # items(): every copy of a repeated header
        key = key.lower()
        if key == "transfer-encoding" or (key == "content-length" and value.strip() != "0"):
            return Decision(False, "requests with a body are not forwarded")
        if key == "upgrade" or (key == "connection" and "upgrade" in value.lower()):
            return Decision(False, "connection upgrades (attach, exec) are not forwarded")
    path, mark, query = target.partition("?")
    m = _ROUTE.fullmatch(path)
    if m is None or "#" in target:
        return Decision(False, "not an endpoint fence_docker_api uses")
    kind = next(k for k in ENDPOINTS if m[k])
    want_method, _, want_query = ENDPOINTS[kind]
    if method != want_method:
        return Decision(False, f"{kind} is {want_method} only")
    if (query if mark else None) != want_query:
        return Decision(False, f"{kind} takes {'?' + want_query if want_query else 'no query'}")
    ref = ""
    if m["ref"]:
        try:
            ref = urllib.parse.unquote(m["ref"], errors="strict")
        except UnicodeDecodeError:
            return Decision(False, "the container reference is not UTF-8")
        if ref not in allowed and not FULL_ID.fullmatch(ref):
            return Decision(False, f"container {ref!r} is not one of {', '.join(sorted(allowed))}")
    return Decision(True, f"{kind} {ref}".strip(), kind, m["prefix"] or "", ref)


def owner(info: bytes, ref: str, allowed: frozenset[str]) -> str | None:
    """The full id of the container an inspect answer describes, if the filter may act on it:
    its name is allowed and it is what `ref` names (not, say, another container whose id
    starts with a hex-looking allowed name)."""
    try:
        data = json.loads(info)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    cid, name = str(data.get("Id", "")), str(data.get("Name", "")).removeprefix("/")
    ok = FULL_ID.fullmatch(cid) and name in allowed and ref in (cid, name)
    return cid if ok else None


INSPECT_KEYS = ("Id", "Name", "State")  # what fence_docker_api reads of an inspect answer


def trim_inspect(body: bytes) -> bytes:
    """An inspect answer cut to INSPECT_KEYS: the rest (Config.Env, Mounts, HostConfig...)
    would let one node read another's environment and secrets through the filter."""
    data = json.loads(body)
    return json.dumps({k: data[k] for k in INSPECT_KEYS if k in data}).encode()


def filter_list(body: bytes, allowed: frozenset[str]) -> bytes:
    """The engine's container list reduced to the allowed containers."""
    try:
        items = json.loads(body)
    except ValueError:
        return b"[]"
    if not isinstance(items, list):
        return b"[]"

    def mine(c: object) -> bool:  # "/node1"; a link alias is "/other/node1": not a name
        names = c.get("Names") if isinstance(c, dict) else None
        return any(str(n).removeprefix("/") in allowed for n in names or [])

    return json.dumps([c for c in items if mine(c)]).encode()


# --- shell ----------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"pcmk engine filter: {message}", file=sys.stderr, flush=True)


def _printable(text: str) -> str:
    return text[:300].encode("unicode_escape").decode("ascii")


class _EngineConnection(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("localhost", timeout=ENGINE_TIMEOUT)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def exchange(engine: str, method: str, target: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """One request to the engine, without a body or any of the client's headers."""
    conn = _EngineConnection(engine)
    try:
        conn.request(method, target, headers={"User-Agent": "pcmk-engine-filter"})
        resp = conn.getresponse()
        body = resp.read(MAX_ANSWER + 1)
        if len(body) > MAX_ANSWER:
            raise http.client.HTTPException(f"answer larger than {MAX_ANSWER} bytes")
        headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in _DROPPED]
        return resp.status, headers, body
    finally:
        conn.close()


class FilterServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, engine: str, allowed: frozenset[str]):
        self.engine, self.allowed = engine, allowed
        super().__init__(path, _Handler)

    # A request that failed (e.g. a client that went away): one log line, no traceback.
    def handle_error(self, request: Any, client_address: Any) -> None:
        log(f"request failed: {sys.exc_info()[1]!r}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    default_request_version = "HTTP/1.0"  # so that a malformed request gets a status line
    timeout = 30  # a client that stalls mid-request does not hold a thread forever
    server: FilterServer

    def __getattr__(self, name: str) -> Callable[[], None]:
        # Every method (HEAD, PUT, DELETE...) goes through decide() and gets its 403 there.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def _handle(self) -> None:
        self.close_connection = True  # one request per connection: the simplest thing to check
        allowed, engine = self.server.allowed, self.server.engine
        d = decide(self.command, self.path, self.headers, allowed)
        if not d.allowed:
            return self._deny(d.reason)
        try:
            if d.kind in ("kill", "start"):
                status, headers, body = exchange(engine, "GET", d.target(kind="inspect"))
                cid = owner(body, d.ref, allowed) if status == 200 else None
                if status == 200 and cid is None:
                    return self._deny(f"{d.ref!r} is not an allowed container")
                if cid is not None:  # else the engine's own answer, e.g. 404 No such container
                    status, headers, body = exchange(engine, "POST", d.target(cid))
            else:
                status, headers, body = exchange(engine, "GET", d.target())
                if status == 200 and d.kind == "list":
                    body = filter_list(body, allowed)
                if status == 200 and d.kind == "inspect":
                    if owner(body, d.ref, allowed) is None:
                        return self._deny(f"{d.ref!r} is not an allowed container")
                    body = trim_inspect(body)
        except (OSError, http.client.HTTPException) as exc:
            message = f"the engine at {engine} did not answer: {exc}"
            log(message)
            return self._json(502, f"pcmk engine filter: {message}")
        self._reply(status, headers, body)

    def _deny(self, why: str) -> None:
        message = f"pcmk engine filter: {self.command} {self.path} is not allowed: {why}"
        log(_printable(message.removeprefix("pcmk engine filter: ")))
        self._json(403, message)

    def _json(self, status: int, message: str) -> None:
        body = json.dumps({"message": message}).encode()
        self._reply(status, [("Content-Type", "application/json")], body)

    def _reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response_only(status)
        for key, value in headers:
            self.send_header(key, value)
        has_body = status not in (204, 304) and status >= 200
        if has_body:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if has_body and self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # Malformed requests: the same JSON shape as a denial; the engine never sees them.
        self.close_connection = True
        self._json(code, f"pcmk engine filter: bad request: {message or code}")

    def log_message(self, format: str, *args: Any) -> None:
        log(_printable(format % args))


# --- command line ---------------------------------------------------------------------------


def _tmp_path(listen: str) -> str:
    return f"{listen}.{os.getpid()}.tmp"


def check(listen: str, engine: str, allow: str, group: str | None) -> tuple[frozenset[str], int]:
    """The allowed names and the socket's group id (-1: unchanged); ConfigError otherwise."""
    problems = []
    names = [n.strip() for n in allow.split(",") if n.strip()]
    if not names:
        problems.append(
            "--allow is empty: give the containers fence_docker_api may kill and start,"
            " comma-separated (--allow node1,node2 or PCMK_ENGINE_FILTER_ALLOW=node1,node2)"
        )
    for name in names:
        if not NAME.fullmatch(name):
            problems.append(
                f"--allow {name!r}: not a container name ([a-zA-Z0-9][a-zA-Z0-9_.-]*);"
                " give container names, comma-separated, e.g. --allow node1,node2"
            )
    try:
        is_socket = stat.S_ISSOCK(os.stat(engine).st_mode)
    except OSError as exc:
        problems.append(
            f"--engine {engine!r}: {exc.strerror}; mount the engine's socket"
            " (-v /var/run/docker.sock:/var/run/docker.sock) or point --engine at it"
        )
    else:
        if not is_socket:
            problems.append(f"--engine {engine!r}: not a unix socket; give the engine's socket")
    parent = os.path.dirname(os.path.abspath(listen))
    if not os.path.isdir(parent):
        problems.append(f"--listen {listen!r}: no directory {parent}; create it or mount one")
    elif os.path.lexists(listen) and not stat.S_ISSOCK(os.lstat(listen).st_mode):
        problems.append(f"--listen {listen!r}: exists and is not a socket; give another path")
    if len(_tmp_path(listen).encode()) > 107:
        problems.append(f"--listen {listen!r}: too long for a unix socket; give a shorter path")
    gid = -1
    if group:
        try:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
        except KeyError:
            problems.append(f"--group {group!r}: no such group; give a group name or id")
    if problems:
        raise ConfigError(problems)
    return frozenset(names), gid


def bind(listen: str, engine: str, allowed: frozenset[str], gid: int) -> FilterServer:
    """The server, its socket 0660 with group gid, put in place in one step (a stale socket
    of an earlier run is replaced; no client ever sees a socket with other permissions)."""
    tmp = _tmp_path(listen)
    old = os.umask(0o117)
    try:
        server = FilterServer(tmp, engine, allowed)
    finally:
        os.umask(old)
    try:
        os.chown(tmp, -1, gid)
        os.replace(tmp, listen)
    except BaseException:
        server.server_close()
        os.unlink(tmp)
        raise
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pcmk_launch.enginefilter",
        description="Forward fence_docker_api's Docker Engine API requests for the allowed"
        " containers only; everything else gets a 403.",
    )
    parser.add_argument("--listen", required=True, metavar="PATH", help="the socket to create")
    parser.add_argument("--engine", default="/var/run/docker.sock", metavar="PATH",
                        help="the engine's socket (default %(default)s)")  # fmt: skip
    parser.add_argument("--allow", default=os.environ.get("PCMK_ENGINE_FILTER_ALLOW", ""),
                        metavar="NAMES", help="container names, comma-separated"
                        " (default $PCMK_ENGINE_FILTER_ALLOW)")  # fmt: skip
    parser.add_argument("--group", help="group of the socket (mode 0660)")
    args = parser.parse_args(argv)
    try:
        allowed, gid = check(args.listen, args.engine, args.allow, args.group)
    except ConfigError as exc:
        print(f"pcmk engine filter: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    try:
        server = bind(args.listen, args.engine, allowed, gid)
    except OSError as exc:
        print(f"pcmk engine filter: --listen {args.listen!r}: {exc}", file=sys.stderr)
        return 2
    inode = os.stat(args.listen).st_ino
    # SIGTERM (docker stop) ends it like SIGINT: out of serve_forever, socket removed, exit 0
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        print(
            f"pcmk engine filter: listening on {args.listen}, forwarding to {args.engine},"
            f" allowing {', '.join(sorted(allowed))}",
            flush=True,
        )
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        server.server_close()
        if os.path.lexists(args.listen) and os.lstat(args.listen).st_ino == inode:
            os.unlink(args.listen)  # ours, not one a newer instance put in its place
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
