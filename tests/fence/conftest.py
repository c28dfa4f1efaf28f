"""Fixtures of the fence agent's unit tests: the agent loaded as a module (its file has no
package), a fake Docker Engine on a unix socket in tmp, and certificates for mutual TLS."""

from __future__ import annotations

import importlib.util
import io
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.fakedocker import FakeEngine, serve_tls, serve_unix
from tests.helpers.prereq import require

AGENT_PATH = Path(__file__).resolve().parents[2] / "agents/fence_docker_api/fence_docker_api.py"


def load_agent():
    spec = importlib.util.spec_from_file_location("fence_docker_api", AGENT_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["fence_docker_api"] = module  # dataclasses look the module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def agent():
    return load_agent()


@dataclass
class Result:
    rc: int
    out: str
    err: str


@pytest.fixture
def run(agent, capsys, monkeypatch):
    """run(*argv) or run(stdin="k=v\\n...") -> Result, in-process. `status`: the cluster
    status the agent reads (crm_mon XML, or a function that gives it); default: none, as on a
    host without crm_mon."""
    monkeypatch.setattr(agent, "POLL_INTERVAL", 0.02)

    def _run(*argv: str, stdin: str | None = None, status=None) -> Result:
        capsys.readouterr()
        source = status if callable(status) else (lambda: status)
        rc = agent.main(list(argv), stdin=io.StringIO(stdin or ""), status=source)
        captured = capsys.readouterr()
        return Result(rc, captured.out, captured.err)

    return _run


@pytest.fixture
def engine(short_tmp):
    """A fake engine with node1 (running), node2 (running), node3 (exited), on a socket."""
    fake = FakeEngine()
    fake.add("node1", ips=["198.18.0.11"], static_ips=["198.18.0.11"])
    fake.add("node2", ips=["198.18.0.12"], static_ips=["198.18.0.12"])
    fake.add("node3", running=False, static_ips=["198.18.0.13"])
    served = serve_unix(fake, str(short_tmp / "docker.sock"))
    fake.socket = served.where
    yield fake
    served.stop()


@dataclass
class Certs:
    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str
    other_ca: str  # a CA that signed neither


def _openssl(*args: str, cwd: Path) -> None:
    out = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


@pytest.fixture(scope="session")
def certs(tmp_path_factory) -> Certs:
    require(shutil.which("openssl") is not None, "openssl not installed")
    d = tmp_path_factory.mktemp("tls")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for ca in ("ca", "other-ca"):
        _openssl("req", "-x509", *ec, "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-days", "2",
                 "-subj", f"/CN=fence test {ca}", "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)  # fmt: skip
    for name, ext in (
        ("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        (d / f"{name}.ext").write_text(ext + "\n")
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj",
                 f"/CN=fence test {name}", cwd=d)  # fmt: skip
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile",
                 f"{name}.ext", cwd=d)  # fmt: skip
    return Certs(
        ca=str(d / "ca.pem"),
        server_cert=str(d / "server.pem"),
        server_key=str(d / "server.key"),
        client_cert=str(d / "client.pem"),
        client_key=str(d / "client.key"),
        other_ca=str(d / "other-ca.pem"),
    )


@pytest.fixture
def tls_engine(certs):
    """A fake engine on https://127.0.0.1:<port> that requires a client certificate."""
    fake = FakeEngine()
    fake.add("node1")
    served = serve_tls(fake, certs.server_cert, certs.server_key, client_ca=certs.ca)
    fake.port = served.where.rpartition(":")[2]
    yield fake
    served.stop()
