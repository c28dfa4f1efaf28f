"""A tiny EC2 instance metadata service (stdlib http.server) for the cloud-vip tests.

Serves what the agent and boto3's instance-role credential provider ask for::

    PUT /latest/api/token                        IMDSv2 session token (unless v2=False)
    GET /latest/meta-data/instance-id | mac | placement/region | placement/availability-zone
    GET /latest/meta-data/network/interfaces/macs/<mac>/interface-id
    GET /latest/meta-data/iam/security-credentials/[<role>]     (if credentials=True)

``require_token`` answers 401 to a GET without a valid token (IMDSv2 enforced); ``v2=False``
answers 404 to the token PUT, like a metadata service that only speaks IMDSv1; ``delay``
sleeps before every answer (timeouts). Every request is recorded in ``hits``.

In-process: ``with FakeIMDS(instance_id=..., ...) as imds: imds.url``. As a program (inside
a simulated host, one per host): ``python fake_imds.py --port 8775 --instance-id ...``; it
prints ``ready URL`` once it listens (and, with ``--log-hits``, ``hit METHOD PATH`` lines).
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROLE = "cloud-vip-test-role"


class FakeIMDS:
    def __init__(
        self,
        instance_id: str,
        mac: str,
        interface_id: str,
        region: str = "us-east-1",
        host: str = "127.0.0.1",
        port: int = 0,
        v2: bool = True,
        require_token: bool = False,
        delay: float = 0.0,
        credentials: bool = False,
        log_hits: bool = False,
    ) -> None:
        self.data = {
            "instance-id": instance_id,
            "mac": mac,
            f"network/interfaces/macs/{mac}/interface-id": interface_id,
            "placement/region": region,
            "placement/availability-zone": region + "a",
        }
        if credentials:
            self.data["iam/security-credentials/"] = ROLE
            self.data[f"iam/security-credentials/{ROLE}"] = json.dumps(
                {
                    "Code": "Success",
                    "Type": "AWS-HMAC",
                    "AccessKeyId": "ASIAFAKEIMDSROLE0000",
                    "SecretAccessKey": "fake-imds-role-secret",
                    "Token": "fake-imds-session-token",
                    "LastUpdated": _iso(datetime.now(UTC)),
                    "Expiration": _iso(datetime.now(UTC) + timedelta(hours=6)),
                }
            )
        self.v2 = v2
        self.require_token = require_token
        self.delay = delay
        self.log_hits = log_hits
        self.tokens: set[str] = set()
        self.hits: list[tuple[str, str, bool]] = []  # (method, path, had a valid token)
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer((host, port), self._handler())
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def paths(self, method: str | None = None) -> list[str]:
        with self._lock:
            return [p for m, p, _ in self.hits if method is None or m == method]

    def reset_hits(self) -> None:
        with self._lock:
            self.hits.clear()

    def start(self) -> FakeIMDS:
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeIMDS:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        imds = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, code: int, body: str = "") -> None:
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _record(self) -> bool:
                # As an HTTP proxy (HTTP_PROXY=this), a client sends the absolute URL it
                # wanted: "http://169.254.169.254/latest/..." is answered as "/latest/...",
                # so an agent that hard-codes the metadata address still reaches only this.
                if self.path.startswith("http://"):
                    self.path = (
                        "/" + self.path.split("/", 3)[3] if self.path.count("/") >= 3 else "/"
                    )
                ok = self.headers.get("X-aws-ec2-metadata-token", "") in imds.tokens
                with imds._lock:
                    imds.hits.append((self.command, self.path, ok))
                    if imds.log_hits:
                        print(f"hit {self.command} {self.path}", flush=True)
                if imds.delay:
                    time.sleep(imds.delay)
                return ok

            def do_PUT(self) -> None:  # noqa: N802 (http.server's naming)
                self._record()
                if self.path != "/latest/api/token" or not imds.v2:
                    return self._answer(404)
                if not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                    return self._answer(400)
                token = secrets.token_urlsafe(24)
                imds.tokens.add(token)
                self._answer(200, token)

            def do_GET(self) -> None:  # noqa: N802
                ok = self._record()
                if imds.require_token and not ok:
                    return self._answer(401)
                prefix = "/latest/meta-data/"
                key = self.path[len(prefix) :] if self.path.startswith(prefix) else None
                if key is None or key not in imds.data:
                    return self._answer(404)
                self._answer(200, imds.data[key])

        return Handler


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8775)
    ap.add_argument("--instance-id", required=True)
    ap.add_argument("--mac", required=True)
    ap.add_argument("--interface-id", required=True)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--credentials", action="store_true", help="serve instance-role creds")
    ap.add_argument("--require-token", action="store_true")
    ap.add_argument("--log-hits", action="store_true", help="print 'hit METHOD PATH' lines")
    args = ap.parse_args(argv)
    imds = FakeIMDS(
        args.instance_id,
        args.mac,
        args.interface_id,
        region=args.region,
        host=args.host,
        port=args.port,
        require_token=args.require_token,
        credentials=args.credentials,
        log_hits=args.log_hits,
    )
    print(f"ready {imds.url}", flush=True)
    imds.server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
