"""A fake Docker Engine API: just the endpoints fence_docker_api uses, on a unix socket (or on
TCP with TLS), from the standard library's http.server.

  GET  /_ping                        "OK", header API-Version (unless ping_header=False)
  GET  /version                      {"ApiVersion", "MinAPIVersion"}
  GET  /vX.Y/containers/json?all=1   summaries (Id, Names, State, NetworkSettings.Networks)
  GET  /vX.Y/containers/{ref}/json   State.Running/Paused/Status, or 404
  POST /vX.Y/containers/{ref}/kill   204; 409 when not running; 404
  POST /vX.Y/containers/{ref}/start  204; 304 when running; 404

Versioned paths outside [min_version, api_version] get the engine's 400 ("client version 1.11
is too old..."). A container can take `stop_delay` seconds to stop after the kill, or never
stop; kills and starts can be made to fail. Every request is recorded.
"""

from __future__ import annotations

import json
import os
import re
import socketserver
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _v(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


@dataclass
class FakeContainer:
    name: str
    id: str
    running: bool = True
    paused: bool = False
    ips: list[str] = field(default_factory=list)  # current addresses (running only)
    static_ips: list[str] = field(default_factory=list)  # IPAMConfig (kept when stopped)
    stop_delay: float = 0.0  # seconds from the kill until it is not running
    never_stops: bool = False
    kill_status: int | None = None  # answer kill with this status instead (e.g. 500)
    start_fails: bool = False
    killed_at: float | None = None
    kills: int = 0
    starts: int = 0

    def is_running(self) -> bool:
        stopped = self.killed_at is not None and not self.never_stops
        if self.running and stopped and time.monotonic() >= self.killed_at + self.stop_delay:
            self.running, self.paused, self.killed_at = False, False, None
        return self.running

    @property
    def status(self) -> str:
        if not self.is_running():
            return "exited"
        return "paused" if self.paused else "running"


class FakeEngine:
    def __init__(
        self,
        api_version: str = "1.47",
        min_version: str = "1.24",
        ping_header: bool = True,
    ):
        self.api_version = api_version
        self.min_version = min_version
        self.ping_header = ping_header
        self.page_not_found = False  # container paths answer 404 "page not found" (a proxy)
        self.containers: dict[str, FakeContainer] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def add(self, name: str, **kwargs) -> FakeContainer:
        cid = kwargs.pop("id", None) or (f"{abs(hash(name)):016x}" * 4)[:64]
        container = FakeContainer(name=name, id=cid, **kwargs)
        self.containers[name] = container
        return container

    def find(self, ref: str) -> FakeContainer | None:
        ref = ref.lstrip("/")
        for c in self.containers.values():
            if ref in (c.name, c.id):
                return c
        prefixed = [c for c in self.containers.values() if len(ref) >= 4 and c.id.startswith(ref)]
        return prefixed[0] if len(prefixed) == 1 else None

    def paths(self, method: str | None = None) -> list[str]:
        return [p for m, p in self.requests if method is None or m == method]

    # --- one request -----------------------------------------------------------------------

    def handle(self, method: str, target: str) -> tuple[int, dict[str, str], object]:
        with self.lock:
            self.requests.append((method, target))
            return self._route(method, target)

    def _route(self, method: str, target: str):
        url = urllib.parse.urlsplit(target)
        path = url.path
        if method == "GET" and path == "/_ping":
            headers = {"API-Version": self.api_version} if self.ping_header else {}
            return 200, headers, "OK"
        if method == "GET" and path == "/version":
            return 200, {}, {"ApiVersion": self.api_version, "MinAPIVersion": self.min_version}
        m = re.fullmatch(r"/v(\d+\.\d+)(/.*)", path)
        if not m:
            return 404, {}, {"message": "page not found"}
        version, rest = m.group(1), m.group(2)
        if _v(version) < _v(self.min_version):
            return 400, {}, (
                f"client version {version} is too old. Minimum supported API version is "
                f"{self.min_version}, please upgrade your client to a newer version"
            )  # fmt: skip
        if _v(version) > _v(self.api_version):
            return 400, {}, {
                "message": f"client version {version} is too new. Maximum supported API "
                f"version is {self.api_version}"
            }  # fmt: skip
        if method == "GET" and rest == "/containers/json":
            query = urllib.parse.parse_qs(url.query)
            every = query.get("all", ["0"])[0] in ("1", "true")
            listed = [c for c in self.containers.values() if every or c.is_running()]
            return 200, {}, [self._summary(c) for c in listed]
        m = re.fullmatch(r"/containers/([^/]+)/(json|kill|start)", rest)
        if not m or self.page_not_found:
            return 404, {}, {"message": "page not found"}
        ref, op = urllib.parse.unquote(m.group(1)), m.group(2)
        c = self.find(ref)
        if c is None:
            return 404, {}, {"message": f"No such container: {ref}"}
        if method == "GET" and op == "json":
            return 200, {}, {
                "Id": c.id,
                "Name": "/" + c.name,
                "State": {"Status": c.status, "Running": c.is_running(), "Paused": c.paused},
            }  # fmt: skip
        if method == "POST" and op == "kill":
            if c.kill_status is not None:
                return c.kill_status, {}, {"message": f"Cannot kill container: {ref}: boom"}
            if not c.is_running():
                return 409, {}, {
                    "message": f"Cannot kill container: {ref}: Container {c.id} is not running"
                }  # fmt: skip
            c.kills += 1
            c.killed_at = time.monotonic()
            return 204, {}, None
        if method == "POST" and op == "start":
            if c.start_fails:
                return 500, {}, {"message": "driver failed programming external connectivity"}
            if c.is_running():
                return 304, {}, None
            c.starts += 1
            c.running, c.paused = True, False
            return 204, {}, None
        return 405, {}, {"message": "method not allowed"}

    def _summary(self, c: FakeContainer) -> dict:
        running = c.is_running()
        networks = {}
        for i, addr in enumerate(sorted(set(c.ips) | set(c.static_ips))):
            networks[f"net{i}"] = {
                "IPAddress": addr if running and addr in c.ips else "",
                "IPAMConfig": {"IPv4Address": addr} if addr in c.static_ips else None,
            }
        return {
            "Id": c.id,
            "Names": ["/" + c.name],
            "State": c.status,
            "NetworkSettings": {"Networks": networks},
        }


def _handler(engine: FakeEngine):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _reply(self) -> None:
            status, headers, body = engine.handle(self.command, self.path)
            if body is None or status in (204, 304):
                data, ctype = b"", "text/plain"
            elif isinstance(body, str):
                data, ctype = (body + ("\n" if status >= 400 else "")).encode(), "text/plain"
            else:
                data, ctype = json.dumps(body).encode(), "application/json"
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            if status not in (204, 304):
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if status not in (204, 304):
                self.wfile.write(data)

        do_GET = do_POST = _reply

        def log_message(self, *args) -> None:  # quiet; client_address is '' on unix sockets
            pass

        def address_string(self) -> str:
            return "fake"

    return Handler


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        request, _ = super().get_request()
        return request, ("local", 0)


class TLSHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # failed handshakes: expected
        pass


class Served:
    """A running fake engine; stop() shuts it down."""

    def __init__(self, engine: FakeEngine, server, where: str):
        self.engine, self.server, self.where = engine, server, where
        self.thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve_unix(engine: FakeEngine, path: str) -> Served:
    if os.path.exists(path):
        os.unlink(path)
    return Served(engine, UnixHTTPServer(path, _handler(engine)), path)


def serve_tls(engine: FakeEngine, cert: str, key: str, client_ca: str | None) -> Served:
    """HTTPS on 127.0.0.1 (a free port); with client_ca, client certificates are required."""
    server = TLSHTTPServer(("127.0.0.1", 0), _handler(engine))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    if client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_ca)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    return Served(engine, server, f"127.0.0.1:{server.server_address[1]}")
