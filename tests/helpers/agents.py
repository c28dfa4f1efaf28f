"""The resource-agent tests' helpers: where the agent and its fakes are, moto's and the fake
instance metadata service's lifecycles, and Agent, which runs ``agents/cloud-vip/cloud-vip``
the way pacemaker-execd does. The fixtures are in tests/agents/conftest.py."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.prereq import require

REPO = Path(__file__).resolve().parents[2]
HERE = REPO / "tests" / "agents"
AGENT = REPO / "agents" / "cloud-vip" / "cloud-vip"
MOTO_EC2 = HERE / "moto_ec2.py"
FAKE_IMDS = HERE / "fake_imds.py"
WORLD = HERE / "world.py"
REGION = "us-east-1"


def missing_modules(*names: str) -> list[str]:
    return [n for n in names if importlib.util.find_spec(n) is None]


def require_moto() -> None:
    missing = missing_modules("boto3", "moto", "flask")
    require(not missing, f"not installed: {', '.join(missing)} (pip install -e '.[test]')")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port_url() -> str:
    """A local URL nothing listens on (connection refused at once)."""
    return f"http://127.0.0.1:{free_port()}"


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while True:
        try:
            with opener.open(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{proc.args} exited {proc.returncode}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str
    elapsed: float

    @property
    def api_calls(self) -> list[str]:
        """Operations the agent called (its HA_debug 'api: OP ...' lines)."""
        out = []
        for line in self.stderr.splitlines():
            _, sep, rest = line.partition(": DEBUG: api: ")
            if sep:
                out.append(rest.split()[0])
        return out

    @property
    def exit_reason(self) -> str:
        for line in self.stderr.splitlines():
            if line.startswith("ocf-exit-reason:"):
                return line[len("ocf-exit-reason:") :]
        return ""

    def __str__(self) -> str:
        return (
            f"rc={self.rc} ({self.elapsed:.1f}s)\n"
            f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}"
        )


class Agent:
    """Runs the agent as pacemaker-execd would: ``AGENT ACTION`` with OCF_RESKEY_* set."""

    def __init__(self, base: Path, endpoint_url: str | None) -> None:
        self.base = base
        self.endpoint_url = endpoint_url
        self.no_metadata = closed_port_url()  # one per test: it is part of the cache key

    def env(
        self,
        params: dict[str, str],
        node: str = "nodeA",
        extra: dict[str, str] | None = None,
        credentials: bool = True,
    ) -> dict[str, str]:
        state = self.base / node / "rsctmp"
        state.mkdir(parents=True, exist_ok=True)
        home = self.base / node / "home"
        home.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": str(home),  # no ~/.aws of the developer
            "HA_RSCTMP": str(state),
            "HA_debug": "1",
            "OCF_RESOURCE_INSTANCE": "cvip",
            "OCF_RESKEY_CRM_meta_on_node": node,
            "AWS_CONFIG_FILE": str(home / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        if credentials:
            env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
        p = {"region": REGION, "metadata_url": self.no_metadata, **params}
        if self.endpoint_url and "endpoint_url" not in p:
            p["endpoint_url"] = self.endpoint_url
        env.update({f"OCF_RESKEY_{k}": v for k, v in p.items() if v is not None})
        env.update(extra or {})
        return env

    def run(
        self,
        action: str,
        params: dict[str, str],
        node: str = "nodeA",
        extra: dict[str, str] | None = None,
        credentials: bool = True,
        python: list[str] | None = None,
        timeout: float = 90,
    ) -> Result:
        argv = [*(python if python is not None else [sys.executable]), str(AGENT), action]
        env = self.env(params, node, extra, credentials)
        t0 = time.monotonic()
        proc = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
        return Result(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t0)

    def state_file(self, node: str = "nodeA") -> Path:
        return self.base / node / "rsctmp" / "cloud-vip-cvip.json"


@contextlib.contextmanager
def fake_imds(**kwargs):
    from tests.agents.fake_imds import FakeIMDS

    with FakeIMDS(**kwargs) as imds:
        yield imds
